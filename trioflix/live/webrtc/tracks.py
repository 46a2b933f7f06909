"""aiortc's side of a viewer: tracks that hand over packets already encoded.

aiortc's RTP sender asks its track for the next frame (``recv``, a coroutine on
the asyncio loop); given a PyAV ``Packet`` instead of a raw frame, it skips its
encoder and only packetises it (``H264Encoder.pack``: the Annex B stream split
into NAL units, sent as STAP-A or FU-A; ``OpusEncoder.pack``: one packet per
RTP payload). ``recv`` waits on the asyncio side, in this viewer's own bounded
queue that Trio tasks fill (:class:`~trioflix.live.webrtc.handoff.Handoff`): no
call into Trio per packet.

Imported with the first session: this module loads aiortc and PyAV.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING, Any

import av
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from trioflix.live.webrtc.opus import OPUS_RATE

if TYPE_CHECKING:
    from trioflix.live.webrtc.handoff import Handoff
    from trioflix.live.webrtc.opus import OpusPacket
    from trioflix.live.webrtc.video import AccessUnit

__all__ = ["OpusTrack", "PassthroughVideoTrack"]

MILLISECONDS = Fraction(1, 1000)
OPUS_TIME_BASE = Fraction(1, OPUS_RATE)


class PassthroughVideoTrack(MediaStreamTrack):
    """H.264 access units as they came from the publisher."""

    kind = "video"

    def __init__(self, units: Handoff[AccessUnit]) -> None:
        super().__init__()
        self._units = units

    async def recv(self) -> av.Packet[Any]:
        unit = await self._units.get()
        if unit is None:
            self.stop()
            raise MediaStreamError
        packet = av.Packet(unit.data)
        packet.pts = unit.pts_ms
        packet.time_base = MILLISECONDS
        return packet


class OpusTrack(MediaStreamTrack):
    """The channel's shared Opus packets, from this viewer's listener."""

    kind = "audio"

    def __init__(self, listener: Handoff[OpusPacket]) -> None:
        super().__init__()
        self._listener = listener

    async def recv(self) -> av.Packet[Any]:
        item = await self._listener.get()
        if item is None:
            self.stop()
            raise MediaStreamError
        data, pts = item
        packet = av.Packet(data)
        packet.pts = pts
        packet.time_base = OPUS_TIME_BASE
        return packet
