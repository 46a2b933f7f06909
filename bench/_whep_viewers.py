"""WHEP viewers for the benchmarks: many aiortc peer connections in one asyncio process.

Each viewer offers to receive H.264 and Opus, as a browser does, posts the offer
to the channel's WHEP URL and connects with aiortc and aioice as a browser would
(ICE on loopback, DTLS, SRTP keys). What arrives is then taken one of two ways:

- **Counted** (most viewers): each datagram is taken off aioice's socket
  protocol before anything else sees it. SRTP and SRTCP (first byte 128-191,
  RFC 7983) are counted and dropped, never decrypted: the RTP header is sent in
  the clear (RFC 3711 3.1), so the payload type tells video from audio, the
  marker bit ends a video frame (RFC 6184 5.1) and the payload's length is the
  datagram's less the header, its extensions and the SRTP tag. Everything else
  (STUN, above all the server's consent checks, RFC 7675; DTLS) goes on to
  aioice and aiortc as before, so the server sees a viewer that answers. What a
  counted viewer does not do: decrypt or check the SRTP tag, depacketise, buffer
  or decode, send RTCP receiver reports or NACKs (the server needs neither: its
  slow-viewer rule is the channel's queue); it proves only that the server sent
  the packets, whole and at the rate.
- **Decoding** (a few, ``--decoding``): aiortc's whole receiving path, SRTP,
  jitter buffer, RTCP, H.264 and Opus decoding; the frames that decode are
  counted, proving the media valid, and their payload bytes are counted as the
  counted viewers' are, so the two kinds can be compared.

aiortc and aioice have no hook for either: the counted viewers replace
``datagram_received`` on their connection's aioice ``StunProtocol`` instances
(aioice 0.13) and the decoding ones ``_handle_rtp_packet`` on their receivers
(aiortc 1.16.0), both pinned. A counted viewer costs a Python call per datagram
where decrypting, parsing and buffering cost a core per ~8000 packets a second,
so 100 viewers at 3 Mbit/s fit in a fraction of a core beside the server.

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
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription, sdp
from aiortc.mediastreams import MediaStreamError

if TYPE_CHECKING:
    from collections.abc import Callable

    from aiortc.rtp import RtpPacket

__all__ = ["WHEPResult"]

CONNECT_TIMEOUT_S = 30.0  # offer, answer, ICE and DTLS on a loaded machine
LEAVE_TIMEOUT_S = 10.0
# The authentication tag after an SRTP packet's payload, by the DTLS-SRTP profile
# the two ends chose (RFC 7714 for the GCM ones: a 16-byte tag; RFC 3711: 80 bits).
SRTP_TAG_BYTES = {
    b"SRTP_AEAD_AES_256_GCM": 16,
    b"SRTP_AEAD_AES_128_GCM": 16,
    b"SRTP_AES128_CM_SHA1_80": 10,
}


@dataclass
class WHEPResult:
    """What one viewer received. Bytes are RTP payload bytes.

    Attributes:
        decoding: Whether this viewer decrypted and decoded (else it counted).
        connected_s: From the offer to the connected state; ``None`` if never.
        window_video_bytes: Video payload bytes received inside the window.
        window_audio_bytes: Audio payload bytes received inside the window.
        window_frames: Video frames completed (marker bit) inside the window.
        video_packets: Video RTP packets received in all.
        window_decoded_frames: Video frames decoded inside the window (decoding only).
        window_decoded_audio_frames: Audio frames decoded inside the window (decoding only).
        decoded_size: The last decoded video frame's ``WIDTHxHEIGHT`` (decoding only).
        error: Why the viewer did not get going.
    """

    decoding: bool = False
    connected_s: float | None = None
    window_video_bytes: int = 0
    window_audio_bytes: int = 0
    window_frames: int = 0
    video_packets: int = 0
    window_decoded_frames: int = 0
    window_decoded_audio_frames: int = 0
    decoded_size: str | None = None
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


def _payload_types(answer: str) -> tuple[set[int], set[int]]:
    """The answer's video (H.264) and audio (Opus) payload types: the server's RTX
    ones are left out, as a decoder does not count a retransmission twice."""
    video: set[int] = set()
    audio: set[int] = set()
    for media in sdp.SessionDescription.parse(answer).media:
        for codec in media.rtp.codecs:
            if codec.mimeType.lower() == "video/h264":
                video.add(codec.payloadType)  # type: ignore[arg-type]
            elif codec.mimeType.lower() == "audio/opus":
                audio.add(codec.payloadType)  # type: ignore[arg-type]
    return video, audio


def _counting_datagrams(
    result: WHEPResult,
    window: list[float],
    types: tuple[set[int], set[int]],
    tag: list[int],
    passing: Callable[[bytes, tuple[Any, ...]], None],
) -> Callable[[bytes, tuple[Any, ...]], None]:
    """A ``datagram_received`` counting SRTP and passing the rest to ``passing``.

    ``tag`` holds the SRTP tag's length, known once DTLS is done (before it, no SRTP
    comes: the server has no keys either)."""
    video, audio = types

    def received(data: bytes, addr: tuple[Any, ...]) -> None:
        first = data[0]
        if not 127 < first < 192:
            passing(data, addr)  # STUN (consent checks) or DTLS
            return
        second = data[1]
        # SRTCP's packet types (200-204, the server's sender reports) read here as
        # payload types 72-76 (RFC 5761 4), none of the answer's: not counted.
        payload_type = second & 0x7F
        now = time.monotonic()
        if payload_type in video:
            result.video_packets += 1
        elif payload_type not in audio:
            return
        if not window[0] <= now < window[1]:
            return
        header = 12 + 4 * (first & 0x0F)  # fixed header and CSRCs (RFC 3550 5.1)
        if first & 0x10:  # a header extension: its length in 32-bit words (RFC 3550 5.3.1)
            header += 4 + 4 * int.from_bytes(data[header + 2 : header + 4])
        size = len(data) - header - tag[0]
        if payload_type in video:
            result.window_video_bytes += size
            result.window_frames += second >> 7
        else:
            result.window_audio_bytes += size

    return received


def _counting_packets(result: WHEPResult, kind: str, window: list[float], handle: Any) -> Any:
    """A receiver's ``_handle_rtp_packet`` counting what it is given before ``handle``
    (aiortc's own: depacketising, jitter buffer, decoder)."""

    async def counted(packet: RtpPacket, arrival_time_ms: int) -> None:
        in_window = window[0] <= time.monotonic() < window[1]
        if kind == "video":
            result.video_packets += 1
            if in_window:
                result.window_video_bytes += len(packet.payload)
                result.window_frames += packet.marker
        elif in_window:
            result.window_audio_bytes += len(packet.payload)
        await handle(packet, arrival_time_ms)

    return counted


async def _decode(pc: RTCPeerConnection, result: WHEPResult, window: list[float]) -> None:
    """Take the decoded frames of ``pc``'s tracks, counting those of the window."""

    async def take(track: Any) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                if not window[0] <= time.monotonic() < window[1]:
                    continue
                if track.kind == "video":
                    result.window_decoded_frames += 1
                    result.decoded_size = f"{frame.width}x{frame.height}"
                else:
                    result.window_decoded_audio_frames += 1

    await asyncio.gather(*(take(t.receiver.track) for t in pc.getTransceivers()))


async def _watch(
    client: httpx.AsyncClient, path: str, result: WHEPResult, window: list[float]
) -> tuple[RTCPeerConnection, str | None]:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    for kind in ("video", "audio"):
        receiver = pc.addTransceiver(kind, direction="recvonly").receiver
        if result.decoding:
            # An instance attribute: aiortc's DTLS transport hands each decrypted packet to it.
            receiver._handle_rtp_packet = _counting_packets(  # type: ignore[method-assign]
                result, kind, window, receiver._handle_rtp_packet
            )
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
    # Bundled: every transceiver's media on the first one's transport. Its host
    # candidates' protocols are in place (gathered for the offer); the media comes
    # after DTLS, long after this.
    dtls = pc.getTransceivers()[0].receiver.transport
    tag = [0]
    if not result.decoding:
        types = _payload_types(response.text)
        for protocol in dtls.transport._connection._protocols:
            # aioice types the data as asyncio does, bytes | str; a UDP socket gives bytes.
            protocol.datagram_received = _counting_datagrams(  # type: ignore[method-assign,assignment]
                result, window, types, tag, protocol.datagram_received
            )
    try:
        await asyncio.wait_for(connected.wait(), CONNECT_TIMEOUT_S)
    except TimeoutError:
        result.error = f"not connected after {CONNECT_TIMEOUT_S:.0f} s ({pc.connectionState})"
    else:
        result.connected_s = time.monotonic() - started
        ssl = dtls._ssl
        assert ssl is not None  # connected: DTLS is done
        tag[0] = SRTP_TAG_BYTES[ssl.get_selected_srtp_profile()]
    return pc, response.headers["Location"]


async def run_audience(
    base_url: str, path: str, *, count: int, decoding: int, ramp_s: float
) -> tuple[list[WHEPResult], float]:
    """``count`` viewers, the first ``decoding`` of them decoding, the i-th offering
    ``i * ramp_s / count`` from now, counting in the window read from stdin once all
    are connected: their figures, and this process's cores over the window."""
    results = [WHEPResult(decoding=index < decoding) for index in range(count)]
    sessions: list[tuple[RTCPeerConnection, str | None]] = []
    decoders: list[asyncio.Task[None]] = []
    window = [math.inf, math.inf]
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=base_url, timeout=CONNECT_TIMEOUT_S) as client:

        async def one(index: int) -> None:
            await asyncio.sleep(max(0.0, started + index * ramp_s / count - time.monotonic()))
            result = results[index]
            try:
                pc, location = await _watch(client, path, result, window)
            except (httpx.HTTPError, OSError) as exc:
                result.error = repr(exc)
                return
            sessions.append((pc, location))
            if result.decoding and result.connected_s is not None:
                decoders.append(asyncio.create_task(_decode(pc, result, window)))

        await asyncio.gather(*(one(index) for index in range(count)))
        print("ready", flush=True)
        line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        window[:] = [float(value) for value in line.split()]
        cores = await _window_cores(window)

        async def leave(pc: RTCPeerConnection, location: str | None) -> None:
            if location is not None:
                with contextlib.suppress(httpx.HTTPError):
                    await client.delete(location)
            await pc.close()  # ends the decoding viewers' tracks, so their tasks

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*(leave(pc, location) for pc, location in sessions), *decoders),
                LEAVE_TIMEOUT_S,
            )
    return results, cores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="the server, e.g. http://127.0.0.1:8000")
    parser.add_argument("--path", required=True, help="the WHEP path, e.g. /live/alice/whep")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument(
        "--decoding", type=int, default=0, help="how many of them decode (the rest count)"
    )
    parser.add_argument("--ramp-s", type=float, default=0.0)
    args = parser.parse_args(argv)
    results, cores = asyncio.run(
        run_audience(
            args.url, args.path, count=args.count, decoding=args.decoding, ramp_s=args.ramp_s
        )
    )
    json.dump(
        {"cpu_s": _cpu_s(), "window_cores": cores, "viewers": [asdict(r) for r in results]},
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
