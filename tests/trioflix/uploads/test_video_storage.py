"""Videos in the object store, on local disk and on S3: serving, ranges, privacy, outages,
and the videos of an installation from before the store."""

from __future__ import annotations

import os
import subprocess
from typing import TYPE_CHECKING

import pytest
import trio

from tests.interop.media import FFMPEG, require
from tests.waiting import wait_until
from trioflix.jobs.queue import enqueue, get_job
from trioflix.media.legacy import adopt_legacy_videos
from trioflix.media.library import create_video, get_video
from trioflix.media.processing import ORIGINAL_NAME, PROCESS_VIDEO, WORK_DIR, clear_work_dirs
from trioflix.media.stored import IMMUTABLE, publish_outputs
from trioflix.storage import LocalStorageConfig, open_object_store

from .helpers import auth, create, job_children, make_video, patch, video_prefix

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import Server
    from tests.seaweedfs import SeaweedServer

pytestmark = [
    pytest.mark.slow,
    pytest.mark.backends("sqlite", reason="the storage is the point; the database does not matter"),
]
READY_LIMIT_S = 120.0


async def _upload(server: Server, token: str, source: Path) -> str:
    data = await trio.Path(source).read_bytes()
    path = await create(server.client, token, len(data))
    assert (await patch(server.client, token, path, 0, data)).status_code == 204
    return f"/api/upload/status/{path.rsplit('/', 1)[1]}"


async def _status(server: Server, token: str, status_url: str) -> dict[str, object]:
    response = await server.client.get(status_url, headers=auth(token))
    assert response.status_code == 200, response.text
    upload: dict[str, object] = response.json()["upload"]
    return upload


async def _ready(server: Server, token: str, status_url: str) -> int:
    with trio.fail_after(READY_LIMIT_S):
        while (status := await _status(server, token, status_url))["state"] != "ready":
            assert status["state"] != "failed", status
            await trio.sleep(0.2)
    return int(str(status["video_id"]))


async def test_ranges_redirects_and_privacy(
    server: Server, tmp_path: Path, media_storage: str
) -> None:
    token, user = await server.register("alice")
    source = tmp_path / "in.mp4"
    make_video(source, seconds=2)
    video_id = await _ready(server, token, await _upload(server, token, source))
    prefix = await video_prefix(server, video_id)
    poster = await server.app.trioflix.objects.read_bytes(prefix + "poster.jpg")
    size = len(poster)
    url = f"/videos/{video_id}/poster.jpg"

    whole = await server.client.get(url)
    assert whole.status_code == 200 and whole.content == poster
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["cache-control"] == "public, max-age=31536000, immutable"
    first = await server.client.get(url, headers={"Range": "bytes=0-99"})
    assert first.status_code == 206
    assert first.headers["content-range"] == f"bytes 0-99/{size}"
    assert first.content == poster[:100]
    tail = await server.client.get(url, headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == poster[-10:]
    middle = await server.client.get(url, headers={"Range": f"bytes=100-{size + 50}"})
    assert middle.status_code == 206 and middle.content == poster[100:]
    past = await server.client.get(url, headers={"Range": f"bytes={size}-"})
    assert past.status_code == 416
    assert past.headers["content-range"] == f"bytes */{size}"
    described = await server.client.head(url)
    assert described.status_code == 200 and described.content == b""
    assert described.headers["content-length"] == str(size)
    several = await server.client.get(url, headers={"Range": "bytes=0-1,5-6"})
    assert several.status_code == 200 and several.content == poster  # the whole instead

    master = await server.client.get(f"/videos/{video_id}/master.m3u8")
    assert master.status_code == 200 and master.headers["cache-control"] == "public, max-age=60"
    segment = f"/videos/{video_id}/240p/seg_00000.ts"  # 320x240: one rung at its size
    playlist = await server.client.get(f"/videos/{video_id}/240p/index.m3u8")
    assert "seg_00000.ts" in playlist.text
    fetched = await server.client.get(segment)
    if media_storage:  # S3: segments go straight from the store, by a presigned URL
        assert fetched.status_code == 302
        location = fetched.headers["location"]
        assert prefix + "240p/seg_00000.ts" in location and "Signature=" in location
        assert fetched.headers["cache-control"] == "private, max-age=300"
        fetched = await server.client.get(location)
        assert fetched.headers["content-type"] == "video/mp2t"
    assert fetched.status_code == 200 and fetched.content[0] == 0x47  # an MPEG-TS packet

    # A video that is not ready is not there, whatever the name asked for; nor is a
    # file outside the served names.
    processing = await create_video(
        server.app.trioflix.db, user_id=user["id"], title="t", description="", origin="upload"
    )
    unready = await video_prefix(server, processing)
    for name in ("master.m3u8", "poster.jpg", "240p/seg_00000.ts"):
        # As if its job were storing its outputs right now.
        await server.app.trioflix.objects.put_bytes(unready + name, b"not yet")
        assert (await server.client.get(f"/videos/{processing}/{name}")).status_code == 404
    assert (await server.client.get(f"/videos/{video_id}/original")).status_code == 404
    assert (await server.client.get(f"/videos/{video_id}/../x.jpg")).status_code == 404
    # The store's keys hold the token, which the API shows to no one.
    detail = (await server.client.get(f"/api/videos/{video_id}")).text
    assert prefix.split("-", 1)[1].rstrip("/") not in detail


@pytest.mark.settings(media_base_url="https://cdn.example.com/media")
async def test_media_base_url_redirects_every_file(
    server: Server, tmp_path: Path, media_storage: str
) -> None:
    token, _ = await server.register("alice")
    source = tmp_path / "in.mp4"
    make_video(source, seconds=1)
    video_id = await _ready(server, token, await _upload(server, token, source))
    prefix = await video_prefix(server, video_id)
    for name in ("master.m3u8", "240p/seg_00000.ts", "poster.jpg"):
        answer = await server.client.get(f"/videos/{video_id}/{name}")
        assert answer.status_code == 302
        assert answer.headers["location"] == f"https://cdn.example.com/media/{prefix}{name}"


@pytest.mark.parametrize("media_storage", ["s3"], indirect=True)
@pytest.mark.settings(media_workers=1)
async def test_processing_waits_out_a_storage_outage(
    server: Server, tmp_path: Path, media_storage: str, restart_seaweed: SeaweedServer
) -> None:
    """The store goes away while the job encodes: it waits, retries, and finishes once
    the store is back; the video is never marked failed and no attempt is spent."""
    token, _ = await server.register("alice")
    source = tmp_path / "in.mp4"
    make_video(source, seconds=8, width=640, height=360)
    status_url = await _upload(server, token, source)
    with trio.fail_after(READY_LIMIT_S):
        while not (await _status(server, token, status_url))["processing_percent"]:  # noqa: ASYNC110
            await trio.sleep(0.05)
    await trio.to_thread.run_sync(lambda: restart_seaweed.stop(kill=True))
    # The child finishes encoding into local files; storing them is what waits.
    await wait_until(lambda: not job_children())
    await trio.sleep(3)  # a few of the job's retries while the store is down
    status = await _status(server, token, status_url)
    assert status["state"] == "processing", status
    video_id = int(str(status["video_id"]))
    db = server.app.trioflix.db
    job_id = await db.fetchval("SELECT id FROM jobs WHERE subject = $1", f"video:{video_id}")
    job = await get_job(db, job_id)
    assert job is not None and (job.state, job.attempts) == ("running", 1)

    await trio.to_thread.run_sync(restart_seaweed.start)
    assert await _ready(server, token, status_url) == video_id
    job = await get_job(db, job_id)
    assert job is not None and (job.state, job.attempts) == ("done", 1)
    video = await get_video(db, video_id)
    assert video is not None and video.failure is None
    master = await server.client.get(f"/videos/{video_id}/master.m3u8")
    assert master.status_code == 200 and "#EXT-X-STREAM-INF" in master.text


def _legacy_hls(directory: Path) -> None:
    """What the pipeline wrote before the store: a one-rung HLS video in its directory."""
    rung = directory / "240p"
    rung.mkdir(parents=True)
    picture = "testsrc=size=320x240:rate=25:duration=2"
    encode = "-c:v libx264 -preset ultrafast -f hls -hls_time 2 -hls_playlist_type vod"
    output = ["-hls_segment_filename", str(rung / "seg_%05d.ts"), str(rung / "index.m3u8")]
    ffmpeg = [require(FFMPEG, "ffmpeg"), "-v", "error", "-f", "lavfi", "-i", picture]
    subprocess.run([*ffmpeg, *encode.split(), *output], check=True)
    (directory / "master.m3u8").write_text(
        "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=400000,RESOLUTION=320x240\n240p/index.m3u8\n"
    )
    (directory / "poster.jpg").write_bytes(b"\xff\xd8 a poster")


async def test_videos_from_before_the_store_keep_playing(
    server: Server, tmp_path: Path, media_storage: str
) -> None:
    """An installation from before the store: files in DATA_DIR/videos/ID/, rows without
    a token, a job queued with the old payload. At start they move into the store."""
    _, user = await server.register("alice")
    db = server.app.trioflix.db
    objects = server.app.trioflix.objects
    data_dir = server.settings.data_dir
    ready, waiting = [
        await create_video(db, user_id=user["id"], title=t, description="", origin="upload")
        for t in ("old", "queued")
    ]
    await db.execute("UPDATE videos SET media_token = NULL")
    await db.execute("UPDATE videos SET state = 'ready' WHERE id = $1", ready)
    await trio.to_thread.run_sync(_legacy_hls, data_dir / "videos" / str(ready))
    segment = await trio.Path(data_dir / "videos" / str(ready) / "240p/seg_00000.ts").read_bytes()
    await trio.Path(data_dir / "uploads").mkdir(parents=True, exist_ok=True)
    await trio.Path(data_dir / "uploads" / "abc123.bin").write_bytes(b"the upload's bytes")
    job_id = await enqueue(  # not due for an hour: this test runs the start-up step itself
        db,
        PROCESS_VIDEO,
        {"video_id": waiting, "upload": "abc123"},
        subject=f"video:{waiting}",
        delay_s=3600,
    )

    assert await adopt_legacy_videos(db, objects, data_dir) == 2
    assert not await trio.Path(data_dir / "videos" / str(ready)).exists()
    master = await server.client.get(f"/videos/{ready}/master.m3u8")
    assert master.status_code == 200 and "240p/index.m3u8" in master.text
    playlist = await server.client.get(f"/videos/{ready}/240p/index.m3u8")
    assert playlist.status_code == 200 and "seg_00000.ts" in playlist.text
    fetched = await server.client.get(f"/videos/{ready}/240p/seg_00000.ts", follow_redirects=True)
    assert fetched.status_code == 200 and fetched.content == segment
    poster = await server.client.get(f"/videos/{ready}/poster.jpg")
    assert poster.content == b"\xff\xd8 a poster"
    prefix = await video_prefix(server, ready)
    assert (await objects.head(prefix + "240p/seg_00000.ts")).cache_control == IMMUTABLE

    # The queued job now reads the upload from the store, as every job does.
    job = await get_job(db, job_id)
    assert job is not None
    original = await video_prefix(server, waiting) + ORIGINAL_NAME
    assert job.payload == {"video_id": waiting, "source": [original]}
    assert await objects.read_bytes(original) == b"the upload's bytes"
    assert not await trio.Path(data_dir / "uploads" / "abc123.bin").exists()
    assert await adopt_legacy_videos(db, objects, data_dir) == 0  # once only


async def test_outputs_are_stored_segments_first_master_last(tmp_path: Path) -> None:
    """What a CDN needs: no playlist is in the store before what it lists."""
    output = tmp_path / "output"
    for name in ("720p/seg_00000.ts", "720p/seg_00001.ts", "360p/seg_00000.ts"):
        (output / name).parent.mkdir(parents=True, exist_ok=True)
        (output / name).write_bytes(b"G" * 188)
    for name in ("720p/index.m3u8", "360p/index.m3u8", "master.m3u8"):
        (output / name).write_text("#EXTM3U\n")
    (output / "poster.jpg").write_bytes(b"\xff\xd8")
    root = tmp_path / "store"
    async with open_object_store(LocalStorageConfig(root=root), data_dir=tmp_path) as store:
        assert await publish_outputs(store, output, "videos/1-t/") == 7
        # Local objects keep the time their bytes were written (their ETag holds it).
        written = {
            info.key.removeprefix("videos/1-t/"): os.stat(root / "objects" / info.key).st_mtime_ns
            for info in await store.list_prefix("videos/1-t/")
        }
        playlist = await store.head("videos/1-t/360p/index.m3u8")
    media = [written[n] for n in written if not n.endswith(".m3u8")]
    renditions = [written["720p/index.m3u8"], written["360p/index.m3u8"]]
    assert max(media) < min(renditions) and max(renditions) < written["master.m3u8"]
    assert (playlist.content_type, playlist.cache_control) == (
        "application/vnd.apple.mpegurl",
        "public, max-age=60",
    )


async def test_work_dirs_left_by_a_killed_run_are_cleared_at_start(tmp_path: Path) -> None:
    left = tmp_path / WORK_DIR / "job-7-dead" / "output" / "720p"
    left.mkdir(parents=True)
    (left / "seg_00000.ts").write_bytes(b"G" * 188)
    await clear_work_dirs(tmp_path)
    assert not (tmp_path / WORK_DIR).exists()
    await clear_work_dirs(tmp_path)  # nothing left: nothing to do


@pytest.mark.parametrize("media_storage", ["s3"], indirect=True)
async def test_serving_and_deleting_during_an_outage_answer_503(
    server: Server, tmp_path: Path, media_storage: str, restart_seaweed: SeaweedServer
) -> None:
    token, _ = await server.register("alice")
    source = tmp_path / "in.mp4"
    make_video(source, seconds=1)
    video_id = await _ready(server, token, await _upload(server, token, source))
    prefix = await video_prefix(server, video_id)
    await trio.to_thread.run_sync(lambda: restart_seaweed.stop(kill=True))
    poster = await server.client.get(f"/videos/{video_id}/poster.jpg")
    assert poster.status_code == 503 and poster.headers["retry-after"] == "5"
    assert poster.json()["error"]["code"] == "storage_unavailable"
    deleted = await server.client.delete(f"/api/videos/{video_id}", headers=auth(token))
    assert deleted.status_code == 503
    assert (await server.client.get(f"/api/videos/{video_id}")).status_code == 200  # still there

    await trio.to_thread.run_sync(restart_seaweed.start)
    deleted = await server.client.delete(f"/api/videos/{video_id}", headers=auth(token))
    assert deleted.status_code == 204
    assert await server.app.trioflix.objects.list_prefix(prefix) == []
