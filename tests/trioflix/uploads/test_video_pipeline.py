"""From a tus upload to a playable HLS video with thumbnails, checked with real decoders."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import av
import pytest
import trio

from tests.interop.media import ffprobe

from .helpers import auth, create, make_video, metadata, patch

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
async def test_upload_becomes_a_playable_video(server: Server, tmp_path: Path) -> None:
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
    video_dir = server.settings.data_dir / "videos" / str(video_id)
    keyframe_times: list[list[float]] = []
    for rendition in ("480p", "360p"):
        playlist = (await server.client.get(f"/videos/{video_id}/{rendition}/index.m3u8")).text
        assert playlist.rstrip().endswith("#EXT-X-ENDLIST")
        segments = [line for line in playlist.splitlines() if line.endswith(".ts")]
        times = []
        for segment in segments:
            with av.open(str(video_dir / rendition / segment)) as container:
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


def _poster_luma(path: Path) -> float:
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0)).reformat(16, 9, format="gray")
    plane = frame.planes[0]
    data = bytes(plane)
    values = [data[r * plane.line_size + x] for r in range(9) for x in range(16)]
    return sum(values) / len(values)


@pytest.mark.slow
async def test_a_file_that_is_not_a_video_fails_with_a_reason(server: Server) -> None:
    token, _ = await server.register("alice")
    upload_id = await _upload(
        server, token, b"this is a text file, not a film\n" * 100, filename="notes.mp4"
    )
    events = await _follow_events(server, token, upload_id)
    final = events[-1]
    assert final["state"] == "failed"
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
