"""aiortc's RTP sending loop, replaced by a leaner one for payloads made in advance.

A WHEP viewer's CPU goes to aiortc's sender loop (``RTCRtpSender._run_rtp``), per
RTP packet: an ``RtpPacket`` object with a ``HeaderExtensions`` object, two reads
of the NTP clock (a ``datetime`` each), the header extensions packed again from
the map, the serialisation, and the packet kept for retransmission. For a frame
of a dozen packets, all but the sequence number and the marker bit is the same in
every header. This loop builds the frame's header once (with one clock read for
``abs-send-time``, as the viewer's congestion control only needs it per frame),
then for each payload patches in the marker and sequence number and hands the
bytes to aiortc's DTLS transport (SRTP, ICE) as its own loop does. aiortc keeps
everything else: ICE, DTLS, SRTP, RTCP (its sender reports read the counters this
loop keeps up to date), and NACK retransmission (:func:`_retransmit`, on the
history of serialised packets this loop keeps instead of ``RtpPacket`` objects).

aiortc has no public hook for this: :func:`send_payloads` replaces the two
methods on the one sender instance (aiortc 1.16.0, pinned; its private state is
read through :func:`_private`; the server refuses to start with another aiortc,
:func:`~trioflix.live.webrtc.aiortc_version.check_aiortc`). The tracks give ready RTP payloads
(:class:`~trioflix.live.webrtc.tracks.PayloadTrack`), never PyAV packets.

Imported with the first session: this module loads aiortc.
"""

from __future__ import annotations

import asyncio
import struct
from functools import partial
from typing import TYPE_CHECKING, Any

from aiortc import clock
from aiortc.rtcrtpsender import random_sequence_number
from aiortc.rtp import RTP_HISTORY_SIZE, RtpPacket, wrap_rtx
from aiortc.utils import random32

if TYPE_CHECKING:
    from aiortc import RTCRtpCodecParameters, RTCRtpSender

    from trioflix.live.webrtc.tracks import PayloadTrack

__all__ = ["send_payloads"]

_MARKER_SEQUENCE = struct.Struct("!BH")


def send_payloads(sender: RTCRtpSender, track: PayloadTrack) -> None:
    """Make ``sender`` send ``track``'s payloads with this module's loop.

    Call it before the connection's ``setLocalDescription`` (which starts the loop).
    """
    setattr(sender, "_run_rtp", partial(_run_rtp, sender, track))  # noqa: B010 (this instance)
    setattr(sender, "_retransmit", partial(_retransmit, sender))  # noqa: B010 (this instance)


def _private(sender: RTCRtpSender, name: str) -> Any:
    return getattr(sender, f"_RTCRtpSender__{name}")


def _set_private(sender: RTCRtpSender, name: str, value: object) -> None:
    setattr(sender, f"_RTCRtpSender__{name}", value)


def _header(sender: RTCRtpSender, payload_type: int, timestamp: int) -> tuple[bytes, bytes]:
    """A frame's RTP header around its marker, payload type and sequence number: the
    first byte, and the bytes from the timestamp on (SSRC, header extensions)."""
    template = RtpPacket(payload_type=payload_type, timestamp=timestamp, ssrc=sender._ssrc)
    template.extensions.abs_send_time = (clock.current_ntp_time() >> 14) & 0x00FFFFFF
    template.extensions.mid = _private(sender, "mid")
    header = template.serialize(_private(sender, "rtp_header_extensions_map"))
    return header[:1], header[4:]


async def _run_rtp(sender: RTCRtpSender, track: PayloadTrack, codec: RTCRtpCodecParameters) -> None:
    """``RTCRtpSender._run_rtp`` for ready payloads: until the track ends or the
    sender stops (cancelled)."""
    _private(sender, "rtp_started").set()
    history: dict[int, bytes] = _private(sender, "rtp_history")
    # Random initial values (RFC 3550 5.1); aiortc's sequence numbers start in the
    # lower half, so that they do not wrap early (SRTP's rollover counter).
    sequence_number = random_sequence_number()
    timestamp_origin = random32()
    payload_type = codec.payloadType
    assert payload_type is not None  # negotiated: the sender starts with the answer
    try:
        while (frame := await track.next_payloads()) is not None:
            payloads, rtp_time = frame
            timestamp = (timestamp_origin + rtp_time) & 0xFFFFFFFF
            first, rest = _header(sender, payload_type, timestamp)
            last = len(payloads) - 1
            for index, payload in enumerate(payloads):
                marker = 0x80 if index == last else 0
                data = b"".join(
                    (
                        first,
                        _MARKER_SEQUENCE.pack(marker | payload_type, sequence_number),
                        rest,
                        payload,
                    )
                )
                history[sequence_number % RTP_HISTORY_SIZE] = data
                await sender.transport._send_rtp(data)
                sequence_number = (sequence_number + 1) & 0xFFFF
            # What aiortc's sender reports (RTCP SR) read.
            _set_private(sender, "ntp_timestamp", clock.current_ntp_time())
            _set_private(sender, "rtp_timestamp", timestamp)
            _set_private(
                sender, "octet_count", _private(sender, "octet_count") + sum(map(len, payloads))
            )
            _set_private(sender, "packet_count", _private(sender, "packet_count") + len(payloads))
    except (asyncio.CancelledError, ConnectionError):
        pass
    finally:
        track.stop()
        _private(sender, "rtp_exited").set()


async def _retransmit(sender: RTCRtpSender, sequence_number: int) -> None:
    """``RTCRtpSender._retransmit`` on the history of serialised packets: the packet
    again, wrapped in RTX when the viewer negotiated it (RFC 4588)."""
    data = _private(sender, "rtp_history").get(sequence_number % RTP_HISTORY_SIZE)
    if data is None:
        return
    extensions = _private(sender, "rtp_header_extensions_map")
    packet = RtpPacket.parse(data, extensions)
    if packet.sequence_number != sequence_number:
        return  # overwritten by a later one: too late to resend
    rtx_payload_type = _private(sender, "rtx_payload_type")
    if rtx_payload_type is not None:
        rtx_sequence_number = _private(sender, "rtx_sequence_number")
        packet = wrap_rtx(
            packet,
            payload_type=rtx_payload_type,
            sequence_number=rtx_sequence_number,
            ssrc=sender._rtx_ssrc,
        )
        _set_private(sender, "rtx_sequence_number", (rtx_sequence_number + 1) & 0xFFFF)
    await sender.transport._send_rtp(packet.serialize(extensions))
