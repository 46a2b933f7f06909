"""Every live session is recorded and becomes a video through the processing pipeline."""

from __future__ import annotations

import itertools
import logging
import os
import shutil
import time
from typing import TYPE_CHECKING, Any

import pytest
import trio

from tests.waiting import wait_until
from trioflix.live.recording import recorder as recorder_module
from trioflix.live.recording.recorder import Recorder
from trioflix.media.library import get_video
from trioflix.media.processing import ORIGINAL_NAME

from .helpers import auth, start_publisher, wait_live

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import DiskSyncs, Server
    from tests.interop.media import Sample

pytestmark = [pytest.mark.slow, pytest.mark.interop]

SAMPLE_SECONDS = 8  # the sample fixture's length


async def _videos(server: Server, token: str) -> list[dict[str, Any]]:
    response = await server.client.get("/api/videos", params={"mine": "1"}, headers=auth(token))
    assert response.status_code == 200, response.text
    videos: list[dict[str, Any]] = response.json()["videos"]
    return videos


async def _wait_ready(server: Server, token: str, video_id: int) -> dict[str, Any]:
    with trio.fail_after(90):
        while True:
            response = await server.client.get(f"/api/videos/{video_id}", headers=auth(token))
            video: dict[str, Any] = response.json()["video"]
            assert video["state"] != "failed", video
            if video["state"] == "ready":
                return video
            await trio.sleep(0.25)


async def _original(server: Server, video_id: int) -> bytes:
    """The video's kept source (``keep_originals``): the recording as handed off."""
    video = await get_video(server.app.trioflix.db, video_id)
    assert video is not None
    return await server.app.trioflix.objects.read_bytes(video.prefix + ORIGINAL_NAME)


def _recorder(server: Server, data_dir: Path) -> Recorder:
    app_state = server.app.trioflix
    return Recorder(data_dir, lambda: app_state.db, lambda: app_state.objects, lambda: None)


@pytest.mark.settings(keep_originals=True)
async def test_live_session_becomes_a_video(
    server: Server, sample: Sample, nursery: trio.Nursery, disk_syncs: DiskSyncs
) -> None:
    token, _ = await server.register("alice")
    await server.client.post(
        "/api/streaming/start", json={"title": "Morning show"}, headers=auth(token)
    )
    key = await server.create_key(token)
    publisher = await start_publisher(nursery, server, key, sample.path)
    await wait_live(server, "alice")
    stream = server.app.trioflix.registry.get("alice")
    assert stream is not None
    recording = server.settings.data_dir / "recordings"
    with trio.fail_after(30):
        await publisher.wait()
    await wait_live(server, "alice", live=False)
    with trio.fail_after(10):
        while not (videos := await _videos(server, token)):  # noqa: ASYNC110 (HTTP polling)
            await trio.sleep(0.1)
    assert len(videos) == 1
    # docs/hls.md: the recording is fsynced every 2 s while it grows, and once more
    # when it is closed (before the hand-off made it the video's source), all of it.
    *periodic, closing = disk_syncs.of(recording / f"session-{stream.session_id}.flv")
    assert len(periodic) >= 2, periodic
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(periodic)]
    assert all(1.5 <= gap <= 3.5 for gap in gaps), gaps
    assert videos[0]["title"].startswith("Morning show (")
    video = await _wait_ready(server, token, videos[0]["id"])
    assert closing.size == len(await _original(server, video["id"]))
    # The recording's own object went once the video was ready; its copy is the original.
    assert await server.app.trioflix.objects.list_prefix("recordings/") == []
    assert abs(video["duration"] - SAMPLE_SECONDS) < 5
    assert (video["width"], video["height"]) == (640, 360)
    # The file moved into the library; nothing is left in recordings/.
    assert list(recording.iterdir()) == []
    master = await server.client.get(f"/videos/{video['id']}/master.m3u8")
    assert master.status_code == 200


@pytest.mark.settings(hls_ladder="off")
async def test_recording_off_for_the_key(
    server: Server, sample: Sample, nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=recorder_module.__name__)
    token, _ = await server.register("alice")
    key = await server.create_key(token)
    keys = (await server.client.get("/api/streaming/keys", headers=auth(token))).json()["keys"]
    changed = await server.client.put(
        f"/api/streaming/keys/{keys[0]['id']}", json={"record": False}, headers=auth(token)
    )
    assert changed.status_code == 200, changed.text
    publisher = await start_publisher(nursery, server, key, sample.path)
    await wait_live(server, "alice")
    with trio.fail_after(30):
        await publisher.wait()
    await wait_live(server, "alice", live=False)
    # The recorder looked at the session's key and declined: the one path without a file.
    await wait_until(lambda: "alice: recording is off for this stream key" in caplog.messages)
    assert await _videos(server, token) == []
    assert not any((server.settings.data_dir / "recordings").iterdir())


@pytest.mark.settings(keep_originals=True)
async def test_recording_torn_by_a_crash_is_handed_off_at_next_start(
    server: Server, sample: Sample, nursery: trio.Nursery
) -> None:
    """What a killed server leaves: an open session and a recording cut mid-tag. The
    recorder's start-up hand-off turns it into a video that plays to within 5 s."""
    token, user = await server.register("alice")
    key = await server.create_key(token)
    publisher = await start_publisher(nursery, server, key, sample.path)
    await wait_live(server, "alice")
    session_id = (await server.client.get("/api/streaming/status", headers=auth(token))).json()[
        "session"
    ]["id"]
    with trio.fail_after(30):
        await publisher.wait()
    await wait_live(server, "alice", live=False)
    with trio.fail_after(10):
        while not (videos := await _videos(server, token)):  # noqa: ASYNC110 (HTTP polling)
            await trio.sleep(0.1)
    video = await _wait_ready(server, token, videos[0]["id"])
    # Rebuild the crash: the source file back in recordings/, torn two thirds in, and
    # no hand-off recorded for the session (a killed server never made one).
    await server.app.trioflix.db.execute(
        "DELETE FROM live_recordings WHERE session_id = $1", session_id
    )
    data_dir = server.settings.data_dir
    torn = data_dir / "recordings" / f"session-{session_id}.flv"
    await trio.Path(torn).write_bytes(await _original(server, video["id"]))
    size = torn.stat().st_size
    await trio.to_thread.run_sync(os.truncate, torn, size * 2 // 3 + 5)
    recorder = _recorder(server, data_dir)
    async with trio.open_nursery() as inner:
        await inner.start(recorder.run)  # started: the leftovers are handed off
        inner.cancel_scope.cancel()
    assert not torn.exists()
    videos = await _videos(server, token)
    assert len(videos) == 2
    recovered = await _wait_ready(server, token, videos[0]["id"])
    assert abs(recovered["duration"] - SAMPLE_SECONDS * 2 / 3) < 5
    assert user["name"] == "alice"


class _Died(Exception):
    """Stands for the server dying at one precise point."""


@pytest.mark.settings(keep_originals=True)
async def test_hand_off_cut_between_commit_and_move_is_not_repeated(
    server: Server, sample: Sample, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server dies after the hand-off's transaction, before the file's move: the
    next start moves the file into that same video instead of making a second one."""
    token, user = await server.register("alice")
    db = server.app.trioflix.db
    session_id = await db.fetchval(
        "INSERT INTO live_sessions (user_id, state, title, description, created_at,"
        " started_at, ended_at) VALUES ($1, 'ended', 'Cut', '', $2, $2, $2) RETURNING id",
        user["id"],
        time.time(),
    )
    data_dir = server.settings.data_dir
    leftover = data_dir / "recordings" / f"session-{session_id}.flv"
    await trio.to_thread.run_sync(shutil.copyfile, sample.path, leftover)
    recorder = _recorder(server, data_dir)

    async def die(*args: object) -> None:
        raise _Died

    with monkeypatch.context() as patch:
        patch.setattr(recorder_module, "adopt_source", die)
        with pytest.raises(_Died):
            await recorder.hand_off(session_id)
    (video,) = await _videos(server, token)  # committed: the video and its job exist
    assert leftover.exists()

    async with trio.open_nursery() as inner:  # the next start
        await inner.start(recorder.run)
        inner.cancel_scope.cancel()
    assert not leftover.exists()
    assert [v["id"] for v in await _videos(server, token)] == [video["id"]]
    jobs = await db.fetch("SELECT subject FROM jobs WHERE kind = 'video.process'")
    assert [j["subject"] for j in jobs] == [f"video:{video['id']}"]
    await _wait_ready(server, token, video["id"])  # its one job found the moved source
    assert await _original(server, video["id"]) == await trio.Path(sample.path).read_bytes()

    # A copy across disks that died before its unlink leaves a duplicate: dropped, and
    # nothing is stored again for a video already made.
    await trio.Path(leftover).write_bytes(b"duplicate")
    assert await recorder.hand_off(session_id) is None
    assert not leftover.exists()
    assert await server.app.trioflix.objects.list_prefix("recordings/") == []
    assert await _original(server, video["id"]) == await trio.Path(sample.path).read_bytes()

    # Once its video is deleted, a recording found again for that session is dropped.
    deleted = await server.client.delete(f"/api/videos/{video['id']}", headers=auth(token))
    assert deleted.status_code == 204, deleted.text
    await trio.to_thread.run_sync(shutil.copyfile, sample.path, leftover)
    assert await recorder.hand_off(session_id) is None
    assert not leftover.exists()
    assert await _videos(server, token) == []
