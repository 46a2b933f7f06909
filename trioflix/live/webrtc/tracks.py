"""aiortc's side of a viewer: tracks that give ready RTP payloads.

A track's sender does not ask it for frames to encode (``recv``, aiortc's loop):
:mod:`trioflix.live.webrtc.rtp_sender` replaces that loop with one that asks for
each frame's RTP payloads and its RTP timestamp (:meth:`PayloadTrack.next_payloads`).
The video's access units are split as aiortc's H.264 packetiser does (the Annex B
stream into NAL units, sent as STAP-A or FU-A, RFC 6184), with each unit's FU-A
fragments then cut to one size (:func:`~protocols.rtp_h264.even_fragments`: a run
of one size is one system call, :mod:`~trioflix.live.webrtc.udp_gso`), once per
access unit, which the viewers of a rendition share; the audio's Opus packets
are a payload each (RFC 7587). ``next_payloads`` waits on the asyncio side, in this
viewer's own bounded queue that Trio tasks fill
(:class:`~trioflix.live.webrtc.handoff.Handoff`): no call into Trio per packet.

Imported with the first session: this module loads aiortc.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

from aiortc import MediaStreamTrack
from aiortc.codecs.h264 import H264Encoder
from aiortc.mediastreams import MediaStreamError

from protocols.rtp_h264 import even_fragments

if TYPE_CHECKING:
    from trioflix.live.webrtc.handoff import Handoff
    from trioflix.live.webrtc.opus import OpusPacket
    from trioflix.live.webrtc.video import AccessUnit

__all__ = ["OpusTrack", "PassthroughVideoTrack", "PayloadTrack", "RtpPayloads"]

RtpPayloads = tuple[list[bytes], int]  # a frame's RTP payloads, and its RTP timestamp
VIDEO_CLOCK_PER_MS = 90  # RFC 6184 8.2.1: H.264's RTP clock is 90 kHz


class PayloadTrack(MediaStreamTrack):
    """A track whose sender sends ready payloads.

    See :func:`~trioflix.live.webrtc.rtp_sender.send_payloads`.
    """

    async def next_payloads(self) -> RtpPayloads | None:
        """The next frame's payloads; ``None`` once the track's media ended."""
        raise NotImplementedError

    async def recv(self) -> NoReturn:
        # Only aiortc's own sending loop calls this, and send_payloads replaces it.
        raise MediaStreamError


class PassthroughVideoTrack(PayloadTrack):
    """H.264 access units as they came from the publisher."""

    kind = "video"

    def __init__(self, units: Handoff[AccessUnit]) -> None:
        super().__init__()
        self._units = units

    async def next_payloads(self) -> RtpPayloads | None:
        unit = await self._units.get()
        if unit is None:
            return None
        if not unit.payloads:  # the first of the rendition's viewers to send it
            nal_units = H264Encoder._split_bitstream(unit.data)
            unit.payloads.extend(even_fragments(H264Encoder._packetize(nal_units)))
        return unit.payloads, unit.pts_ms * VIDEO_CLOCK_PER_MS


class OpusTrack(PayloadTrack):
    """The channel's shared Opus packets, from this viewer's listener."""

    kind = "audio"

    def __init__(self, listener: Handoff[OpusPacket]) -> None:
        super().__init__()
        self._listener = listener

    async def next_payloads(self) -> RtpPayloads | None:
        item = await self._listener.get()
        if item is None:
            return None
        data, pts = item  # already on Opus's 48 kHz RTP clock
        return [data], pts
