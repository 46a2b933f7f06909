"""A recording is watchable as streamed seconds after the stream ends; its ladder follows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import trio

from tests.interop.media import decoded_frames, ffprobe
from trioflix.jobs import queue
from trioflix.jobs.process import JobFailed
from trioflix.media.library import create_video, get_video, video_subject
from trioflix.media.processing import (
    PROCESS_VIDEO,
    REMUX_RECORDING,
    process_payload,
    recording_job_type,
    video_job_type,
)
from trioflix.storage import open_object_store
from trioflix.store import open_database
from trioflix.store.users import create_user
from trioflix.uploads.progress import ProgressHub

from .helpers import auth, go_live

if TYPE_CHECKING:
    from tests.conftest import Server
    from tests.interop.media import Sample
    from trioflix.config import Settings

pytestmark = [pytest.mark.slow, pytest.mark.interop]

SAMPLE_SECONDS = 8  # published three times: a 24 s stream
STREAM_S = 3 * SAMPLE_SECONDS
TOLERANCE_S = 2.0  # segments are cut at keyframes, one per second in the sample
# Generous for a loaded 2-core machine; docs/benchmarks.md has the measured figure.
WATCHABLE_WITHIN_S = 60.0
LADDER_WITHIN_S = 180.0


async def _video(server: Server, token: str, video_id: int) -> dict[str, Any]:
    response = await server.client.get(f"/api/videos/{video_id}", headers=auth(token))
    assert response.status_code == 200, response.text
    video: dict[str, Any] = response.json()["video"]
    return video


def _variants(master: str) -> list[str]:
    return [line for line in master.splitlines() if line and not line.startswith("#")]


@pytest.mark.backends(
    "sqlite",
    reason="the storage is the point here; the same SQL runs on both databases in"
    " test_a_failed_ladder_leaves_the_recording_watchable_as_streamed",
)
async def test_a_recording_is_watchable_as_streamed_then_gets_its_ladder(
    server: Server, media_storage: str, sample: Sample, nursery: trio.Nursery
) -> None:
    alice = await go_live(nursery, server, sample.path, loops=2)
    with trio.fail_after(STREAM_S * 3):
        await alice.publisher.wait()

    # Watchable from the source rendition alone, its ladder still to come.
    with trio.fail_after(WATCHABLE_WITHIN_S):
        while True:
            videos = (
                await server.client.get(
                    "/api/videos", params={"mine": "1"}, headers=auth(alice.token)
                )
            ).json()["videos"]
            if videos and videos[0]["state"] == "ready":
                break
            assert not videos or videos[0]["state"] == "processing", videos
            await trio.sleep(0.1)
    first = await _video(server, alice.token, videos[0]["id"])
    assert first["ladder"] == "pending", first
    assert [r["name"] for r in first["renditions"]] == ["source"], first
    assert first["thumbnails"] is None  # made with the ladder
    assert abs(first["duration"] - STREAM_S) < TOLERANCE_S, first
    master_url = f"{server.url}{first['playback']['hls']}"
    master = await server.client.get(master_url)
    assert _variants(master.text) == ["source/index.m3u8"], master.text
    source_url = f"{server.url}/videos/{first['id']}/source/index.m3u8"
    report, _ = await trio.to_thread.run_sync(ffprobe, source_url, "-show_format")
    assert abs(float(report["format"]["duration"]) - STREAM_S) < TOLERANCE_S, report
    frames = await trio.to_thread.run_sync(decoded_frames, source_url)
    assert frames["video"] >= (STREAM_S - TOLERANCE_S) * 25, frames  # the sample is 25 fps+
    assert frames["audio"] > 0, frames

    # Then the ladder and the pictures, listed with the source in a new master.
    with trio.fail_after(LADDER_WITHIN_S):
        while (video := await _video(server, alice.token, first["id"]))["ladder"] == "pending":  # noqa: ASYNC110 (HTTP polling)
            await trio.sleep(0.5)
    assert video["ladder"] is None, video
    assert [r["name"] for r in video["renditions"]] == ["360p", "source"], video
    master = await server.client.get(master_url)
    assert _variants(master.text) == ["360p/index.m3u8", "source/index.m3u8"], master.text
    poster = await server.client.get(video["thumbnails"]["poster"])
    assert poster.status_code == 200 and poster.content[:2] == b"\xff\xd8"
    # What a player that loaded the first master plays is still there.
    report, _ = await trio.to_thread.run_sync(ffprobe, source_url, "-show_format")
    assert abs(float(report["format"]["duration"]) - STREAM_S) < TOLERANCE_S, report


async def test_a_failed_ladder_leaves_the_recording_watchable_as_streamed(
    settings: Settings, sample: Sample
) -> None:
    """The two jobs run one after the other here, without workers: the ladder's source
    is broken between them, so that its failure is certain."""
    hub = ProgressHub()
    woken: list[None] = []
    async with (
        open_database(settings) as db,
        open_object_store(settings.storage(), data_dir=settings.data_dir) as objects,
    ):
        user = await create_user(db, name="alice", display_name="Alice", password_hash="h")
        video_id = await create_video(
            db, user_id=user.id, title="Show", description="", origin="live"
        )
        source = "recordings/1/000000-000000-000000000000-000000008000.flv"
        await objects.put_file(source, sample.path)
        await queue.enqueue(
            db,
            REMUX_RECORDING,
            process_payload(video_id, [source]),
            subject=video_subject(video_id),
            priority=queue.PRIORITY_EXPRESS,
        )
        remux = recording_job_type(
            lambda: db,
            lambda: objects,
            settings.host_dir,
            hub,
            lambda: woken.append(None),
            memory_limit=None,
        )
        ladder = video_job_type(
            lambda: db,
            lambda: objects,
            settings.host_dir,
            hub,
            keep_originals=False,
            memory_limit=None,
        )

        job = await queue.claim_job(db, (REMUX_RECORDING,), "test", lease_s=60)
        assert job is not None
        await remux.run(job)
        video = await get_video(db, video_id)
        assert video is not None and (video.state, video.ladder_state) == ("ready", "pending")
        assert woken, "the ladder's job was enqueued without waking the workers"
        master = (await objects.read_bytes(video.prefix + "master.m3u8")).decode()

        await objects.put_bytes(source, b"not a video at all")
        job = await queue.claim_job(db, (PROCESS_VIDEO,), "test", lease_s=60)
        assert job is not None and job.priority == queue.PRIORITY_HIGH
        assert job.payload["listed"][0]["uri"] == "source/index.m3u8"
        with pytest.raises(JobFailed) as failed:
            await ladder.run(job)
        assert failed.value.permanent
        await ladder.on_gave_up(job, failed.value.reason)

        video = await get_video(db, video_id)
        assert video is not None
        public = video.public()
        assert (public["state"], public["ladder"]) == ("ready", "failed"), public
        assert public["playback"] is not None and public["failure"] is None
        assert (await objects.read_bytes(video.prefix + "master.m3u8")).decode() == master
        segment = await objects.read_bytes(video.prefix + "source/seg_00000.ts")
        assert segment[:1] == b"G"  # an MPEG-TS packet's sync byte
