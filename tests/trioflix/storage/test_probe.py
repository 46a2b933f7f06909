"""The start-up probe: it passes on a working store and names the cause when it cannot."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import pytest

from tests.ports import free_port
from tests.seaweedfs import SeaweedServer, create_bucket
from trioflix.storage import (
    AccessDenied,
    BucketNotFound,
    ObjectStore,
    S3StorageConfig,
    StorageProbeError,
    StorageUnavailable,
    open_object_store,
    probe_object_store,
)

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow  # a real S3 server


async def test_probe_passes_and_leaves_nothing(store: ObjectStore) -> None:
    await probe_object_store(store)
    assert await store.list_prefix("") == []


async def test_wrong_secret(seaweed: SeaweedServer, tmp_path: Path) -> None:
    config = seaweed.config(await create_bucket(seaweed), secret="not-the-secret")
    async with open_object_store(config, data_dir=tmp_path) as store:
        with pytest.raises(StorageProbeError, match="credentials were refused") as caught:
            await probe_object_store(store)
    assert isinstance(caught.value.__cause__, AccessDenied)
    assert "could not write probe/" in str(caught.value)


async def test_unknown_access_key(seaweed: SeaweedServer, tmp_path: Path) -> None:
    config = dataclasses.replace(
        seaweed.config(await create_bucket(seaweed)), access_key_id="nobody"
    )
    async with open_object_store(config, data_dir=tmp_path) as store:
        with pytest.raises(StorageProbeError, match="credentials were refused"):
            await probe_object_store(store)


async def test_missing_bucket(seaweed: SeaweedServer, tmp_path: Path) -> None:
    async with open_object_store(seaweed.config("no-such-bucket"), data_dir=tmp_path) as store:
        with pytest.raises(StorageProbeError, match="bucket does not exist") as caught:
            await probe_object_store(store)
    assert isinstance(caught.value.__cause__, BucketNotFound)
    assert "s3://no-such-bucket/" in str(caught.value)


async def test_endpoint_down(tmp_path: Path) -> None:
    config = S3StorageConfig(
        bucket="any-bucket",
        prefix="",
        endpoint_url=f"http://127.0.0.1:{free_port()}",  # nothing listens there
        region="us-east-1",
        access_key_id="key",
        secret_access_key="secret",
    )
    async with open_object_store(config, data_dir=tmp_path) as store:
        with pytest.raises(StorageProbeError, match="unreachable") as caught:
            await probe_object_store(store)
    assert isinstance(caught.value.__cause__, StorageUnavailable)
    assert config.endpoint_url in str(caught.value)
