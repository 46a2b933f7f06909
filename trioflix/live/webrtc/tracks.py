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

The access unit delimiter and the SEI messages of each frame are left out: a
WebRTC decoder needs neither (the RTP marker bit ends an access unit, RFC 6184
5.1; x264's SEI is picture timing), and, too small to share a datagram with a
slice, they were a STAP-A of 13 bytes sent on its own, a third of a 720p frame's
system calls per viewer (docs/benchmarks.md, "WebRTC").

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

__all__ = ["NOT_SENT", "OutletTrack", "h264_payloads"]

# H.264 NAL unit types left out (ITU-T H.264 table 7-1): SEI, access unit
# delimiter, end of sequence, end of stream, filler data.
NOT_SENT = frozenset({6, 9, 10, 11, 12})


def h264_payloads(annex_b: bytes) -> list[bytes]:
    """An access unit's RTP payloads (RFC 6184 packetisation mode 1), without the
    NAL units a WebRTC decoder does not need (:data:`NOT_SENT`)."""
    nal_units = [
        unit
        for unit in H264Encoder._split_bitstream(annex_b)
        if unit and unit[0] & 0x1F not in NOT_SENT
    ]
    return even_fragments(H264Encoder._packetize(nal_units))


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
