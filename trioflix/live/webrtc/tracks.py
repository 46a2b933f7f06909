"""aiortc's side of a viewer: tracks whose media a feed task sends, and the H.264 payloads.

A track's sender does not ask it for frames to encode (``recv``, aiortc's loop):
:mod:`trioflix.live.webrtc.rtp_sender` gives the sender an RTP stream that the
channel's feed task sends ready payloads into, through the track's
:class:`~trioflix.live.webrtc.outlet.Outlet`. The video's access units are split
as aiortc's H.264 packetiser does (the Annex B stream into NAL units, sent as
STAP-A or FU-A, RFC 6184), with each unit's FU-A fragments then cut to one size
(:func:`~protocols.rtp_h264.even_fragments`: a run of one size is one system
call, :mod:`~trioflix.live.webrtc.udp_gso`), once per access unit, which the
viewers of a rendition share (:func:`h264_payloads`); the audio's Opus packets
are a payload each (RFC 7587).

Imported with the first session: this module loads aiortc.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

from aiortc import MediaStreamTrack
from aiortc.codecs.h264 import H264Encoder
from aiortc.mediastreams import MediaStreamError

from protocols.rtp_h264 import even_fragments

if TYPE_CHECKING:
    from trioflix.live.webrtc.outlet import Outlet

__all__ = ["OutletTrack", "h264_payloads"]


def h264_payloads(annex_b: bytes) -> list[bytes]:
    """An access unit's RTP payloads (RFC 6184 packetisation mode 1)."""
    return even_fragments(H264Encoder._packetize(H264Encoder._split_bitstream(annex_b)))


class OutletTrack(MediaStreamTrack):
    """A track whose sender sends what a feed task sends into :attr:`outlet`.

    See :func:`~trioflix.live.webrtc.rtp_sender.send_payloads`.

    Args:
        kind: ``"video"`` or ``"audio"``.
        outlet: Where the feed task sends the viewer's media of that kind.
    """

    def __init__(self, kind: str, outlet: Outlet) -> None:
        super().__init__()
        self.kind = kind
        self.outlet = outlet

    async def recv(self) -> NoReturn:
        # Only aiortc's own sending loop calls this, and send_payloads replaces it.
        raise MediaStreamError
