"""From a tus upload to a playable HLS video with thumbnails, checked with real decoders."""

from __future__ import annotations

import json
import os
import subprocess
from typing import TYPE_CHECKING, Any

import av
import pytest
import trio

from tests.interop.media import FFMPEG, ffprobe, require

from .helpers import (
    auth,
    create,
    fetch_file,
    job_children,
    job_work_dirs,
    make_video,
    metadata,
    patch,
    video_prefix,
)

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import Server


async def _upload(server: Server, token: str, data: bytes, **meta: str) -> str:
    path = await create(server.client, token, len(data), **{"Upload-Metadata": metadata(**meta)})
    response = await patch(server.client, token, path, 0, data)
    assert response.status_code == 204
    return path.rsplit("/", 1)[1]


async def _follow_events(server: Server, token: str, upload_id: str) -> list[dict[str, Any]]:
    """Read the upload's server-sent events until the stream ends (ready or failed)."""
    seen: list[dict[str, Any]] = []
    with trio.fail_after(60):
        async with server.client.stream(
            "GET", f"/api/upload/status/{upload_id}/events", params={"token": token}, timeout=None
        ) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    seen.append(json.loads(line[len("data: ") :]))
    return seen


@pytest.mark.slow
@pytest.mark.backends("sqlite", reason="the storage is the point; the database does not matter")
@pytest.mark.settings(check_uploads=True)  # which lets a real video through, on both storages
async def test_upload_becomes_a_playable_video(
    server: Server, tmp_path: Path, media_storage: str
) -> None:
    token, _ = await server.register("alice")
    source = tmp_path / "in.mp4"
    make_video(source, seconds=5, width=854, height=480, black_until=2.0)
    upload_id = await _upload(
        server,
        token,
        source.read_bytes(),
        filename="holiday.mp4",
        title="Holiday",
        description="sea",
    )
    events = await _follow_events(server, token, upload_id)
    assert events[-1]["state"] == "ready", events[-1]
    assert all(e["state"] in ("processing", "ready") for e in events)
    video_id = events[-1]["video_id"]

    detail = (await server.client.get(f"/api/videos/{video_id}")).json()["video"]
    assert detail["title"] == "Holiday" and detail["description"] == "sea"
    media = detail["media"]
    assert media["container"].startswith("mov,mp4")
    assert media["video"]["codec"] == "h264" and media["video"]["fps"] == 25.0
    assert (media["video"]["width"], media["video"]["height"]) == (854, 480)
    assert media["audio"]["codec"] == "aac" and media["audio"]["channels"] == 2
    assert media["duration"] == pytest.approx(5.0, abs=0.1)
    assert [r["name"] for r in detail["renditions"]] == ["480p", "360p"]  # never upscaled

    master = await server.client.get(detail["playback"]["hls"])
    assert master.status_code == 200
    assert master.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert "RESOLUTION=854x480" in master.text and "RESOLUTION=640x360" in master.text
    keyframe_times: list[list[float]] = []
    for rendition in ("480p", "360p"):
        playlist = (await server.client.get(f"/videos/{video_id}/{rendition}/index.m3u8")).text
        assert playlist.rstrip().endswith("#EXT-X-ENDLIST")
        segments = [line for line in playlist.splitlines() if line.endswith(".ts")]
        times = []
        for segment in segments:
            url = f"/videos/{video_id}/{rendition}/{segment}"
            local = await fetch_file(server.client, url, tmp_path / rendition / segment)
            with av.open(str(local)) as container:
                stream = container.streams.video[0]
                first = next(container.demux(stream))
                assert first.is_keyframe  # every segment starts with a keyframe
                assert first.pts is not None and stream.time_base is not None
                times.append(float(first.pts * stream.time_base))
        keyframe_times.append(times)
    assert keyframe_times[0] == keyframe_times[1]  # aligned across renditions

    for name in ("poster.jpg", "thumb_10.jpg", "thumb_50.jpg", "thumb_90.jpg", "sprite.jpg"):
        image = await server.client.get(f"/videos/{video_id}/{name}")
        assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
        (tmp_path / name).write_bytes(image.content)
        assert ffprobe(tmp_path / name, "-show_streams")[0]["streams"][0]["codec_name"] == "mjpeg"
    # 10% and 25% fall in the black opening: the poster comes from later.
    assert _poster_luma(tmp_path / "poster.jpg") > 40
    vtt = (await server.client.get(f"/videos/{video_id}/sprite.vtt")).text
    assert vtt.startswith("WEBVTT") and "sprite.jpg#xywh=0,0,160,90" in vtt
    assert (await server.client.get(f"/videos/{video_id}/source")).status_code == 404
    # Every object under the video's prefix, each with its headers; the upload's
    # source object is gone (originals are not kept by default).
    objects = server.app.trioflix.objects
    prefix = await video_prefix(server, video_id)
    stored = {info.key.removeprefix(prefix) for info in await objects.list_prefix(prefix)}
    assert {"master.m3u8", "480p/index.m3u8", "poster.jpg", "sprite.vtt"} <= stored
    assert "original" not in stored
    segment_info = await objects.head(f"{prefix}480p/seg_00000.ts")
    assert segment_info.content_type == "video/mp2t"
    assert segment_info.cache_control == "public, max-age=31536000, immutable"
    assert (await objects.head(f"{prefix}master.m3u8")).cache_control == "public, max-age=60"
    assert await objects.list_prefix("uploads/") == []
    assert job_work_dirs(server) == []  # the job's local files are gone


def _poster_luma(path: Path) -> float:
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0)).reformat(16, 9, format="gray")
    plane = frame.planes[0]
    data = bytes(plane)
    values = [data[r * plane.line_size + x] for r in range(9) for x in range(16)]
    return sum(values) / len(values)


def _make_rotated_video(path: Path) -> None:
    """A landscape 320x240 picture, white in its top-left quarter only, tagged to be
    shown rotated a quarter turn (a phone held upright records such files)."""
    ffmpeg = require(FFMPEG, "ffmpeg")
    coded = path.with_suffix(".coded.mp4")
    picture = "color=c=black:s=320x240:d=2:r=25,drawbox=x=0:y=0:w=160:h=120:color=white:t=fill"
    inputs = ["-f", "lavfi", "-i", picture, "-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo"]
    encode = "-shortest -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac"
    subprocess.run([ffmpeg, "-v", "error", *inputs, *encode.split(), str(coded)], check=True)
    # Stream copy writes the tag as the track's display matrix.
    tag = "-c copy -metadata:s:v:0 rotate=90"
    subprocess.run([ffmpeg, "-v", "error", "-i", str(coded), *tag.split(), str(path)], check=True)


def _shown_picture(path: Path) -> bytes:
    """The first picture of ``path`` as players show it, in gray: ffmpeg applies the
    display matrix when it decodes."""
    command = "-frames:v 1 -pix_fmt gray -f rawvideo -"
    return subprocess.run(
        [require(FFMPEG, "ffmpeg"), "-v", "error", "-i", str(path), *command.split()],
        capture_output=True,
        check=True,
    ).stdout


def _white_quarter(gray: bytes, width: int, height: int) -> int:
    """Which quarter of a gray picture is the white one: 0 1 / 2 3, reading order."""
    means = []
    for top, left in ((0, 0), (0, width // 2), (height // 2, 0), (height // 2, width // 2)):
        rows = range(top + 4, top + height // 2 - 4, 4)  # clear of the edges' blur
        values = [
            gray[y * width + x] for y in rows for x in range(left + 4, left + width // 2 - 4, 4)
        ]
        means.append(sum(values) / len(values))
    assert sorted(means)[-1] > 200 and sorted(means)[-2] < 50, means
    return means.index(max(means))


def _first_picture(path: Path) -> tuple[bytes, int, int]:
    """The first decoded picture of ``path`` as it is stored: gray bytes, width, height."""
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0)).reformat(format="gray")
    plane = frame.planes[0]
    rows = bytes(plane)
    gray = b"".join(
        rows[y * plane.line_size : y * plane.line_size + frame.width] for y in range(frame.height)
    )
    return gray, frame.width, frame.height


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_a_rotated_upload_is_turned_upright(server: Server, tmp_path: Path) -> None:
    token, _ = await server.register("alice")
    source = tmp_path / "phone.mp4"
    await trio.to_thread.run_sync(_make_rotated_video, source)
    shown = await trio.to_thread.run_sync(_shown_picture, source)
    assert len(shown) == 240 * 320
    expected = _white_quarter(shown, 240, 320)
    assert expected != 0  # the tag does turn the picture

    upload_id = await _upload(server, token, source.read_bytes(), filename="phone.mp4")
    events = await _follow_events(server, token, upload_id)
    assert events[-1]["state"] == "ready", events[-1]
    video_id = events[-1]["video_id"]
    detail = (await server.client.get(f"/api/videos/{video_id}")).json()["video"]
    assert detail["renditions"]
    for rendition in detail["renditions"]:
        name = rendition["name"]
        playlist = (await server.client.get(f"/videos/{video_id}/{name}/index.m3u8")).text
        first = next(line for line in playlist.splitlines() if line.endswith(".ts"))
        url = f"/videos/{video_id}/{name}/{first}"
        local = await fetch_file(server.client, url, tmp_path / name / first)
        gray, width, height = _first_picture(local)
        assert width < height, (name, width, height)
        assert _white_quarter(gray, width, height) == expected, name
    poster = await server.client.get(f"/videos/{video_id}/poster.jpg")
    (tmp_path / "poster.jpg").write_bytes(poster.content)
    gray, width, height = _first_picture(tmp_path / "poster.jpg")
    assert width < height
    assert _white_quarter(gray, width, height) == expected


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_media_jobs_run_at_nice_plus_10(server: Server, tmp_path: Path) -> None:
    token, _ = await server.register("alice")
    source = tmp_path / "in.mp4"
    make_video(source, seconds=2)
    own = os.getpriority(os.PRIO_PROCESS, 0)
    seen: dict[int, set[int]] = {}

    async def watch_job_children() -> None:
        while True:
            for pid, nice in job_children().items():
                seen.setdefault(pid, set()).add(nice)
            await trio.sleep(0.005)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch_job_children)
        upload_id = await _upload(server, token, source.read_bytes(), filename="in.mp4")
        events = await _follow_events(server, token, upload_id)
        nursery.cancel_scope.cancel()
    assert events[-1]["state"] == "ready", events[-1]
    assert seen, "no job child process was seen"
    # A child starts at the server's priority and lowers its own as its first step.
    lowered = min(own + 10, 19)
    for values in seen.values():
        assert values <= {own, lowered}
    assert any(lowered in values for values in seen.values()), seen


@pytest.mark.slow
async def test_unchecked_a_file_that_is_not_a_video_fails_in_its_job(server: Server) -> None:
    # TRIOFLIX_CHECK_UPLOADS=off (the tests' default): the job finds out.
    token, _ = await server.register("alice")
    upload_id = await _upload(
        server, token, b"this is a text file, not a film\n" * 100, filename="notes.mp4"
    )
    events = await _follow_events(server, token, upload_id)
    final = events[-1]
    assert final["state"] == "failed"
    assert job_work_dirs(server) == []  # a failed attempt leaves no files either
    assert "not a media file" in final["reason"] or "no video stream" in final["reason"]
    listed = (
        await server.client.get("/api/videos", params={"mine": "1"}, headers=auth(token))
    ).json()
    assert (
        listed["videos"][0]["state"] == "failed"
        and listed["videos"][0]["failure"] == final["reason"]
    )
    assert (
        await server.client.get(f"/api/videos/{final['video_id']}")
    ).status_code == 404  # not public
    # The source stays for its owner until the video is deleted, and goes with it.
    objects = server.app.trioflix.objects
    assert [info.key for info in await objects.list_prefix("uploads/")] == [
        f"uploads/{upload_id}/data"
    ]
    deleted = await server.client.delete(f"/api/videos/{final['video_id']}", headers=auth(token))
    assert deleted.status_code == 204
    assert await objects.list_prefix("uploads/") == []


@pytest.mark.backends("sqlite", reason="the storage is the point; the database does not matter")
@pytest.mark.settings(check_uploads=True)
async def test_a_file_that_is_not_a_video_is_refused_at_once(
    server: Server, media_storage: str
) -> None:
    token, _ = await server.register("alice")
    upload_id = await _upload(
        server, token, b"this is a text file, not a film\n" * 100, filename="notes.mp4"
    )
    # Refused when its last byte arrived: no "processing" first, no job.
    status = (
        await server.client.get(f"/api/upload/status/{upload_id}", headers=auth(token))
    ).json()["upload"]
    reason = "This file is not a video we can play (it is not a media file we can read)."
    assert status["state"] == "failed" and status["reason"] == reason, status
    assert await server.app.trioflix.db.fetchval("SELECT count(*) FROM jobs") == 0
    objects = server.app.trioflix.objects
    assert await objects.list_prefix("uploads/") == []  # its bytes are gone
    listed = (
        await server.client.get("/api/videos", params={"mine": "1"}, headers=auth(token))
    ).json()
    assert [(v["state"], v["failure"]) for v in listed["videos"]] == [("failed", reason)]
    assert (
        await server.client.get(f"/api/videos/{status['video_id']}")
    ).status_code == 404  # not public
    deleted = await server.client.delete(f"/api/videos/{status['video_id']}", headers=auth(token))
    assert deleted.status_code == 204
    gone = await server.client.get(f"/api/upload/status/{upload_id}", headers=auth(token))
    assert gone.json()["upload"]["reason"] == "the video was deleted"
