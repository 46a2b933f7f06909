"""A WHEP viewer for tests: aiortc (an independent WebRTC stack) on a trio-asyncio loop.

It offers to receive H.264 video and Opus audio, as a browser does, and decodes
what arrives with aiortc's own decoders, so a frame counted here is a frame that
decoded.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import httpx
import trio
import trio_asyncio
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from protocols import sdpfrag

if TYPE_CHECKING:
    from aiortc import MediaStreamTrack

__all__ = [
    "WHEPViewer",
    "close_viewer",
    "connected",
    "encoders_opened",
    "trickle_fragment",
    "whep_offer",
    "without_candidates",
]


@dataclass
class WHEPViewer:
    """One client session: what it received and how to end it."""

    pc: RTCPeerConnection
    location: str
    answer: str
    links: list[str]
    video_frames: int = 0
    audio_frames: int = 0
    video_sizes: set[tuple[int, int]] = field(default_factory=set)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)


async def _consume(viewer: WHEPViewer, track: MediaStreamTrack) -> None:
    try:
        while True:
            frame: Any = await track.recv()
            if track.kind == "video":
                viewer.video_frames += 1
                viewer.video_sizes.add((frame.width, frame.height))
            else:
                viewer.audio_frames += 1
    except MediaStreamError:
        return


async def _offer() -> tuple[RTCPeerConnection, str]:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("video", direction="recvonly")
    pc.addTransceiver("audio", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    return pc, pc.localDescription.sdp


async def _accept(viewer: WHEPViewer) -> None:
    loop = asyncio.get_running_loop()

    @viewer.pc.on("track")
    def _track(track: MediaStreamTrack) -> None:
        viewer._tasks.append(loop.create_task(_consume(viewer, track)))

    await viewer.pc.setRemoteDescription(RTCSessionDescription(sdp=viewer.answer, type="answer"))


def without_candidates(sdp: str) -> str:
    """``sdp`` with no candidate and no end-of-candidates: as offered before gathering."""
    lines = sdp.splitlines(keepends=True)
    return "".join(
        line for line in lines if not line.startswith(("a=candidate:", "a=end-of-candidates"))
    )


async def send_candidates(
    client: httpx.AsyncClient, created: httpx.Response, offer: str, what: str
) -> None:
    """Trickle ``offer``'s candidates to the session ``created`` made (its Location,
    matching its ETag), as a client that offered before gathering would."""
    patched = await client.patch(
        created.headers["Location"],
        content=trickle_fragment(offer),
        headers={
            "Content-Type": "application/trickle-ice-sdpfrag",
            "If-Match": created.headers["ETag"],
        },
    )
    if patched.status_code != 204:
        raise AssertionError(f"{what} trickle answered {patched.status_code}: {patched.text}")


def trickle_fragment(sdp: str) -> str:
    """The trickle-ice-sdpfrag (RFC 8840) carrying the candidates of ``sdp``'s first
    media section (the BUNDLE's), with its ufrag/pwd and end-of-candidates."""
    offered = sdpfrag.parse_fragment(sdp)
    first = offered.candidates[0].media
    bundled = itertools.takewhile(lambda c: c.media == first, offered.candidates)
    return sdpfrag.format_fragment(replace(offered, candidates=tuple(bundled), end=True))


async def whep_offer(
    client: httpx.AsyncClient,
    url: str,
    loop: asyncio.AbstractEventLoop,
    *,
    trickle: bool = False,
) -> WHEPViewer:
    """Offer to ``url`` (the channel's WHEP endpoint) and start receiving.

    With ``trickle``, the offer carries no candidate and the answer's are dropped:
    the client's candidates reach the server only in a ``PATCH`` after the answer,
    so the two can connect only if the server uses them.
    """
    pc, offer = await trio_asyncio.aio_as_trio(_offer, loop=loop)()
    posted = without_candidates(offer) if trickle else offer
    response = await client.post(url, content=posted, headers={"Content-Type": "application/sdp"})
    if response.status_code != 201:
        await trio_asyncio.aio_as_trio(pc.close, loop=loop)()
        raise AssertionError(f"WHEP offer answered {response.status_code}: {response.text}")
    viewer = WHEPViewer(
        pc=pc,
        location=response.headers["Location"],
        answer=without_candidates(response.text) if trickle else response.text,
        links=response.headers.get_list("Link"),
    )
    await trio_asyncio.aio_as_trio(_accept, loop=loop)(viewer)
    if trickle:
        await send_candidates(client, response, offer, "WHEP")
    return viewer


async def connected(viewer: WHEPViewer, loop: asyncio.AbstractEventLoop) -> None:
    """Wait until the client's side of the connection is up."""
    while viewer.pc.connectionState != "connected":
        if viewer.pc.connectionState in ("failed", "closed"):
            raise AssertionError(f"the WHEP connection {viewer.pc.connectionState}")
        await trio.sleep(0.01)


def encoders_opened(pc: Any) -> int:
    """Video senders of the server's peer connection ``pc`` that opened an encoder
    (aiortc's H264Encoder opens libx264 only when handed raw frames; this reads the
    private attribute aiortc keeps it in)."""
    opened = 0
    for transceiver in pc.getTransceivers():
        encoder = getattr(transceiver.sender, "_RTCRtpSender__encoder", None)
        if transceiver.kind == "video" and getattr(encoder, "codec", None) is not None:
            opened += 1
    return opened


async def close_viewer(viewer: WHEPViewer, loop: asyncio.AbstractEventLoop) -> None:
    """Close the client's side only (no DELETE): the server must notice by itself."""
    await trio_asyncio.aio_as_trio(viewer.pc.close, loop=loop)()


async def _watch(url: str) -> None:
    """Connect to ``url``, say ``connected`` on stdout, then keep watching until killed."""
    async with httpx.AsyncClient() as client, trio_asyncio.open_loop() as loop:
        viewer = await whep_offer(client, url, loop)
        await connected(viewer, loop)
        print("connected", flush=True)
        await trio.sleep_forever()


if __name__ == "__main__":
    import aioice.ice

    # The test serves on loopback only (aioice leaves 127.0.0.1 out by default).
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]
    trio.run(_watch, sys.argv[1])
