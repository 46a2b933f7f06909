"""WHEP viewers per core against HTTP-FLV viewers per core, and where a WHEP viewer's CPU goes.

    python -m bench.webrtc [--viewers 0,25,50,100] [--baseline SRC]

Live part: trioflix serves (HLS off, host candidates on 127.0.0.1) the 3 Mbit/s
720p30 H.264 (no B-frames) + AAC sample of ``bench/live.py``, published by
ffmpeg ``-re -c copy``. For each number of viewers a fresh server gets that many
WHEP viewers, aiortc peer connections in processes of their own
(``bench/_whep_viewers.py``, :data:`WHEP_PER_PROCESS` each: they count the
SRTP packets without decrypting them, but for :data:`DECODING` in the first
process, which decode what they get), so the server's CPU is its own; over a
window once every viewer is connected: the server's cores, each viewer's
delivered video bitrate and frame rate, the frames the decoding viewers decoded,
and the viewers starved (below :data:`STARVED` of the source's video bitrate or
frame rate). With ``--baseline SRC`` the same runs against another
checkout's trioflix (its ``trioflix`` imported through ``PYTHONPATH``), level by
level alternating with this one, so both see the same machine. After each
level, HTTP-FLV viewers of this checkout at the same count
(:func:`bench.live.fanout`): viewers per core for both protocols.

Cost part, in this process: the time per packet of each step a WHEP viewer's
video takes, on the sample's own frames: the FLV frame to Annex B, aiortc's H.264
packetiser, the RTP header, SRTP (pylibsrtp), ``sendto`` on loopback; a viewer's
whole video sender to an aiortc peer on loopback, aiortc's own loop against
trioflix's, and a packet's way to the socket, through aiortc's coroutines against
trioflix's, one ``sendto`` a packet and a frame in one ``sendmsg`` with UDP GSO
(:func:`sender_costs`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from fractions import Fraction
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from bench import live
from bench._machine import load_average, machine
from bench._proc import HOST, exit_on_sigterm
from bench._rtmp_publisher import read_media_tags
from protocols import flv
from trioflix.live.channel.packets import Kind, Packet
from trioflix.live.webrtc.outlet import Outlet
from trioflix.live.webrtc.video import VideoConverter

if TYPE_CHECKING:
    from trioflix.live.webrtc.udp_gso import SegmentedSender

WHEP_PER_PROCESS = 25  # counted viewers: ~10000 datagrams/s a process, spread over the cores
DECODING = 2  # viewers that decrypt and decode: proof that the media is valid, at ~0.1 core each
RAMP_S = 5.0  # offers spread over this: each costs the server an ICE gathering and a DTLS
WARMUP_S = 3.0  # after the last viewer connected: the primed GOPs are sent
LEAVE_S = 20.0  # a viewer process's DELETEs and closes, once its window is over
WINDOW_S = 10.0
STARVED = 0.95  # below 95% of the source's video bitrate or frame rate
CALLS = 20_000
COST_FRAMES = 300  # 10 s of the sample
SEND_PATH_ROUNDS = 3
SEND_PATH_BATCH = 11  # RTP packets per frame of the sample, about
FLV_PLAN = live.Plan((), 0.0, (), WINDOW_S, 2.0, 0.0, 0, (), 0)


class WHEPTrioflix(live.Trioflix):
    """``trioflix serve`` as ``bench/live.py`` runs it, WebRTC on 127.0.0.1; with
    ``source``, another checkout's."""

    def __init__(self, workdir: Path, source: Path | None = None) -> None:
        super().__init__(workdir)
        self.source = source
        if source is not None:
            self.name = "trioflix-baseline"
            self.data_dir = workdir / f"{self.name}-data"

    def command(self) -> list[str]:
        command = [*super().command(), "--webrtc-addresses", HOST]
        if self.source is None:
            return command
        return ["env", f"PYTHONPATH={self.source}", *command]

    def whep_path(self, index: int) -> str:
        return f"/live/{self.channel(index)}/whep"


# --- live ------------------------------------------------------------------------------------


class _ViewerProcess:
    """One ``bench._whep_viewers`` process: told its window once it says ``ready``."""

    def __init__(self, server: WHEPTrioflix, count: int, decoding: int) -> None:
        self.command = [
            sys.executable,
            "-m",
            "bench._whep_viewers",
            "--url",
            f"http://{HOST}:{server.http_port}",
            "--path",
            server.whep_path(0),
            "--count",
            str(count),
            "--decoding",
            str(decoding),
            "--ramp-s",
            repr(RAMP_S),
        ]
        self.ready = trio.Event()
        self.window: tuple[float, float] | None = None
        self.window_set = trio.Event()
        self.output: dict[str, Any] = {}

    async def run(self) -> None:
        process = await trio.lowlevel.open_process(
            self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=live.REPOSITORY
        )
        assert process.stdin is not None and process.stdout is not None
        try:
            out = b""
            while b"ready\n" not in out:
                data = await process.stdout.receive_some(65536)
                if not data:
                    raise RuntimeError(f"WHEP viewers ended before ready: {out!r}")
                out += data
            out = out.split(b"ready\n", 1)[1]
            self.ready.set()
            await self.window_set.wait()
            assert self.window is not None
            await process.stdin.send_all(f"{self.window[0]!r} {self.window[1]!r}\n".encode())
            while data := await process.stdout.receive_some(65536):
                out += data
            self.output = json.loads(out)
        finally:
            with trio.move_on_after(LEAVE_S, shield=True):
                await process.wait()
            if process.returncode is None:
                process.kill()


async def publish_looped(sample: Path, url: str, log: Path) -> None:
    """ffmpeg ``-re -c copy`` of ``sample`` over and over, until cancelled: a phase
    lasts as long as connecting its viewers takes, which no sample's length bounds.
    An ffmpeg that gives up (a server too starved to read it in time) starts again."""
    with log.open("ab") as errors:
        while True:
            await trio.run_process(
                [
                    "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error",
                    "-re", "-stream_loop", "-1", "-i", str(sample), "-c", "copy", "-f", "flv", url,
                ],
                check=False,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=errors,
            )  # fmt: skip


async def whep_fanout(
    server: WHEPTrioflix, sample: Path, count: int, source: dict[str, float]
) -> dict[str, Any]:
    """``count`` WHEP viewers of one publisher on a fresh ``server``: its figures."""
    processes = [
        _ViewerProcess(server, count // parts + (part < count % parts), DECODING * (part == 0))
        for parts in [math.ceil(count / WHEP_PER_PROCESS)]
        for part in range(parts)
    ]
    async with (
        live.serving(server, f"whep-{count}") as running,
        trio.open_nursery() as nursery,
    ):
        log = server.workdir / f"ffmpeg-{server.name}-whep-{count}.log"
        nursery.start_soon(publish_looped, sample, server.publish_url(0), log)
        await live.wait_live(server, 0)
        connect_start = time.monotonic()
        async with trio.open_nursery() as viewers:
            for process in processes:
                viewers.start_soon(process.run)
            for process in processes:
                await process.ready.wait()
            connect_s = time.monotonic() - connect_start
            window = (time.monotonic() + WARMUP_S, time.monotonic() + WARMUP_S + WINDOW_S)
            for process in processes:
                process.window = window
                process.window_set.set()
            load = load_average()
            await live.sleep_until(window[0])
            cpu0, t0 = live.cpu_seconds(running.pid), time.monotonic()
            system0 = live.system_seconds(running.pid)
            await live.sleep_until(window[1])
            cpu1, t1 = live.cpu_seconds(running.pid), time.monotonic()
            system1 = live.system_seconds(running.pid)
        nursery.cancel_scope.cancel()
    # /proc counts in ticks (10 ms): a server that got no CPU over the window (the
    # publisher gone, or a machine too busy) reads 0, and its per-core figures inf.
    cores = (cpu1 - cpu0) / (t1 - t0) or math.ulp(0.0)
    figures = {
        "server": server.name,
        "viewers": count,
        "load": load,
        "server_cores": cores,
        # The kernel's part: system calls (sendto, sendmsg, recvfrom) and, on
        # loopback, the viewers' side of each datagram's delivery.
        "server_system_share": (system1 - system0) / max(cpu1 - cpu0, 1 / live.CLOCK_TICKS),
    }
    if not count:  # the publisher alone: what the viewers' figures are above
        return figures
    outputs = [process.output for process in processes]
    results = [v for out in outputs for v in out["viewers"]]
    rates = [v["window_video_bytes"] * 8 / WINDOW_S for v in results]
    fps = [v["window_frames"] / WINDOW_S for v in results]
    # Viewers at the source's bitrate that what was delivered adds up to: on a machine
    # too busy to give the server the CPU it asks for, the server's cores buy this many.
    delivered = sum(rates) / source["video_bps"]
    decoders = [v for v in results if v["decoding"]]
    return {
        **figures,
        "viewers_per_core": count / cores,
        "delivered_viewers": delivered,
        "delivered_viewers_per_core": delivered / cores,
        "connect_s": connect_s,
        "video_bps_min": min(rates),
        "video_bps_median": statistics.median(rates),
        "audio_bps_median": statistics.median(
            v["window_audio_bytes"] * 8 / WINDOW_S for v in results
        ),
        "fps_min": min(fps),
        "starved": sum(
            rate < STARVED * source["video_bps"] or rate_fps < STARVED * source["fps"]
            for rate, rate_fps in zip(rates, fps, strict=True)
        ),
        "not_connected": sum(v["connected_s"] is None for v in results),
        # The decoding viewers: their frames decoded, and what they were sent
        # against the counted viewers' median (the two ways of counting agree).
        "decoding": len(decoders),
        "decoded_fps_min": min(v["window_decoded_frames"] / WINDOW_S for v in decoders),
        "decoded_audio_fps_min": min(v["window_decoded_audio_frames"] / WINDOW_S for v in decoders),
        "decoded_sizes": sorted({str(v["decoded_size"]) for v in decoders}),
        "decoding_video_bps_min": min(v["window_video_bytes"] * 8 / WINDOW_S for v in decoders),
        "client_processes": len(processes),
        "client_cores_window_max": max(out["window_cores"] for out in outputs),
        # The first process holds the decoding viewers; the others only count.
        "client_cores_window": [out["window_cores"] for out in outputs],
        "errors_logged": running.errors_logged(),
    }


def source_rates(tags: list[flv.FLVTag]) -> dict[str, float]:
    """The sample's video bitrate (payload bytes, as RTP carries them) and frame rate."""
    video = [t for t in tags if t.tag_type == flv.TagType.VIDEO]
    seconds = (video[-1].timestamp_ms - video[0].timestamp_ms) / 1000
    return {
        "video_bps": sum(len(t.data) for t in video) * 8 / seconds,
        "fps": (len(video) - 1) / seconds,
    }


# --- costs -----------------------------------------------------------------------------------


def _per(fn: Any, items: list[Any]) -> float:
    """CPU seconds per item of ``fn`` over ``items`` (this thread's CPU time: on a
    shared machine, wall time counts the other processes' turns too)."""
    start = time.thread_time()
    for item in items:
        fn(item)
    return (time.thread_time() - start) / len(items)


def packet_costs(tags: list[flv.FLVTag]) -> dict[str, float]:
    """Microseconds per RTP packet of each step of a WHEP viewer's video, for one
    viewer, on the sample's frames."""
    import av
    import pylibsrtp
    from aiortc.codecs.h264 import H264Encoder
    from aiortc.rtp import RtpPacket

    video = [t for t in tags if t.tag_type == flv.TagType.VIDEO][:COST_FRAMES]
    packets = [
        Packet(Kind.VIDEO, t.timestamp_ms, t.data, keyframe=t.data[0] >> 4 == 1, config=i == 0)
        for i, t in enumerate(video)
    ]
    converter = VideoConverter()
    convert_s = _per(converter.convert, packets) * len(packets)
    units = [u for u in map(VideoConverter().convert, packets) if u is not None]
    encoder = H264Encoder()

    def pack(unit: Any) -> list[bytes]:
        packet = av.Packet(unit.data)
        packet.pts, packet.time_base = unit.pts_ms, Fraction(1, 1000)
        return encoder.pack(packet)[0]

    pack_s = _per(pack, units) * len(units)
    payloads = [p for unit in units for p in pack(unit)]

    def rtp(numbered: tuple[int, bytes]) -> bytes:
        # Numbered in sequence: SRTP refuses a sequence number it has protected.
        packet = RtpPacket(payload_type=102, sequence_number=numbered[0], timestamp=1)
        packet.ssrc, packet.payload, packet.marker = 1234, numbered[1], 0
        return packet.serialize()

    numbered = list(enumerate(payloads))
    rtp_s = _per(rtp, numbered) * len(payloads)
    datagrams = [rtp(n) for n in numbered]
    policy = pylibsrtp.Policy(
        key=bytes(range(30)),
        ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND,
        srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    )
    session = pylibsrtp.Session(policy)
    srtp_s = _per(session.protect, datagrams) * len(datagrams)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind((HOST, 0))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as out:
            out.setblocking(False)
            address = sink.getsockname()

            def send(datagram: bytes) -> None:
                try:
                    out.sendto(datagram, address)
                except BlockingIOError:
                    pass  # the sink's buffer is full: the send was still made

            sendto_s = _per(send, datagrams) * len(datagrams)
    count = len(payloads)
    return {
        "rtp_packets_per_frame": count / len(units),
        "flv_to_annex_b_us": convert_s / count * 1e6,
        "h264_packetise_us": pack_s / count * 1e6,
        "rtp_header_us": rtp_s / count * 1e6,
        "srtp_protect_us": srtp_s / count * 1e6,
        "sendto_us": sendto_s / count * 1e6,
    }


class _TimedFrames:
    """A PyAV track's frames, with the CPU time of its aiortc sender between taking a
    frame and asking for the next: the frame's whole way out (an aiortc sender
    sends all of a frame's packets without waiting), and nothing of the loop's
    other tasks (the receiving peer's)."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.busy_s = 0.0
        self._taken: float | None = None

    async def get(self) -> Any:
        if self._taken is not None:
            self.busy_s += time.thread_time() - self._taken
        item = await self.queue.get()
        self._taken = time.thread_time()
        return item


async def _send_frames(units: list[Any], lean: bool) -> tuple[float, int]:
    """CPU seconds of one viewer's video sender for ``units``, and its RTP packets:
    trioflix's stream (:mod:`trioflix.live.webrtc.rtp_sender`, through
    :func:`trioflix.live.webrtc.peer.answer`; each frame packetised and sent into
    the viewer's outlet, as the rendition's feed task does) or aiortc's own sending
    loop, handed PyAV packets (what the tracks did before); to a receiving aiortc
    peer on loopback."""
    import aioice.ice
    import av
    from aiortc import (
        MediaStreamTrack,
        RTCConfiguration,
        RTCPeerConnection,
        RTCRtpSender,
        RTCSessionDescription,
    )
    from aiortc.mediastreams import MediaStreamError

    from trioflix.live.webrtc.peer import answer
    from trioflix.live.webrtc.video_feed import VIDEO_CLOCK_PER_MS, _payloads

    class PyAVTrack(MediaStreamTrack):
        kind = "video"

        def __init__(self, frames: _TimedFrames) -> None:
            super().__init__()
            self._frames = frames

        async def recv(self) -> av.Packet[Any]:
            unit = await self._frames.get()
            if unit is None:
                raise MediaStreamError
            packet = av.Packet(unit.data)
            packet.pts, packet.time_base = unit.pts_ms, Fraction(1, 1000)
            return packet

    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: [HOST]
    frames = _TimedFrames()
    outlet = Outlet()
    viewer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    viewer.addTransceiver("video", direction="recvonly")
    await viewer.setLocalDescription(await viewer.createOffer())
    if lean:
        server = await answer(
            viewer.localDescription.sdp, outlet, Outlet, lambda state: None, (), None, None
        )
    else:
        server = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        server.addTransceiver(PyAVTrack(frames), direction="sendonly").setCodecPreferences(
            [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType == "video/H264"]
        )
        await server.setRemoteDescription(viewer.localDescription)
        await server.setLocalDescription(await server.createAnswer())
    await viewer.setRemoteDescription(
        RTCSessionDescription(sdp=server.localDescription.sdp, type="answer")
    )
    while server.connectionState != "connected" or (lean and not outlet.ready):  # noqa: ASYNC110 - aiortc has no event to wait on
        await asyncio.sleep(0.01)
    # At the source's pace, in batches (as the channel's task sends them): a receiver
    # flooded past its socket's buffer would make the sender's figure a lossy one.
    busy_s = 0.0
    for start in range(0, len(units), 10):
        for unit in units[start : start + 10]:
            if lean:
                taken = time.thread_time()
                outlet.send([(_payloads(unit), unit.pts_ms * VIDEO_CLOCK_PER_MS)])
                busy_s += time.thread_time() - taken
            else:
                frames.queue.put_nowait(unit)
        while frames.queue.qsize():  # noqa: ASYNC110 - the sender takes them on this loop
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)  # the last frame's packets
    (sender,) = server.getSenders()
    (outbound,) = [s for s in (await sender.getStats()).values() if s.type == "outbound-rtp"]
    await server.close()
    await viewer.close()
    return busy_s if lean else frames.busy_s, outbound.packetsSent


async def _send_paths() -> tuple[float, float, float]:
    """CPU microseconds per RTP packet from a sender's loop to the socket (SRTP and
    the system calls included), to an aiortc peer on loopback that no longer reads
    what it is sent: through aiortc's DTLS transport (``_send_rtp``, its coroutines
    and aioice's), and as trioflix's loop sends a frame of :data:`SEND_PATH_BATCH`
    packets of one size (its way to the socket looked up, each packet protected),
    with a ``sendto`` each (as when the kernel refuses UDP GSO) and all of them in
    one ``sendmsg`` with UDP GSO; alternated :data:`SEND_PATH_ROUNDS` times, the
    medians."""
    import aioice.ice
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

    from trioflix.live.webrtc.peer import answer
    from trioflix.live.webrtc.rtp_sender import _socket_path

    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: [HOST]
    viewer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    viewer.addTransceiver("video", direction="recvonly")
    await viewer.setLocalDescription(await viewer.createOffer())
    server = await answer(
        viewer.localDescription.sdp, Outlet(), Outlet, lambda state: None, (), None, None
    )
    await viewer.setRemoteDescription(
        RTCSessionDescription(sdp=server.localDescription.sdp, type="answer")
    )
    while server.connectionState != "connected":  # noqa: ASYNC110 - aiortc has no event to wait on
        await asyncio.sleep(0.01)
    # The viewer's side drops what arrives: only the sender's CPU is in the figure.
    for protocol in viewer.getTransceivers()[0].receiver.transport.transport._connection._protocols:
        protocol.datagram_received = lambda data, addr: None  # type: ignore[method-assign]
    dtls = server.getSenders()[0].transport
    # Numbered in sequence: SRTP refuses a sequence number it has protected.
    numbers = iter(range(3 * SEND_PATH_ROUNDS * CALLS))
    payload = bytes(1100)

    def packet() -> bytes:
        return struct.pack("!BBHII", 0x80, 102, next(numbers) & 0xFFFF, 0, 1234) + payload

    def one_by_one(dtls: Any, path: SegmentedSender | None) -> SegmentedSender:
        path = _socket_path(dtls, path)
        path.close()  # what a kernel's refusal leaves: the transport's sendto
        return path

    aiortc_path: list[float] = []
    direct: dict[Any, list[float]] = {one_by_one: [], _socket_path: []}
    for _ in range(SEND_PATH_ROUNDS):
        start = time.thread_time()
        for _ in range(CALLS):
            await dtls._send_rtp(packet())
        aiortc_path.append((time.thread_time() - start) / CALLS)
        await asyncio.sleep(0.1)  # the loopback socket's buffers drain
        for way, times in direct.items():
            path = None
            start = time.thread_time()
            for _ in range(CALLS // SEND_PATH_BATCH):
                path = way(dtls, path)
                protect = dtls._tx_srtp.protect
                path.send([protect(packet()) for _ in range(SEND_PATH_BATCH)])
            times.append((time.thread_time() - start) / CALLS)
            assert path is not None
            path.close()
            await asyncio.sleep(0.1)
    await server.close()
    await viewer.close()
    return (
        statistics.median(aiortc_path),
        statistics.median(direct[one_by_one]),
        statistics.median(direct[_socket_path]),
    )


def sender_costs(tags: list[flv.FLVTag]) -> dict[str, float]:
    """Microseconds per RTP packet of a viewer's whole video sender, aiortc's loop
    against trioflix's, on the sample's frames (a fresh asyncio loop each)."""
    video = [t for t in tags if t.tag_type == flv.TagType.VIDEO][:COST_FRAMES]
    packets = [
        Packet(Kind.VIDEO, t.timestamp_ms, t.data, keyframe=t.data[0] >> 4 == 1, config=i == 0)
        for i, t in enumerate(video)
    ]
    aiortc_path, one_by_one, segmented = asyncio.run(_send_paths())
    figures = {
        "aiortc_send_path_us": aiortc_path * 1e6,
        "trioflix_send_path_us": one_by_one * 1e6,
        "trioflix_gso_path_us": segmented * 1e6,
    }
    for name, lean in (("aiortc_sender_us", False), ("trioflix_sender_us", True)):
        # Fresh units each: they keep the payloads the first track made of them.
        units = [u for u in map(VideoConverter().convert, packets) if u is not None]
        busy_s, sent = asyncio.run(_send_frames(units, lean))
        figures[name] = busy_s / sent * 1e6
    return figures


# --- run -------------------------------------------------------------------------------------


async def flv_fanout(
    server: WHEPTrioflix, sample: Path, count: int, source_bps: float
) -> dict[str, Any]:
    """``count`` HTTP-FLV viewers of one publisher on a fresh ``server``: its figures,
    with the starved ones by the WHEP viewers' rule (all the file's bytes, FLV
    headers and audio too, against the file's rate)."""
    load = load_average()
    figures = await live.fanout(server, sample, count, FLV_PLAN, source_bps)
    return {
        **figures,
        "load": load,
        "viewers_per_core": count / figures["cpu_cores"],
        "starved": count - figures["full_rate"],
        "source_bps": source_bps,
    }


async def run(workdir: Path, counts: list[int], baseline: Path | None) -> dict[str, Any]:
    sample = await live.make_sample(Path.home() / ".cache" / "trioflix-bench")
    tags = read_media_tags(sample)
    source = source_rates(tags)
    meta = {
        "machine": machine(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_start": load_average(),
    }
    costs = {
        **packet_costs(tags),
        **await trio.to_thread.run_sync(sender_costs, tags),
    }
    servers = [WHEPTrioflix(workdir)]
    if baseline is not None:
        servers.append(WHEPTrioflix(workdir, baseline))
    for server in servers:
        async with live.serving(server, "setup"):
            await server.create_channels(1)
    flv_source_bps = sample.stat().st_size * 8 / live.SAMPLE_SECONDS
    whep, flv_rows = [], []
    # Level by level, WHEP and then HTTP-FLV at the same count: side by side on a
    # machine whose load changes from minute to minute.
    for count in counts:
        for server in servers:
            figures = await whep_fanout(server, sample, count, source)
            print(json.dumps(figures), file=sys.stderr)
            whep.append(figures)
        if count:
            figures = await flv_fanout(servers[0], sample, count, flv_source_bps)
            print(json.dumps(figures), file=sys.stderr)
            flv_rows.append(figures)
    meta["load_end"] = load_average()
    return {"meta": meta, "source": source, "costs": costs, "whep": whep, "flv": flv_rows}


def render(report: dict[str, Any]) -> str:
    """The tables of ``docs/benchmarks.md`` for this run."""
    meta, source, costs = report["meta"], report["source"], report["costs"]
    lines = [
        f"Machine: {meta['machine']['cpu']}; Python {meta['machine']['python']}",
        f"Date: {meta['date']}; load average {meta['load_start']} at the start,"
        f" {meta['load_end']} at the end",
        f"Source video: {source['video_bps'] / 1e6:.2f} Mbit/s, {source['fps']:.0f} fps",
        "",
        "| server | WHEP viewers | load (1/5/15) | server cores (system's share)"
        " | viewers per core"
        " | video Mbit/s min / median | fps min | starved | not connected"
        " | decoding viewers: fps min, audio frames/s min, size"
        " | client cores: decoding process, max counting one | all connected after (s)"
        " | delivered, in full-rate viewers | the same per server core |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    alone = {r["server"]: r["server_cores"] for r in report["whep"] if r["viewers"] == 0}
    for row in report["whep"]:
        if row["viewers"] == 0:
            lines.append(
                f"| {row['server']} | 0 | {row['load']} | {row['server_cores']:.2f} |" + " |" * 10
            )
            continue
        per_core = f"{row['viewers_per_core']:.0f}"
        counting = max(row["client_cores_window"][1:], default=None)
        counting = "-" if counting is None else f"{counting:.2f}"
        if row["server"] in alone:  # and per viewer, the publisher's own share taken out
            each = (row["server_cores"] - alone[row["server"]]) / row["viewers"]
            per_core += f" ({each * 100:.2f}% of a core each)"
        lines.append(
            f"| {row['server']} | {row['viewers']} | {row['load']} | {row['server_cores']:.2f}"
            f" ({row['server_system_share']:.0%}) | {per_core} | {row['video_bps_min'] / 1e6:.2f} /"
            f" {row['video_bps_median'] / 1e6:.2f} | {row['fps_min']:.1f} | {row['starved']}"
            f" | {row['not_connected']} | {row['decoded_fps_min']:.1f},"
            f" {row['decoded_audio_fps_min']:.0f}, {' '.join(row['decoded_sizes'])}"
            f" | {row['client_cores_window'][0]:.2f}, {counting}"
            f" | {row['connect_s']:.0f} | {row['delivered_viewers']:.1f}"
            f" | {row['delivered_viewers_per_core']:.0f} |"
        )
    whep_cores = {
        r["viewers"]: r["server_cores"] for r in report["whep"] if r["server"] == "trioflix"
    }
    lines += [
        "",
        "HTTP-FLV viewers of this checkout, same run, each level just after the WHEP ones:",
        "",
        "| HTTP-FLV viewers | load (1/5/15) | server cores | viewers per core"
        " | Mbit/s min / median (the whole file) | starved | WHEP server cores / HTTP-FLV's |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in report["flv"]:
        lines.append(
            f"| {row['viewers']} | {row['load']} | {row['cpu_cores']:.2f}"
            f" | {row['viewers_per_core']:.0f} | {row['bitrate_min_bps'] / 1e6:.2f} /"
            f" {row['bitrate_median_bps'] / 1e6:.2f} | {row['starved']}"
            f" | {whep_cores[row['viewers']] / row['cpu_cores']:.1f} |"
        )
    lines += [
        "",
        "Per RTP packet of video, one viewer, in this process (µs):",
        "",
        "| FLV to Annex B | H.264 packetiser | RTP header | SRTP | sendto"
        " | whole sender: aiortc's loop | whole sender: trioflix's stream"
        " | to the socket (SRTP, system calls): aiortc's path | trioflix's, a sendto each"
        " | trioflix's, UDP GSO |",
        "|---|---|---|---|---|---|---|---|---|---|",
        f"| {costs['flv_to_annex_b_us']:.1f} | {costs['h264_packetise_us']:.1f}"
        f" | {costs['rtp_header_us']:.1f} | {costs['srtp_protect_us']:.1f}"
        f" | {costs['sendto_us']:.1f} | {costs['aiortc_sender_us']:.1f}"
        f" | {costs['trioflix_sender_us']:.1f} | {costs['aiortc_send_path_us']:.1f}"
        f" | {costs['trioflix_send_path_us']:.1f} | {costs['trioflix_gso_path_us']:.1f} |",
        "",
        f"({costs['rtp_packets_per_frame']:.1f} RTP packets per frame.)",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--viewers", default="0,25,50,100", help="WHEP viewer levels (0: the publisher alone)"
    )
    parser.add_argument("--baseline", type=Path, help="another checkout to run beside this one")
    parser.add_argument("--json", type=Path, help="write the whole report here too")
    args = parser.parse_args()
    exit_on_sigterm()
    counts = [int(n) for n in args.viewers.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="trioflix-bench-webrtc-"))
    try:
        report = trio.run(
            partial(
                run,
                workdir,
                counts,
                args.baseline.resolve() if args.baseline else None,
            )
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    print(render(report))


if __name__ == "__main__":
    main()
