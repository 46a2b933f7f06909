"""Every live session is recorded into the object store and becomes one video."""

from __future__ import annotations

import json
import logging
import signal
import sqlite3
import time
from functools import partial
from typing import TYPE_CHECKING, Any

import pytest
import trio

from tests.disks import bytes_on_disk
from tests.interop.media import FFMPEG, assert_goes_forward, flv_timestamps, require
from tests.ports import free_port
from tests.trioflix.uploads.helpers import video_prefix
from tests.waiting import wait_until
from trioflix.live.recording import recorder as recorder_module
from trioflix.live.recording.chunks import chunk_key, parse_chunks, recording_prefix
from trioflix.live.recording.recorder import Recorder
from trioflix.media.processing import ORIGINAL_NAME

from .helpers import auth, go_live, serve_env, serve_process, start_publisher, wait_live

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import Server
    from tests.interop.media import Sample
    from tests.seaweedfs import SeaweedServer
    from trioflix.live.recording.chunks import Chunk

pytestmark = [
    pytest.mark.slow,
    pytest.mark.interop,
    # The recorded source is read back after the video is ready: keep it.
    pytest.mark.settings(keep_originals=True),
]

SAMPLE_SECONDS = 8  # the sample fixture's length
TOLERANCE_S = 5.0  # "plays to within 5 s of its length" (docs/hls.md)
STORAGE_ONLY = pytest.mark.backends(
    "sqlite",
    reason="what it checks is the recording in the store; the hand-off's SQL runs"
    " on both databases in the tests without media_storage",
)


async def _videos(server: Server, token: str) -> list[dict[str, Any]]:
    response = await server.client.get("/api/videos", params={"mine": "1"}, headers=auth(token))
    assert response.status_code == 200, response.text
    videos: list[dict[str, Any]] = response.json()["videos"]
    return videos


async def _wait_videos(server: Server, token: str) -> list[dict[str, Any]]:
    with trio.fail_after(30):
        while not (videos := await _videos(server, token)):  # noqa: ASYNC110 (HTTP polling)
            await trio.sleep(0.1)
    return videos


async def _wait_ready(server: Server, token: str, video_id: int) -> dict[str, Any]:
    with trio.fail_after(120):
        while True:
            response = await server.client.get(f"/api/videos/{video_id}", headers=auth(token))
            video: dict[str, Any] = response.json()["video"]
            assert video["state"] != "failed", video
            if video["state"] == "ready":
                return video
            await trio.sleep(0.25)


async def _wait_complete(server: Server, token: str, video_id: int) -> dict[str, Any]:
    """Until the ladder and thumbnails of a recording ready as streamed are made too."""
    with trio.fail_after(180):
        while True:
            video = await _wait_ready(server, token, video_id)
            assert video["ladder"] != "failed", video
            if video["ladder"] is None:
                return video
            await trio.sleep(0.25)


async def _chunks(server: Server, session_id: int) -> list[Chunk]:
    objects = server.app.trioflix.objects
    return parse_chunks(session_id, await objects.list_prefix(recording_prefix(session_id)))


async def _wait_deleted(server: Server, session_id: int) -> None:
    """Until the session's chunks are gone (the job deletes them once the video is ready)."""
    with trio.fail_after(30):
        while await _chunks(server, session_id):  # noqa: ASYNC110 (polling)
            await trio.sleep(0.1)


async def _source_of(server: Server, video_id: int) -> list[str]:
    """The processing job's source: object keys, read in order as one stream."""
    payload = await server.app.trioflix.db.fetchval(
        "SELECT payload FROM jobs WHERE subject = $1", f"video:{video_id}"
    )
    source: list[str] = json.loads(payload)["source"]
    return source


async def _session_id(server: Server, token: str) -> int:
    status = await server.client.get("/api/streaming/status", headers=auth(token))
    return int(status.json()["session"]["id"])


@STORAGE_ONLY
async def test_live_session_is_stored_in_chunks_and_becomes_one_video(
    server: Server, media_storage: str, sample: Sample, nursery: trio.Nursery
) -> None:
    token, _ = await server.register("alice")
    await server.client.post(
        "/api/streaming/start", json={"title": "Morning show"}, headers=auth(token)
    )
    key = await server.create_key(token)
    publisher = await start_publisher(nursery, server, key, sample.path, loops=1)
    await wait_live(server, "alice")
    session_id = await _session_id(server, token)

    # While it is live, the first chunks are in the store already, one FLV header first.
    with trio.fail_after(30):
        while len(live := await _chunks(server, session_id)) < 2:  # noqa: ASYNC110 (polling)
            await trio.sleep(0.2)
    assert server.app.trioflix.registry.get("alice") is not None, "the session ended already"
    objects = server.app.trioflix.objects
    assert (await objects.read_bytes(live[0].key, length=3)) == b"FLV"
    assert (await objects.read_bytes(live[1].key, length=3)) != b"FLV"
    assert [chunk.writer for chunk in live] == [0, 0]
    assert live[0].last_ms < live[1].first_ms

    with trio.fail_after(60):
        await publisher.wait()
    await wait_live(server, "alice", live=False)
    (video,) = await _wait_videos(server, token)
    assert video["title"].startswith("Morning show (")
    source = await _source_of(server, video["id"])
    assert source[:2] == [chunk.key for chunk in live]
    assert all(key.startswith(recording_prefix(session_id)) for key in source)
    ready = await _wait_ready(server, token, video["id"])
    assert abs(ready["duration"] - 2 * SAMPLE_SECONDS) < TOLERANCE_S, ready
    assert (ready["width"], ready["height"]) == (640, 360)
    # What the jobs read, chunk after chunk (kept as the video's original): one FLV
    # stream covering the whole session.
    await _wait_complete(server, token, video["id"])
    original = await video_prefix(server, video["id"]) + ORIGINAL_NAME
    stamps = flv_timestamps(await server.app.trioflix.objects.read_bytes(original))
    assert_goes_forward(stamps)
    assert abs(stamps[-1] / 1000 - 2 * SAMPLE_SECONDS) < TOLERANCE_S, stamps[-1]
    # The job owned the chunks and deletes them once the video is ready; the spool is empty.
    await _wait_deleted(server, session_id)
    assert list(server.app.trioflix.recorder.directory.iterdir()) == []
    master = await server.client.get(f"/videos/{ready['id']}/master.m3u8")
    assert master.status_code == 200


@pytest.mark.settings(hls_ladder="off")
@pytest.mark.backends("sqlite", reason="the registry's grace window, not the database")
async def test_a_reconnect_within_the_grace_window_stays_one_recording(
    server: Server, sample: Sample, nursery: trio.Nursery
) -> None:
    alice = await go_live(nursery, server, sample.path)
    session_id = await _session_id(server, alice.token)
    with trio.fail_after(30):
        while not await _chunks(server, session_id):  # noqa: ASYNC110 (polling)
            await trio.sleep(0.2)
    alice.publisher.kill()  # the connection drops without an unpublish: the grace window opens
    await wait_live(server, "alice", live=False)
    assert server.app.trioflix.registry.state_of("alice") == "reconnecting"
    second = await start_publisher(nursery, server, alice.key, sample.path)
    await wait_live(server, "alice")
    assert await _session_id(server, alice.token) == session_id
    with trio.fail_after(60):
        await second.wait()
    await wait_live(server, "alice", live=False)

    (video,) = await _wait_videos(server, alice.token)
    source = await _source_of(server, video["id"])
    assert {path.split("/")[2][:6] for path in source} == {"000000"}, source  # one writer
    ready = await _wait_ready(server, alice.token, video["id"])
    # At least a chunk of the first publish (4 s) and all of the second.
    assert SAMPLE_SECONDS + 3 < ready["duration"] < 2 * SAMPLE_SECONDS + TOLERANCE_S, ready
    assert len(await _videos(server, alice.token)) == 1


@pytest.mark.settings(hls_ladder="off", reconnect_grace=2.0)
@pytest.mark.backends("sqlite", reason="the registry's grace window, not the database")
async def test_a_publisher_that_never_comes_back_is_recorded_once_the_grace_window_ends(
    server: Server, sample: Sample, nursery: trio.Nursery
) -> None:
    alice = await go_live(nursery, server, sample.path)
    session_id = await _session_id(server, alice.token)
    with trio.fail_after(30):
        while not await _chunks(server, session_id):  # noqa: ASYNC110 (polling)
            await trio.sleep(0.2)
    alice.publisher.kill()
    # The grace window passes: the stored session ends, and this host hands it off.
    (video,) = await _wait_videos(server, alice.token)
    ended = await server.app.trioflix.db.fetchrow(
        "SELECT state, end_reason FROM live_sessions WHERE id = $1", session_id
    )
    assert ended is not None
    assert (ended["state"], ended["end_reason"]) == ("ended", "publisher gone")
    assert await _source_of(server, video["id"])


@pytest.mark.settings(hls_ladder="off")
@pytest.mark.backends("sqlite", reason="the stream key's setting, read the same on both")
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
    session_id = await _session_id(server, token)
    with trio.fail_after(30):
        await publisher.wait()
    await wait_live(server, "alice", live=False)
    # The recorder looked at the session's key and declined: nothing stored or spooled.
    await wait_until(lambda: "alice: recording is off for this stream key" in caplog.messages)
    assert await _videos(server, token) == []
    assert await _chunks(server, session_id) == []
    assert list(server.app.trioflix.recorder.directory.iterdir()) == []


@STORAGE_ONLY
@pytest.mark.settings(hls_ladder="off")
@pytest.mark.parametrize("media_storage", ["s3"], indirect=True)
async def test_storage_away_during_the_recording_and_its_hand_off(
    server: Server,
    media_storage: str,
    restart_seaweed: SeaweedServer,
    sample: Sample,
    nursery: trio.Nursery,
) -> None:
    """The chunks wait in the local spool, the hand-off waits too, and both complete
    once the storage is back: nothing of the recording is lost."""
    alice = await go_live(nursery, server, sample.path, loops=1)
    session_id = await _session_id(server, alice.token)
    with trio.fail_after(30):
        while not await _chunks(server, session_id):  # noqa: ASYNC110 (polling)
            await trio.sleep(0.2)
    await trio.to_thread.run_sync(lambda: restart_seaweed.stop(kill=True))
    spool_dir = server.app.trioflix.recorder.directory
    with trio.fail_after(60):
        await alice.publisher.wait()
    await wait_live(server, "alice", live=False)
    # The session ended with the storage away: its chunks wait on local disk.
    pattern = f"session-{session_id}-*/*.flv"
    await wait_until(lambda: len(list(spool_dir.glob(pattern))) >= 2)
    assert await _videos(server, alice.token) == []
    await trio.sleep(2)  # a few retries fail meanwhile
    assert await _videos(server, alice.token) == []

    await trio.to_thread.run_sync(restart_seaweed.start)
    (video,) = await _wait_videos(server, alice.token)
    ready = await _wait_ready(server, alice.token, video["id"])
    assert abs(ready["duration"] - 2 * SAMPLE_SECONDS) < TOLERANCE_S, ready
    assert list(spool_dir.iterdir()) == []


@STORAGE_ONLY
@pytest.mark.settings(hls_ladder="off")
@pytest.mark.parametrize("media_storage", ["s3"], indirect=True)
async def test_an_outage_longer_than_the_spool_drops_chunks_and_keeps_the_rest(
    server: Server,
    media_storage: str,
    restart_seaweed: SeaweedServer,
    sample: Sample,
    nursery: trio.Nursery,
) -> None:
    """The spool holds one more chunk than the one in progress: the storage away for
    longer, later chunks are dropped (never more than the bound on disk), and what
    was kept still becomes the video once the storage is back."""
    token, _ = await server.register("alice")
    key = await server.create_key(token)
    recorder = server.app.trioflix.recorder
    publisher = await start_publisher(nursery, server, key, sample.path, loops=2)
    await wait_live(server, "alice")
    session_id = await _session_id(server, token)
    with trio.fail_after(30):
        while not (stored := await _chunks(server, session_id)):  # noqa: ASYNC110 (polling)
            await trio.sleep(0.2)
    recorder.spool_bytes = stored[0].size * 3 // 2
    await trio.to_thread.run_sync(lambda: restart_seaweed.stop(kill=True))
    spool_dir = recorder.directory
    largest = 0

    async def watch_spool(*, task_status: trio.TaskStatus[None]) -> None:
        nonlocal largest
        task_status.started()
        while True:
            on_disk = bytes_on_disk(spool_dir.glob("*/*.flv"))  # chunks go as they are sent
            largest = max(largest, on_disk)
            await trio.sleep(0.05)

    async with trio.open_nursery() as watching:
        await watching.start(watch_spool)
        with trio.fail_after(60):
            await publisher.wait()
        await wait_live(server, "alice", live=False)
        watching.cancel_scope.cancel()
    assert recorder.dropped_chunks >= 1
    assert 0 < largest <= recorder.spool_bytes

    await trio.to_thread.run_sync(restart_seaweed.start)
    (video,) = await _wait_videos(server, token)
    source = await _source_of(server, video["id"])
    assert source[0] == stored[0].key
    # The first chunk, the one the spool had room for, and those after the outage.
    numbers = [int(key.split("/")[2][7:13]) for key in source]
    assert len(numbers) >= 2, numbers
    assert numbers == sorted(set(numbers)), numbers
    await _wait_ready(server, token, video["id"])


async def test_a_graceful_stop_hands_the_recording_off_before_the_server_exits(
    sample: Sample, tmp_path: Path, nursery: trio.Nursery
) -> None:
    """SIGTERM while live: the session ends, its last chunk is stored and the video and
    its job are made before ``trioflix serve`` exits, not at some next start."""
    data_dir = tmp_path / "data"
    env, rtmp_port = serve_env(data_dir)
    stored = data_dir / "media" / "objects" / "recordings"
    async with serve_process(env, free_port(), tmp_path / "serve.log") as (process, client):
        registered = await client.post(
            "/api/auth/register", json={"username": "bob", "password": "password1"}
        )
        token = registered.json()["token"]
        key = (await client.post("/api/streaming/keys", headers=auth(token))).json()["key"]["key"]
        cmd = [require(FFMPEG, "ffmpeg"), "-hide_banner", "-loglevel", "quiet", "-re"]
        cmd += ["-i", str(sample.path), "-c", "copy", "-f", "flv"]
        cmd.append(f"rtmp://127.0.0.1:{rtmp_port}/live/{key}")
        await nursery.start(partial(trio.run_process, cmd, check=False, stdin=b""))
        with trio.fail_after(30):
            while not any(stored.rglob("*.flv")):  # noqa: ASYNC110 (another process writes)
                await trio.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        with trio.fail_after(30):
            await process.wait()
    assert process.returncode == 0, (await trio.Path(tmp_path / "serve.log").read_text())[-2000:]
    chunks = sorted(path.name for path in stored.rglob("*.flv"))
    assert len(chunks) >= 2, chunks  # the one stored while live, the last one at the stop
    with sqlite3.connect(data_dir / "trioflix.sqlite3") as db:
        videos = db.execute("SELECT id, origin FROM videos").fetchall()
        payloads = [
            json.loads(row[0])
            for row in db.execute("SELECT payload FROM jobs WHERE kind = 'video.remux'")
        ]
    assert [origin for _, origin in videos] == ["live"]
    assert [[key.rsplit("/", 1)[1] for key in p["source"]] for p in payloads] == [chunks]
    assert not any((data_dir / "recordings").iterdir())  # the spool is empty


def _spooled_name(n: int, first_ms: int, last_ms: int) -> str:
    return f"{n:06d}-{first_ms:012d}-{last_ms:012d}.flv"


async def _ended_session(server: Server, user_id: int, node: str) -> int:
    session_id: int = await server.app.trioflix.db.fetchval(
        "INSERT INTO live_sessions (user_id, node, state, title, description, created_at,"
        " started_at, ended_at) VALUES ($1, $2, 'ended', 'Cut', '', $3, $3, $3) RETURNING id",
        user_id,
        node,
        time.time(),
    )
    return session_id


def _recorder(server: Server, spool_dir: Path) -> Recorder:
    state = server.app.trioflix
    return Recorder(lambda: state.db, lambda: state.objects, state.jobs.wake, spool_dir=spool_dir)


@pytest.mark.settings(hls_ladder="off")
async def test_what_a_killed_host_left_is_stored_and_handed_off_at_its_next_start(
    server: Server, sample: Sample, tmp_path: Path
) -> None:
    """A killed host leaves a chunk in its spool (storage was away) for one session, and
    for another every chunk stored but no hand-off: its next start makes both videos."""
    token, user = await server.register("alice")
    node = server.app.trioflix.registry.node
    spooled = await _ended_session(server, user["id"], node)
    stored = await _ended_session(server, user["id"], node)
    tags = (await trio.Path(sample.path).read_bytes())[13:]  # the sample's tags, no header
    spool_dir = tmp_path / "spool"
    leftover = spool_dir / f"session-{spooled}-0" / _spooled_name(0, 0, SAMPLE_SECONDS * 1000)
    await trio.Path(leftover.parent).mkdir(parents=True)
    await trio.Path(leftover).write_bytes(tags)
    objects = server.app.trioflix.objects
    header = (await trio.Path(sample.path).read_bytes())[:13]
    await objects.put_bytes(chunk_key(stored, 0, 0, 0, SAMPLE_SECONDS * 1000), header + tags)

    recorder = _recorder(server, spool_dir)
    async with trio.open_nursery() as nursery:
        await nursery.start(recorder.run, node)
        with trio.fail_after(30):
            while len(videos := await _videos(server, token)) < 2:  # noqa: ASYNC110 (polling)
                await trio.sleep(0.1)
        nursery.cancel_scope.cancel()
    assert list(spool_dir.iterdir()) == []
    for video in videos:
        ready = await _wait_ready(server, token, video["id"])
        assert abs(ready["duration"] - SAMPLE_SECONDS) < TOLERANCE_S, ready
    await _wait_deleted(server, spooled)
    await _wait_deleted(server, stored)


@pytest.mark.settings(hls_ladder="off")
async def test_a_hand_off_made_twice_or_on_two_hosts_at_once_makes_one_video(
    server: Server, sample: Sample, tmp_path: Path
) -> None:
    token, user = await server.register("alice")
    session_id = await _ended_session(server, user["id"], "another-host")
    data = await trio.Path(sample.path).read_bytes()
    half = len(data) // 2
    objects = server.app.trioflix.objects
    # Two writers: another host's first half, then this host's rest after a takeover.
    await objects.put_bytes(chunk_key(session_id, 0, 0, 0, 3990), data[:half])
    await objects.put_bytes(chunk_key(session_id, 1, 0, 4023, 8000), data[half:])
    hosts = [_recorder(server, tmp_path / name) for name in ("b", "c")]
    made: list[int | None] = []

    async def hand_off(recorder: Recorder) -> None:
        made.append(await recorder.hand_off(session_id))

    async with trio.open_nursery() as nursery:
        for recorder in hosts:
            nursery.start_soon(hand_off, recorder)
    (video,) = await _videos(server, token)
    assert made == [video["id"], video["id"]]
    assert await hosts[0].hand_off(session_id) == video["id"]  # again, later
    assert await _source_of(server, video["id"]) == [
        chunk_key(session_id, 0, 0, 0, 3990),
        chunk_key(session_id, 1, 0, 4023, 8000),
    ]
    jobs = await server.app.trioflix.db.fetch("SELECT subject FROM jobs WHERE kind = 'video.remux'")
    assert [job["subject"] for job in jobs] == [f"video:{video['id']}"]
    ready = await _wait_ready(server, token, video["id"])
    assert abs(ready["duration"] - SAMPLE_SECONDS) < TOLERANCE_S, ready
