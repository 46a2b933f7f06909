"""WHEP playback: the server's CPU per WebRTC viewer, and what trio-asyncio adds to it.

``python -m bench.webrtc [--viewers 0,2,4,8] [--seconds 10]`` serves trioflix in a
process of its own (SQLite, no ladder, no HLS, host candidates on 127.0.0.1),
publishes a 360p30 H.264 (no B-frames) + AAC sample with ffmpeg, and connects
WHEP viewers made with aiortc in this process; for each number of viewers it
reads the server's CPU time over the window. It then times the one thing the
trio-asyncio placement adds per packet: a call from an aiortc sender's task into
Trio (``trio_as_aio``), against an asyncio queue's ``get`` (what a child process
running aiortc alone would do instead, before its pipe read).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx
import trio
import trio_asyncio

from bench._proc import HOST, cpu_seconds, free_port
from tests.interop.media import make_sample
from tests.interop.whep_client import WHEPViewer, close_viewer, connected, whep_offer

CALLS = 20_000


async def _start_server(data: Path) -> tuple[trio.Process, str, str]:
    http, rtmp = free_port(), free_port()
    env = {
        **os.environ,
        "TRIOFLIX_DATA_DIR": str(data),
        "TRIOFLIX_HTTP": f"{HOST}:{http}",
        "TRIOFLIX_RTMP": f"{HOST}:{rtmp}",
        "TRIOFLIX_HLS": "off",
        "TRIOFLIX_WEBRTC_ADDRESSES": HOST,
        "TRIOFLIX_LOG_LEVEL": "WARNING",
    }
    env.pop("DATABASE_URL", None)
    process = await trio.lowlevel.open_process([sys.executable, "-m", "trioflix", "serve"], env=env)
    url = f"http://{HOST}:{http}"
    async with httpx.AsyncClient() as client:
        with trio.fail_after(30):
            while True:
                try:
                    if (await client.get(f"{url}/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await trio.sleep(0.1)
    return process, url, f"rtmp://{HOST}:{rtmp}/live"


async def _measure(counts: list[int], seconds: float) -> None:
    with tempfile.TemporaryDirectory() as work:
        sample = make_sample(Path(work) / "s.flv", seconds=300, gop=60, bframes=0)
        server, url, rtmp = await _start_server(Path(work) / "data")
        try:
            async with httpx.AsyncClient(base_url=url) as client, trio_asyncio.open_loop() as loop:
                token = (
                    await client.post(
                        "/api/auth/register", json={"username": "bench", "password": "x" * 12}
                    )
                ).json()["token"]
                key = (
                    await client.post(
                        "/api/streaming/keys", headers={"Authorization": f"Bearer {token}"}
                    )
                ).json()["key"]["key"]
                publisher = await trio.lowlevel.open_process(
                    [
                        "ffmpeg",
                        "-loglevel",
                        "error",
                        "-re",
                        "-i",
                        str(sample.path),
                        "-c",
                        "copy",
                        "-f",
                        "flv",
                        f"{rtmp}/{key}",
                    ]
                )
                await trio.sleep(3)
                viewers: list[WHEPViewer] = []
                print("viewers  server CPU %  per viewer (% of a core)")
                base = None
                for count in counts:
                    while len(viewers) < count:
                        viewer = await whep_offer(client, "/live/bench/whep", loop)
                        await connected(viewer, loop)
                        viewers.append(viewer)
                    await trio.sleep(2)
                    start_cpu, start = cpu_seconds(server.pid), time.monotonic()
                    await trio.sleep(seconds)
                    share = 100 * (cpu_seconds(server.pid) - start_cpu) / (time.monotonic() - start)
                    base = share if base is None else base
                    per = (share - base) / count if count else 0.0
                    frames = min((v.video_frames for v in viewers), default=0)
                    print(
                        f"{count:7d}  {share:12.1f}  {per:8.2f}   (least frames decoded: {frames})"
                    )
                for viewer in viewers:
                    await client.delete(viewer.location)
                    await close_viewer(viewer, loop)
                publisher.kill()
                await publisher.wait()
        finally:
            server.terminate()
            await server.wait()


async def _nothing() -> int:
    return 1


async def _adapter_cost() -> None:
    async with trio_asyncio.open_loop() as loop:

        async def through_trio() -> float:
            call = trio_asyncio.trio_as_aio(_nothing, loop=asyncio.get_running_loop())
            start = time.perf_counter()
            for _ in range(CALLS):
                await call()
            return (time.perf_counter() - start) / CALLS

        async def through_queue() -> float:
            queue: asyncio.Queue[int] = asyncio.Queue()
            start = time.perf_counter()
            for _ in range(CALLS):
                queue.put_nowait(1)
                await queue.get()
            return (time.perf_counter() - start) / CALLS

        trio_call = await trio_asyncio.aio_as_trio(through_trio, loop=loop)()
        queue_get = await trio_asyncio.aio_as_trio(through_queue, loop=loop)()
    print(f"aiortc task -> Trio (trio_as_aio): {trio_call * 1e6:.1f} us per packet")
    print(f"asyncio.Queue.get (a child's own loop): {queue_get * 1e6:.1f} us per packet")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--viewers", default="0,2,4,8")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    trio.run(_measure, [int(n) for n in args.viewers.split(",")], args.seconds)
    trio.run(_adapter_cost)


if __name__ == "__main__":
    main()
