"""A cluster with its media on object storage needs no shared data directory.

Three ``trioflix serve`` hosts share PostgreSQL, Redis and one bucket of the
session's SeaweedFS, and each has a data directory of its own: a tus upload
begun on one host is finished on another (tuspy), a stream recorded on one host
is watched as a video from another, and a newcomer keeping its media on local
disk in a directory of its own is refused with what to set.
"""

from __future__ import annotations

import hashlib
import os
from typing import TYPE_CHECKING

import httpx
import pytest
import trio
from tusclient import client as tus_client

from tests.interop.media import ffprobe
from tests.seaweedfs import ACCESS_KEY_ID, SECRET_ACCESS_KEY, new_bucket
from trioflix.cluster.shared_storage import STORAGE_ID_FILE, STORAGE_ID_KEY
from trioflix.storage import open_object_store
from trioflix.uploads.multipart import data_key
from trioflix.uploads.service import TUS_PATH

from .conftest import running_private_rig
from .test_recording_across_hosts import Site, _wait_ready_video
from .test_rig import SLACK_S, create_key, publish, rig_grace_s, sign_up, wait_origin

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path

    from tests.conftest import PostgresCluster
    from tests.interop.media import Sample
    from tests.seaweedfs import SeaweedServer
    from trioflix.storage import ObjectStore

pytestmark = [pytest.mark.slow, pytest.mark.interop]

MIB = 1024 * 1024
PUBLISH_S = 8.0  # two recording chunks


@pytest.fixture(scope="module")
def site(
    pg_cluster: PostgresCluster, tmp_path_factory: pytest.TempPathFactory, seaweed: SeaweedServer
) -> Iterator[Site]:
    """Three hosts, one bucket, three data directories."""
    bucket = new_bucket(seaweed)
    env = {
        "TRIOFLIX_STORAGE_URL": f"s3://{bucket}/site",
        "AWS_ENDPOINT_URL_S3": seaweed.endpoint_url,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        "AWS_REGION": "us-east-1",
        "TRIOFLIX_UPLOAD_PART_SIZE": str(5 * MIB),  # a few MiB make several parts
        "TRIOFLIX_CHECK_UPLOADS": "off",  # the upload test reads its random bytes back
    }
    with running_private_rig(pg_cluster, tmp_path_factory, **env) as rig:
        yield Site(rig, seaweed.config(bucket, "site/"))


@pytest.fixture
async def store(site: Site) -> AsyncIterator[ObjectStore]:
    async with open_object_store(site.storage, data_dir=site.rig.workdir) as opened:
        yield opened


async def test_the_hosts_agree_on_the_store_not_on_a_directory(
    site: Site, store: ObjectStore
) -> None:
    rig = site.rig
    dirs = [rig.data_dir_of(host.name) for host in rig.hosts]
    assert len(set(dirs)) == 3 and all(path.is_dir() for path in dirs)
    assert not any((path / STORAGE_ID_FILE).exists() for path in dirs)
    assert (await store.read_bytes(STORAGE_ID_KEY)).startswith(b"object-store:")


def test_a_host_on_local_disk_with_a_directory_of_its_own_is_refused(site: Site) -> None:
    code, stderr = site.rig.refused(TRIOFLIX_STORAGE_URL="")
    assert code == 2, stderr
    printed = stderr[stderr.index("\ntrioflix: ") :]
    assert "this host keeps its media on local disk (TRIOFLIX_STORAGE_URL unset or file:)" in (
        printed
    )
    assert "set the same TRIOFLIX_STORAGE_URL" in printed
    for host in site.rig.hosts:
        assert host.url in printed


async def test_tuspy_uploads_half_on_one_host_and_finishes_on_another(
    site: Site, store: ObjectStore, tmp_path: Path
) -> None:
    a, b, _ = site.rig.hosts
    token = await sign_up(a, "uploader")
    headers = {"Authorization": f"Bearer {token}"}
    data = os.urandom(13 * MIB + 12345)  # two whole parts and a tail, split mid-part
    source = tmp_path / "clip.bin"
    source.write_bytes(data)
    half = 7 * MIB

    def first_half_on_a() -> str:
        client = tus_client.TusClient(a.url + TUS_PATH, headers=headers)
        with source.open("rb") as stream:
            uploader = client.uploader(
                file_stream=stream, chunk_size=2 * MIB, metadata={"filename": "clip.bin"}
            )
            uploader.upload(stop_at=half)
        assert uploader.offset == half
        return str(uploader.url).removeprefix(a.url)

    path = await trio.to_thread.run_sync(first_half_on_a)
    upload = path.rsplit("/", 1)[1]
    # Nothing of it is in B's data directory: what B needs is in the bucket.
    assert not list(site.rig.data_dir_of(b.name).rglob(f"{upload}*"))

    def finish_on_b() -> int:
        client = tus_client.TusClient(b.url + TUS_PATH, headers=headers)
        with source.open("rb") as stream:
            uploader = client.uploader(file_stream=stream, url=b.url + path, chunk_size=2 * MIB)
            assert uploader.offset == half  # B's HEAD: the bytes A stored
            uploader.upload()
        return int(uploader.offset)

    assert await trio.to_thread.run_sync(finish_on_b) == len(data)
    async with httpx.AsyncClient(timeout=10) as client:
        status = await client.get(f"{b.url}/api/upload/status/{upload}", headers=headers)
    assert status.status_code == 200, status.text
    assert status.json()["upload"]["video_id"] is not None  # its video and job exist
    # Random bytes never make a video, so its job keeps the source whatever it did.
    stored = await store.read_bytes(data_key(upload))
    assert hashlib.sha256(stored).digest() == hashlib.sha256(data).digest()


async def test_a_stream_recorded_on_one_host_is_watched_from_another(
    site: Site, sample: Sample, nursery: trio.Nursery
) -> None:
    rig = site.rig
    a, _, c = rig.hosts
    token = await sign_up(a, "streamer")
    key = await create_key(a, token)
    encoder = await publish(nursery, a, key, sample)
    with trio.fail_after(30):
        await wait_origin(rig, "streamer", a)
    await trio.sleep(PUBLISH_S)  # the length of the recording
    encoder.terminate()
    with trio.fail_after(rig_grace_s() + SLACK_S):
        await wait_origin(rig, "streamer", None)

    video = await _wait_ready_video(c, token)
    assert video["duration"] > PUBLISH_S / 2, video
    url = f"{c.url}/videos/{video['id']}/master.m3u8"
    report, errors = await trio.to_thread.run_sync(
        lambda: ffprobe(url, "-show_entries", "stream=codec_type:format=duration")
    )
    assert {stream["codec_type"] for stream in report["streams"]} >= {"video", "audio"}
    assert float(report["format"]["duration"]) > PUBLISH_S / 2, report
    # Following a segment's redirect to the bucket, ffmpeg notes that it opens a
    # new connection for it: that is all it may have to say.
    errors = "\n".join(
        line for line in errors.splitlines() if "Cannot reuse HTTP connection" not in line
    )
    assert errors == "", errors
