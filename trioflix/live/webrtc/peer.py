"""The peer connection of one WHEP viewer, and the asyncio loop's network settings.

Runs on the trio-asyncio loop (the callers use ``aio_as_trio``). Imported with
the first session: it loads aiortc, aioice and PyAV.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

import aioice.ice
from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
    sdp,
)

from trioflix.live.webrtc.rtp_sender import send_payloads
from trioflix.live.webrtc.tracks import OutletTrack

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable

    from trioflix.live.webrtc.outlet import Outlet

__all__ = ["answer", "configure_network", "ice_servers"]


def configure_network(
    loop: asyncio.AbstractEventLoop, addresses: tuple[str, ...], ports: tuple[int, int] | None
) -> None:
    """Gather host candidates on ``addresses`` alone, and bind UDP within ``ports``.

    aioice has no setting for either: it offers every address of the host but
    loopback (:func:`aioice.ice.get_host_addresses`, replaced here when
    ``addresses`` are given) and binds port 0 on each; ``loop`` is this server's
    own trio-asyncio loop, so its ``create_datagram_endpoint`` is wrapped to try
    the ports of the range instead, from a random one on.
    """
    if addresses:
        aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: list(addresses)
    if ports is None:
        return
    first, last = ports
    bind = loop.create_datagram_endpoint

    async def bind_in_range(
        protocol_factory: Any, local_addr: Any = None, *args: Any, **kwargs: Any
    ) -> Any:
        if local_addr is None or local_addr[1] != 0:
            return await bind(protocol_factory, local_addr, *args, **kwargs)
        count = last - first + 1
        start = random.randrange(count)
        for step in range(count):
            port = first + (start + step) % count
            try:
                return await bind(protocol_factory, (local_addr[0], port), *args, **kwargs)
            except OSError:
                continue  # taken: the next one
        raise OSError(f"no free UDP port in {first}-{last} on {local_addr[0]}")

    setattr(loop, "create_datagram_endpoint", bind_in_range)  # noqa: B010 (one loop, not the class)


def ice_servers(
    urls: tuple[str, ...], username: str | None, credential: str | None
) -> list[RTCIceServer]:
    """aiortc's ICE servers for ``urls``, the ``turn:`` ones with the credentials."""
    return [
        RTCIceServer(urls=url, username=username, credential=credential)
        if url.startswith("turn")
        else RTCIceServer(urls=url)
        for url in urls
    ]


async def answer(
    offer: str,
    video_outlet: Outlet,
    listen: Callable[[], Outlet],
    on_state: Callable[[str], None],
    ice_urls: tuple[str, ...],
    turn_username: str | None,
    turn_credential: str | None,
) -> RTCPeerConnection:
    """A peer connection sending the channel to the viewer who made ``offer``.

    The video is H.264 alone (what is passed through), the audio Opus; an offer
    without video or without audio gets none. The answer carries every
    local candidate (aiortc gathers before it answers). The video is what is sent
    into ``video_outlet``; ``listen`` is called for the audio's outlet if the offer
    asks for audio. ``on_state`` is called with each new connection state.

    Raises:
        ValueError: ``offer`` is no SDP offer aiortc can answer (the connection is
            closed before this is raised).
    """
    config = RTCConfiguration(iceServers=ice_servers(ice_urls, turn_username, turn_credential))
    pc = RTCPeerConnection(config)
    try:

        @pc.on("connectionstatechange")
        def _changed() -> None:
            on_state(pc.connectionState)

        # A transceiver per kind the offer asks for, made before the offer is applied
        # so that the video's codec preference (H.264 alone) holds for its answer; one
        # the offer does not have would break the answer.
        kinds = {media.kind for media in sdp.SessionDescription.parse(offer).media}
        if "video" in kinds:
            video_track = OutletTrack("video", video_outlet)
            video = pc.addTransceiver(video_track, direction="sendonly")
            send_payloads(video.sender, video_track)
            video.setCodecPreferences(
                [
                    codec
                    for codec in RTCRtpSender.getCapabilities("video").codecs
                    if codec.mimeType == "video/H264"
                    and codec.parameters.get("packetization-mode") == "1"
                ]
            )
        if "audio" in kinds:
            audio_track = OutletTrack("audio", listen())
            audio = pc.addTransceiver(audio_track, direction="sendonly")
            send_payloads(audio.sender, audio_track)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
    except BaseException as exc:
        # Cancelled too (the viewer's request went away mid-answer): nothing may be
        # left holding a socket.
        await pc.close()
        if isinstance(exc, Exception):
            raise ValueError(str(exc) or exc.__class__.__name__) from exc
        raise
    return pc
