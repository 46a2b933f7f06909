"""Shared helpers for the upload tests: tus requests by hand, sample media made with PyAV."""

from __future__ import annotations

import base64
import hashlib
from fractions import Fraction
from typing import TYPE_CHECKING

import av

if TYPE_CHECKING:
    from pathlib import Path

    import httpx

TUS = "/api/upload/video/tus"
V = {"Tus-Resumable": "1.0.0"}
STREAM = {"Content-Type": "application/offset+octet-stream"}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def metadata(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def create(client: httpx.AsyncClient, token: str, length: int | None, **headers: str) -> str:
    """POST a new upload; returns its path."""
    h = {**V, **auth(token), **headers}
    if length is not None:
        h["Upload-Length"] = str(length)
    response = await client.post(TUS, headers=h)
    assert response.status_code == 201, response.text
    location = response.headers["Location"]
    assert location.startswith(TUS + "/")
    return location


async def patch(
    client: httpx.AsyncClient, token: str, path: str, offset: int, data: bytes, **headers: str
) -> httpx.Response:
    return await client.patch(
        path,
        content=data,
        headers={**V, **STREAM, **auth(token), "Upload-Offset": str(offset), **headers},
    )


async def head(client: httpx.AsyncClient, token: str, path: str) -> httpx.Response:
    return await client.head(path, headers={**V, **auth(token)})


def make_video(
    path: Path,
    *,
    seconds: float = 3.0,
    width: int = 320,
    height: int = 240,
    fps: int = 25,
    black_until: float = 0.0,
) -> None:
    """A small H.264 + AAC MP4: black until ``black_until`` seconds, then a moving
    gradient, with a silent stereo track."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"preset": "ultrafast"}
        audio = out.add_stream("aac", rate=48000)
        audio.layout = "stereo"
        frames = int(seconds * fps)
        for i in range(frames):
            frame = av.VideoFrame(width, height, "yuv420p")
            for index, plane in enumerate(frame.planes):
                if i < black_until * fps:
                    row = bytes([16 if index == 0 else 128]) * plane.line_size
                else:
                    row = bytes(
                        (x * 2 + 5 * i + 60 * index) % 200 + 30 for x in range(plane.line_size)
                    )
                plane.update(row * plane.height)
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            for packet in video.encode(frame):
                out.mux(packet)
        samples_per_frame = 1024
        for n in range(int(seconds * 48000 / samples_per_frame)):
            sound = av.AudioFrame(format="fltp", layout="stereo", samples=samples_per_frame)
            silence = bytes(4 * samples_per_frame)
            for channel in sound.planes:
                channel.update(silence)
            sound.sample_rate = 48000
            sound.pts = n * samples_per_frame
            sound.time_base = Fraction(1, 48000)
            for packet in audio.encode(sound):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        for packet in audio.encode():
            out.mux(packet)
