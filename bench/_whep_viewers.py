"""WHEP viewers for the benchmarks: many aiortc peer connections in one asyncio process.

Each viewer offers to receive H.264 and Opus, as a browser does, posts the offer
to the channel's WHEP URL and connects (ICE on loopback, DTLS). What arrives is
decrypted (SRTP) and counted, not decoded: each receiver's packet handler is
replaced by one that adds up payload bytes and counts video frames (an RTP
packet with the marker bit ends a frame, RFC 6184 5.1), so a process holds
dozens of 3 Mbit/s viewers where decoding would take a core for a few.

Run as a process (``python -m bench._whep_viewers --help``): ``--count`` viewers
connect spread over ``--ramp-s``; once every one is connected (or has failed) the
process prints ``ready`` and reads the measurement window from stdin, ``START
END`` in ``time.monotonic()`` values (one clock for every process of the
machine): on a loaded machine connecting takes a time no fixed window foresees.
The viewers count inside the window, leave (DELETE) just after it, and the
process prints one JSON object with every viewer's figures and its own CPU over
the window, so the orchestrator sees when the clients, not the server, were
short of CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import resource
import sys
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import httpx
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

if TYPE_CHECKING:
    from aiortc.rtp import RtpPacket

__all__ = ["WHEPResult"]

CONNECT_TIMEOUT_S = 30.0  # offer, answer, ICE and DTLS on a loaded machine
LEAVE_TIMEOUT_S = 10.0


@dataclass
class WHEPResult:
    """What one viewer received. Bytes are RTP payload bytes (after SRTP).

    Attributes:
        connected_s: From the offer to the connected state; ``None`` if never.
        window_video_bytes: Video payload bytes received inside the window.
        window_audio_bytes: Audio payload bytes received inside the window.
        window_frames: Video frames completed (marker bit) inside the window.
        video_packets: Video RTP packets received in all.
        error: Why the viewer did not get going.
    """

    connected_s: float | None = None
    window_video_bytes: int = 0
    window_audio_bytes: int = 0
    window_frames: int = 0
    video_packets: int = 0
    error: str | None = None


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _window_cores(window: list[float]) -> float:
    """This process's CPU over ``window``, in cores (1.0: it used a whole core)."""
    await asyncio.sleep(max(0.0, window[0] - time.monotonic()))
    cpu, start = _cpu_s(), time.monotonic()
    await asyncio.sleep(max(0.0, window[1] - time.monotonic()))
    return (_cpu_s() - cpu) / (time.monotonic() - start)


def _counting(result: WHEPResult, kind: str, window: list[float]) -> Any:
    async def handle(packet: RtpPacket, arrival_time_ms: int) -> None:
        in_window = window[0] <= time.monotonic() < window[1]
        if kind == "video":
            result.video_packets += 1
            if in_window:
                result.window_video_bytes += len(packet.payload)
                result.window_frames += packet.marker
        elif in_window:
            result.window_audio_bytes += len(packet.payload)

    return handle


async def _watch(
    client: httpx.AsyncClient, path: str, result: WHEPResult, window: list[float]
) -> tuple[RTCPeerConnection, str | None]:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    for kind in ("video", "audio"):
        receiver = pc.addTransceiver(kind, direction="recvonly").receiver
        # An instance attribute: aiortc's DTLS transport hands each decrypted packet to it.
        receiver._handle_rtp_packet = _counting(result, kind, window)  # type: ignore[method-assign]
    started = time.monotonic()
    connected = asyncio.Event()

    @pc.on("connectionstatechange")
    def _changed() -> None:
        if pc.connectionState == "connected":
            connected.set()

    await pc.setLocalDescription(await pc.createOffer())
    response = await client.post(
        path, content=pc.localDescription.sdp, headers={"Content-Type": "application/sdp"}
    )
    if response.status_code != 201:
        result.error = f"offer answered {response.status_code}"
        return pc, None
    await pc.setRemoteDescription(RTCSessionDescription(sdp=response.text, type="answer"))
    try:
        await asyncio.wait_for(connected.wait(), CONNECT_TIMEOUT_S)
    except TimeoutError:
        result.error = f"not connected after {CONNECT_TIMEOUT_S:.0f} s ({pc.connectionState})"
    else:
        result.connected_s = time.monotonic() - started
    return pc, response.headers["Location"]


async def run_audience(
    base_url: str, path: str, *, count: int, ramp_s: float
) -> tuple[list[WHEPResult], float]:
    """``count`` viewers, the i-th offering ``i * ramp_s / count`` from now, counting in
    the window read from stdin once all are connected: their figures, and this
    process's cores over the window."""
    results = [WHEPResult() for _ in range(count)]
    sessions: list[tuple[RTCPeerConnection, str | None]] = []
    window = [math.inf, math.inf]
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=base_url, timeout=CONNECT_TIMEOUT_S) as client:

        async def one(index: int) -> None:
            await asyncio.sleep(max(0.0, started + index * ramp_s / count - time.monotonic()))
            try:
                sessions.append(await _watch(client, path, results[index], window))
            except (httpx.HTTPError, OSError) as exc:
                results[index].error = repr(exc)

        await asyncio.gather(*(one(index) for index in range(count)))
        print("ready", flush=True)
        line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        window[:] = [float(value) for value in line.split()]
        cores = await _window_cores(window)

        async def leave(pc: RTCPeerConnection, location: str | None) -> None:
            if location is not None:
                with contextlib.suppress(httpx.HTTPError):
                    await client.delete(location)
            await pc.close()

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*(leave(pc, location) for pc, location in sessions)),
                LEAVE_TIMEOUT_S,
            )
    return results, cores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="the server, e.g. http://127.0.0.1:8000")
    parser.add_argument("--path", required=True, help="the WHEP path, e.g. /live/alice/whep")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--ramp-s", type=float, default=0.0)
    args = parser.parse_args(argv)
    results, cores = asyncio.run(
        run_audience(args.url, args.path, count=args.count, ramp_s=args.ramp_s)
    )
    json.dump(
        {"cpu_s": _cpu_s(), "window_cores": cores, "viewers": [asdict(r) for r in results]},
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
