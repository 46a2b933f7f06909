"""Hosts that see the same storage agree on its id; other storage has its own.

With media on local disk the storage is the data directory; with media on S3 it
is the object store, and each host's data directory may be its own.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import pytest
import trio

from tests.seaweedfs import ACCESS_KEY_ID, SECRET_ACCESS_KEY, create_bucket
from trioflix.cluster.shared_storage import (
    STORAGE_ID_FILE,
    STORAGE_ID_KEY,
    cluster_storage_id,
    object_storage_id,
    storage_id,
)
from trioflix.config import Settings
from trioflix.storage import StorageProbeError, open_object_store

if TYPE_CHECKING:
    from pathlib import Path

    from tests.seaweedfs import SeaweedServer


def test_the_same_directory_gives_the_same_id_and_another_its_own(tmp_path: Path) -> None:
    shared = storage_id(tmp_path / "shared")
    assert shared.startswith("data-dir:")
    assert storage_id(tmp_path / "shared") == shared  # a second host, or a restart
    assert storage_id(tmp_path / "local") != shared
    assert sorted(p.name for p in (tmp_path / "shared").iterdir()) == [STORAGE_ID_FILE]


def test_hosts_starting_together_agree(tmp_path: Path) -> None:
    with ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(lambda _: storage_id(tmp_path / "shared"), range(32)))
    assert len(ids) == 1
    assert sorted(p.name for p in (tmp_path / "shared").iterdir()) == [STORAGE_ID_FILE]


def _s3_settings(
    monkeypatch: pytest.MonkeyPatch, seaweed: SeaweedServer, data_dir: Path, url: str
) -> Settings:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", seaweed.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
    return Settings(data_dir=data_dir, storage_url=url)


@pytest.mark.slow
async def test_hosts_on_one_bucket_agree_whatever_their_data_directories(
    tmp_path: Path, seaweed: SeaweedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = await create_bucket(seaweed)
    ids: list[str] = []

    async def start(host: int) -> None:
        settings = _s3_settings(monkeypatch, seaweed, tmp_path / f"host-{host}", f"s3://{bucket}/a")
        ids.append(await cluster_storage_id(settings))

    async with trio.open_nursery() as nursery:  # starting at the same moment
        for host in range(6):
            nursery.start_soon(start, host)
    (only,) = set(ids)
    assert only.startswith("object-store:")
    assert not (tmp_path / "host-0").exists()  # nothing in the private data directories
    async with open_object_store(seaweed.config(bucket, "a/"), data_dir=tmp_path) as store:
        assert [info.key for info in await store.list_prefix("")] == [STORAGE_ID_KEY]
        assert await object_storage_id(store) == only  # a restart reads it back

    # Another prefix of the bucket is another site's store.
    other = _s3_settings(monkeypatch, seaweed, tmp_path / "host-0", f"s3://{bucket}/b")
    assert await cluster_storage_id(other) not in {only, ""}
    # Media on local disk: the data directory's id, as before.
    local = await cluster_storage_id(Settings(data_dir=tmp_path / "local"))
    assert local == storage_id(tmp_path / "local") and local.startswith("data-dir:")


@pytest.mark.slow
async def test_a_store_that_does_not_work_says_why(
    tmp_path: Path, seaweed: SeaweedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _s3_settings(monkeypatch, seaweed, tmp_path, "s3://no-such-bucket-here/site")
    with pytest.raises(StorageProbeError, match="the bucket does not exist"):
        await cluster_storage_id(settings)
