"""Multitrack ingest benchmark: a three-rung HLS ladder sent by the encoder vs made by PyAV.

    python -m bench.multitrack             # from the repository root, in .venv
    python -m bench.multitrack --quick     # shorter window

The same 1080p30 H.264 picture reaches ``trioflix serve --hls-ladder 720p,480p,360p``
in two ways, each publisher ffmpeg 9 (the static build of ``imageio-ffmpeg``) with
``-re -c copy`` of a file made once:

- ``pyav``: one 1080p track; the server's ladder child process (PyAV, libx264
  ``veryfast``) transcodes 720p, 480p and 360p.
- ``multitrack``: four tracks, 1080p + 720p + 480p + 360p, encoded beforehand
  (enhanced RTMP v2 multitrack, as OBS's Enhanced Broadcasting sends them); the
  server passes every track through to its HLS variant and transcodes nothing.

Reported: server CPU seconds per stream-second (``/proc`` utime + stime of the server's
process tree, the ladder child included) over a window that starts once the last
rendition lists a segment, and the master playlist's variants.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import imageio_ffmpeg  # type: ignore[import-untyped]  # no type information shipped
import trio

from bench.hls import TrioflixHLS
from bench.live import HOST, cpu_seconds, serving

FFMPEG9 = imageio_ffmpeg.get_ffmpeg_exe()
LADDER = "720p,480p,360p"
SIZES = ["1920x1080", "1280x720", "854x480", "640x360"]
KBPS = [6000, 2800, 1400, 800]
WARMUP_S = 4.0  # the ladder child's start and first GOPs are not the steady state
SETTLE_LIMIT_S = 60.0  # every rendition lists a segment by then, or the run failed


class TrioflixLadder(TrioflixHLS):
    """``trioflix serve`` with live HLS and the three-rung ladder on."""

    def command(self) -> list[str]:
        return [*super().command(), "--hls", "on", "--hls-ladder", LADDER]


def make_source(path: Path, tracks: int, seconds: int) -> None:
    """``tracks`` H.264 encodings of one 1080p30 picture (2 s GOPs) + AAC, in one FLV."""
    encodes = []
    for index in range(tracks):
        encodes += [f"-s:v:{index}", SIZES[index], f"-b:v:{index}", f"{KBPS[index]}k"]
    subprocess.run(
        [
            FFMPEG9, "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
            "-t", str(seconds), *["-map", "0:v"] * tracks, "-map", "1:a",
            "-c:v", "libx264", "-preset", "veryfast", "-g", "60", *encodes,
            "-c:a", "aac", "-b:a", "128k", "-f", "flv", str(path),
        ],
        check=True,
    )  # fmt: skip


async def _publish(source: Path, url: str, seconds: float, log: Path) -> None:
    with log.open("ab") as errors:
        await trio.run_process(
            [
                FFMPEG9, "-hide_banner", "-nostdin", "-loglevel", "error", "-re",
                "-stream_loop", "-1", "-i", str(source), "-map", "0", "-c", "copy",
                "-t", f"{seconds:g}", "-f", "flv", url,
            ],
            check=False,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )  # fmt: skip


async def _renditions_listed(client: httpx.AsyncClient, channel: str) -> list[str]:
    """The master playlist's variant URIs once every one lists a segment."""
    deadline = time.monotonic() + SETTLE_LIMIT_S
    while time.monotonic() < deadline:
        master = await client.get(f"/live/{channel}/master.m3u8")
        uris = [line for line in master.text.splitlines() if line and not line.startswith("#")]
        if master.status_code == 200 and len(uris) == len(SIZES):
            return [uri.split("?")[0] for uri in uris]
        await trio.sleep(0.5)
    raise TimeoutError(f"{channel}: the master playlist never listed {len(SIZES)} variants")


async def measure(workdir: Path, source: Path, label: str, window_s: float) -> dict[str, Any]:
    server = TrioflixLadder(workdir / label)
    server.workdir.mkdir()
    async with serving(server, label) as running, trio.open_nursery() as nursery:
        await server.create_channels(1)
        seconds = SETTLE_LIMIT_S + WARMUP_S + window_s
        log = server.workdir / "ffmpeg.log"
        nursery.start_soon(_publish, source, server.publish_url(0), seconds, log)
        async with httpx.AsyncClient(base_url=f"http://{HOST}:{server.http_port}") as client:
            variants = await _renditions_listed(client, server.channel(0))
            await trio.sleep(WARMUP_S)
            cpu0, t0 = cpu_seconds(running.pid), time.monotonic()
            await trio.sleep(window_s)
            cpu1, t1 = cpu_seconds(running.pid), time.monotonic()
        nursery.cancel_scope.cancel()
    return {
        "variants": variants,
        "window_s": round(t1 - t0, 2),
        "cpu_s": round(cpu1 - cpu0, 3),
        "cpu_per_stream_s": round((cpu1 - cpu0) / (t1 - t0), 4),
    }


async def run(window_s: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="trioflix-bench-multitrack-") as tmp:
        workdir = Path(tmp)
        single, multi = workdir / "single.flv", workdir / "multitrack.flv"
        await trio.to_thread.run_sync(make_source, single, 1, 20)
        await trio.to_thread.run_sync(make_source, multi, len(SIZES), 20)
        return {
            "ffmpeg": FFMPEG9.rsplit("-", 1)[-1],
            "ladder": LADDER,
            "pyav": await measure(workdir, single, "pyav", window_s),
            "multitrack": await measure(workdir, multi, "multitrack", window_s),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 10 s window instead of 30 s")
    args = parser.parse_args()
    result = trio.run(run, 10.0 if args.quick else 30.0)
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
