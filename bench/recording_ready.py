"""Recording benchmark: from the end of a live stream to a watchable video, then to its ladder.

    nox -s bench -- recording_ready              # a 5-minute 720p stream
    nox -s bench -- recording_ready --seconds 30
    python -m bench.recording_ready --help       # from the repository root, in .venv

One ``trioflix serve`` process (SQLite, media on local disk, no live ladder)
records a stream that ffmpeg publishes in real time (``-re -c copy``) from a
file made beforehand: 1280x720 at 30 fps, H.264 at 2.5 Mbit/s with a keyframe
every 2 s, AAC, as OBS sends. When ffmpeg has sent the end of the stream, the
client polls ``/api/videos?mine=1`` every 0.1 s and reports how long until the
recording is ``ready`` (watchable as streamed, one ``source`` rendition) and
how long until its ladder and thumbnails are made too; ffprobe then reads the
ready video's master playlist over HTTP to check that it lasts the stream.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench._machine import load_average, machine, report_header, run_in_workdir
from bench._proc import free_port
from bench.vod_serving import trioflix_serve

HOST = "127.0.0.1"
POLL_S = 0.1
LADDER_TIMEOUT_S = 3600.0
BITRATE = "2500k"
GOP_FRAMES = 60  # 2 s at 30 fps, as streaming guides tell OBS users


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise SystemExit(f"{name} is needed on PATH")
    return path


def _make_source(path: Path, seconds: int) -> None:
    subprocess.run(
        [
            *(_tool("ffmpeg"), "-hide_banner", "-loglevel", "error", "-y"),
            *("-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30"),
            *("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"),
            *("-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-b:v", BITRATE),
            *("-maxrate", BITRATE, "-bufsize", "5000k", "-g", str(GOP_FRAMES)),
            *("-c:a", "aac", "-b:a", "128k", "-f", "flv", str(path)),
        ],
        check=True,
    )


def _video(client: httpx.Client, token: str) -> dict[str, Any] | None:
    answer = client.get(
        "/api/videos", params={"mine": "1"}, headers={"Authorization": f"Bearer {token}"}
    )
    answer.raise_for_status()
    videos: list[dict[str, Any]] = answer.json()["videos"]
    return videos[0] if videos else None


def _wait(client: httpx.Client, token: str, done: str) -> tuple[float, dict[str, Any]]:
    """Seconds (monotonic clock) at which the video first met ``done``, and the video."""
    deadline = time.monotonic() + LADDER_TIMEOUT_S
    while time.monotonic() < deadline:
        video = _video(client, token)
        if video is not None:
            if video["state"] == "failed":
                raise RuntimeError(f"the recording failed: {video['failure']}")
            if video["state"] == "ready" and (done == "ready" or video["ladder"] is None):
                return time.monotonic(), video
        time.sleep(POLL_S)
    raise RuntimeError(f"the recording was not {done} within {LADDER_TIMEOUT_S} s")


def run(workdir: Path, seconds: int) -> dict[str, Any]:
    source = workdir / "stream.flv"
    started = time.monotonic()
    _make_source(source, seconds)
    print(f"source made in {time.monotonic() - started:.0f} s", file=sys.stderr)
    rtmp_port = free_port()
    env = {"TRIOFLIX_RTMP": f"{HOST}:{rtmp_port}", "TRIOFLIX_HLS_LADDER": "off"}
    meta: dict[str, Any] = {
        "machine": machine(),
        "command": "python -m bench.recording_ready " + " ".join(sys.argv[1:]),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_start": load_average(),
    }
    with trioflix_serve(workdir / "data", env) as (url, _), httpx.Client(base_url=url) as client:
        answer = client.post(
            "/api/auth/register", json={"username": "bench", "password": "password1"}
        )
        answer.raise_for_status()
        token = answer.json()["token"]
        keys = client.post("/api/streaming/keys", headers={"Authorization": f"Bearer {token}"})
        keys.raise_for_status()
        key = keys.json()["key"]["key"]
        subprocess.run(
            [
                *(_tool("ffmpeg"), "-hide_banner", "-loglevel", "error", "-re", "-i", str(source)),
                *("-c", "copy", "-f", "flv", f"rtmp://{HOST}:{rtmp_port}/live/{key}"),
            ],
            check=True,
            stdin=subprocess.DEVNULL,
        )
        ended = time.monotonic()
        ready_at, ready = _wait(client, token, "ready")
        probe = subprocess.run(
            [
                *(_tool("ffprobe"), "-v", "error", "-show_entries", "format=duration"),
                *("-of", "json", f"{url}{ready['playback']['hls']}"),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        complete_at, _ = _wait(client, token, "complete")
    return {
        "meta": meta,
        "stream_s": seconds,
        "ready_s": round(ready_at - ended, 1),
        "ready_duration_s": float(json.loads(probe.stdout)["format"]["duration"]),
        "ladder_s": round(complete_at - ended, 1),
    }


def render(report: dict[str, Any]) -> str:
    header = report_header(
        report["meta"],
        versions=report["meta"]["machine"]["ffmpeg"],
        servers={"trioflix": "one `trioflix serve`, SQLite, media on local disk, no live ladder"},
    )
    return "\n".join(
        [
            header,
            "",
            "| stream | watchable after its end | its duration (ffprobe) | ladder made after it |",
            "|---|---|---|---|",
            f"| {report['stream_s']} s, 720p30, 2.5 Mbit/s | {report['ready_s']} s"
            f" | {report['ready_duration_s']:.1f} s | {report['ladder_s']} s |",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--seconds", type=int, default=300, help="the stream's length")
    parser.add_argument("--json", type=Path, help="also write the report here")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)
    report = run_in_workdir(
        lambda workdir: run(workdir, args.seconds),
        prefix="trioflix-recording-bench-",
        keep=args.keep,
        json_path=args.json,
    )
    print(render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
