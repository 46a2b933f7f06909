"""One recording across hosts: an encoder that publishes to host A, loses A to a SIGKILL
and publishes the same key to host B within the grace window makes one video covering
both parts (but the chunk A had in progress); so does a takeover from a live A."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import trio

from tests.interop.media import assert_goes_forward, flv_timestamps
from tests.seaweedfs import ACCESS_KEY_ID, SECRET_ACCESS_KEY, new_bucket
from trioflix.cluster.site import ORIGIN_TTL_S
from trioflix.live.recording.chunks import parse_chunks, recording_prefix
from trioflix.live.recording.recorder import CHUNK_S
from trioflix.media.processing import ORIGINAL_NAME
from trioflix.storage import LocalStorageConfig, open_object_store

from .conftest import running_rig
from .test_rig import SLACK_S, create_key, publish, rig_grace_s, sign_up, wait_origin

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from tests.conftest import PostgresCluster
    from tests.interop.media import Sample
    from tests.seaweedfs import SeaweedServer
    from trioflix.storage import ObjectStore, StorageConfig

    from .rig import Rig, RigHost

pytestmark = [pytest.mark.slow, pytest.mark.interop]

TOLERANCE_S = 5.0  # "plays to within 5 s of its length" (docs/hls.md)
ON_A_S = 10.0  # long enough for A to store two chunks before it dies
ON_B_S = 8.0


@dataclass(frozen=True)
class Site:
    """The rig and the object store its hosts share."""

    rig: Rig
    storage: StorageConfig


# The recorded source is read back after the video is ready: the hosts keep it.
KEEP_ORIGINALS = {"TRIOFLIX_KEEP_ORIGINALS": "on"}


async def _original(store: ObjectStore, video_id: int) -> bytes:
    """The source a ready video was made from, kept under its prefix."""
    (key,) = [
        info.key
        for info in await store.list_prefix(f"videos/{video_id}-")
        if info.key.endswith("/" + ORIGINAL_NAME)
    ]
    return await store.read_bytes(key)


@pytest.fixture(scope="module", params=["shared-dir", "s3"])
def site(
    request: pytest.FixtureRequest,
    pg_cluster: PostgresCluster,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Site]:
    """A site of its own (the tests kill and take over hosts), its media in the shared
    data directory (``DATA_DIR/media``) or in a bucket of the session's SeaweedFS."""
    if request.param == "shared-dir":
        with running_rig(pg_cluster, tmp_path_factory, **KEEP_ORIGINALS) as rig:
            yield Site(rig, LocalStorageConfig(root=rig.data_dir / "media"))
        return
    seaweed: SeaweedServer = request.getfixturevalue("seaweed")
    bucket = new_bucket(seaweed)
    env = {
        **KEEP_ORIGINALS,
        "TRIOFLIX_STORAGE_URL": f"s3://{bucket}/site",
        "AWS_ENDPOINT_URL_S3": seaweed.endpoint_url,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        "AWS_REGION": "us-east-1",
    }
    with running_rig(pg_cluster, tmp_path_factory, **env) as rig:
        yield Site(rig, seaweed.config(bucket, "site/"))


async def _get(host: RigHost, token: str, path: str, **params: str) -> Any:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(
            f"{host.url}{path}", params=params, headers={"Authorization": f"Bearer {token}"}
        )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
async def store(site: Site) -> AsyncIterator[ObjectStore]:
    """The store the hosts share, opened as the hosts open it."""
    async with open_object_store(site.storage, data_dir=site.rig.data_dir) as opened:
        yield opened


async def _stored(store: ObjectStore, session_id: int) -> list[str]:
    """The names of the session's chunks in the store."""
    objects = await store.list_prefix(recording_prefix(session_id))
    return [chunk.key.rsplit("/", 1)[1] for chunk in parse_chunks(session_id, objects)]


async def _wait_stored(store: ObjectStore, session_id: int, writer: int, count: int) -> list[str]:
    with trio.fail_after(30):
        while True:
            names = await _stored(store, session_id)
            if sum(name.startswith(f"{writer:06d}-") for name in names) >= count:
                return names
            await trio.sleep(0.2)


async def _wait_ready_video(host: RigHost, token: str) -> dict[str, Any]:
    """The user's one video, once processed, its ladder too (any host's workers may run
    the jobs)."""
    with trio.fail_after(180):
        while True:
            videos = (await _get(host, token, "/api/videos", mine="1"))["videos"]
            assert len(videos) <= 1, videos
            if videos:
                assert videos[0]["state"] != "failed", videos[0]
                assert videos[0]["ladder"] != "failed", videos[0]
                if videos[0]["state"] == "ready" and videos[0]["ladder"] is None:
                    video: dict[str, Any] = videos[0]
                    return video
            await trio.sleep(0.5)


async def test_a_session_taken_over_by_another_host_is_one_recording(
    site: Site, store: ObjectStore, sample: Sample, nursery: trio.Nursery
) -> None:
    """A stays up: the same key publishing to B takes the channel over, A drops its
    encoder and leaves the hand-off to B, which ends the session."""
    rig = site.rig
    a, b, _ = rig.hosts
    token = await sign_up(a, "carol")
    key = await create_key(a, token)
    on_a = await publish(nursery, a, key, sample)
    with trio.fail_after(30):
        await wait_origin(rig, "carol", a)
    session_id = int((await _get(a, token, "/api/streaming/status"))["session"]["id"])
    await _wait_stored(store, session_id, writer=0, count=2)
    on_b = await publish(nursery, b, key, sample)
    with trio.fail_after(30):
        await wait_origin(rig, "carol", b)
    with trio.fail_after(ORIGIN_TTL_S / 3 + SLACK_S):
        await on_a.wait()  # A learnt it from its lease and dropped its encoder
    await _wait_stored(store, session_id, writer=1, count=2)
    on_b.terminate()
    with trio.fail_after(rig_grace_s() + SLACK_S):
        await wait_origin(rig, "carol", None)

    video = await _wait_ready_video(b, token)
    stamps = flv_timestamps(await _original(store, video["id"]))
    assert_goes_forward(stamps)
    assert abs(stamps[-1] / 1000 - video["duration"]) < 1.0, (stamps[-1], video)
    assert video["duration"] > 4 * CHUNK_S - TOLERANCE_S, video  # both hosts' chunks


async def test_a_session_continued_on_another_host_is_one_recording(
    site: Site, store: ObjectStore, sample: Sample, nursery: trio.Nursery
) -> None:
    rig = site.rig
    a, b, _ = rig.hosts
    token = await sign_up(a, "alice")
    key = await create_key(a, token)
    on_a = await publish(nursery, a, key, sample)
    with trio.fail_after(30):
        await wait_origin(rig, "alice", a)
    started_a = time.monotonic()
    session_id = int((await _get(a, token, "/api/streaming/status"))["session"]["id"])
    await _wait_stored(store, session_id, writer=0, count=2)
    await trio.sleep(max(0.0, ON_A_S - (time.monotonic() - started_a)))
    await trio.to_thread.run_sync(a.kill)
    published_a = time.monotonic() - started_a
    with trio.fail_after(30):
        await on_a.wait()  # its connection broke
    stored_by_a = await _stored(store, session_id)

    # The same key on B within the grace window continues the same session there.
    on_b = await publish(nursery, b, key, sample)
    with trio.fail_after(ORIGIN_TTL_S + SLACK_S):
        await wait_origin(rig, "alice", b)
    started_b = time.monotonic()
    assert int((await _get(b, token, "/api/streaming/status"))["session"]["id"]) == session_id
    await _wait_stored(store, session_id, writer=1, count=1)
    await trio.sleep(max(0.0, ON_B_S - (time.monotonic() - started_b)))
    on_b.terminate()
    published_b = time.monotonic() - started_b
    with trio.fail_after(rig_grace_s() + SLACK_S):
        await wait_origin(rig, "alice", None)

    video = await _wait_ready_video(b, token)
    # A's chunks (but the one in progress) then B's: one stream, one video.
    assert stored_by_a and all(name.startswith("000000-") for name in stored_by_a)
    lost = published_a - len(stored_by_a) * CHUNK_S
    assert lost <= CHUNK_S + SLACK_S, (published_a, stored_by_a)
    expected = published_a + published_b
    assert expected - CHUNK_S - TOLERANCE_S < video["duration"] < expected + TOLERANCE_S, (
        video,
        published_a,
        published_b,
    )
    with trio.fail_after(30):  # the job deletes what it was handed once the video is ready
        while await _stored(store, session_id):  # noqa: ASYNC110 (polling)
            await trio.sleep(0.1)
    # What it read, chunk after chunk: one FLV stream whose clock goes on across hosts.
    stamps = flv_timestamps(await _original(store, video["id"]))
    assert_goes_forward(stamps)
    assert abs(stamps[-1] / 1000 - video["duration"]) < 1.0, (stamps[-1], video)
