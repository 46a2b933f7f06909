"""aiortc's RTP sending loop, replaced by a leaner one for payloads made in advance.

A WHEP viewer's CPU goes to aiortc's sender loop (``RTCRtpSender._run_rtp``), per
RTP packet: an ``RtpPacket`` object with a ``HeaderExtensions`` object, two reads
of the NTP clock (a ``datetime`` each), the header extensions packed again from
the map, the serialisation, and the packet kept for retransmission. For a frame
of a dozen packets, all but the sequence number and the marker bit is the same in
every header. This loop builds the frame's header once (with one clock read for
``abs-send-time``, as the viewer's congestion control only needs it per frame),
then for each payload patches in the marker and sequence number and protects it
with the DTLS transport's SRTP session, and sends the frame's datagrams to the
nominated ICE pair's address (:func:`_socket_path`), each run of one size in one
system call (UDP GSO, :mod:`~trioflix.live.webrtc.udp_gso`): what aiortc's own
loop does through five coroutine layers and a ``sendto`` per packet (the DTLS
transport's ``_send_rtp``, the ICE transport's and aioice's ``send`` and
``sendto``, the protocol's ``send_data``), once per frame here. aiortc keeps
everything else: ICE, DTLS, SRTP, RTCP (its sender reports read the counters this
loop keeps up to date), and NACK retransmission (:func:`_retransmit`, on the
history of serialised packets this loop keeps instead of ``RtpPacket`` objects).

aiortc has no public hook for this: :func:`send_payloads` replaces the two
methods on the one sender instance (aiortc 1.16.0, pinned; its private state is
read through :func:`_private`; the server refuses to start with another aiortc,
:func:`~trioflix.live.webrtc.aiortc_version.check_aiortc`). The way to the socket
reads aioice's nominated pair (``Connection._nominated``; aioice 0.13.0, pinned
beside aiortc): 3.4-5.0 µs of CPU a packet in frames of 11, against 6.7-9.3 µs
with a ``sendto`` each and 8.0-11.5 µs through aiortc's coroutines, SRTP and the
system calls included (loopback, same process). The tracks give ready RTP
payloads (:class:`~trioflix.live.webrtc.tracks.PayloadTrack`), never PyAV packets.

Imported with the first session: this module loads aiortc.
"""

from __future__ import annotations

import asyncio
import struct
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from aiortc import clock
from aiortc.rtcdtlstransport import State
from aiortc.rtcrtpsender import random_sequence_number
from aiortc.rtp import RTP_HISTORY_SIZE, RtpPacket, wrap_rtx
from aiortc.utils import random32

from trioflix.live.webrtc.udp_gso import SegmentedSender

if TYPE_CHECKING:
    from aiortc import RTCDtlsTransport, RTCRtpCodecParameters, RTCRtpSender

    from trioflix.live.webrtc.tracks import PayloadTrack
    from trioflix.live.webrtc.udp_gso import DatagramTransport

__all__ = ["send_payloads"]

_MARKER_SEQUENCE = struct.Struct("!BH")


def send_payloads(sender: RTCRtpSender, track: PayloadTrack) -> None:
    """Make ``sender`` send ``track``'s payloads with this module's loop.

    Call it before the connection's ``setLocalDescription`` (which starts the loop).
    """
    setattr(sender, "_run_rtp", partial(_run_rtp, sender, track))  # noqa: B010 (this instance)
    setattr(sender, "_retransmit", partial(_retransmit, sender))  # noqa: B010 (this instance)


def _add_private(owner: object, name: str, value: int) -> None:
    setattr(owner, name, getattr(owner, name) + value)


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


def _socket_path(dtls: RTCDtlsTransport, path: SegmentedSender | None) -> SegmentedSender:
    """The way to the viewer's socket: aiortc's (``RTCDtlsTransport._send_rtp`` down
    to aioice's ``StunProtocol.send_data``, a plain ``transport.sendto`` for every
    candidate, a TURN relay's ``TurnTransport`` too) without its coroutines, and
    with a run of the frame's datagrams in one call (:mod:`~trioflix.live.webrtc.udp_gso`).
    Looked up for each frame, as the connection may have ended since the last:
    ``path``, the last frame's, again if the nominated pair is the same, else a new one
    (``path`` closed).

    Raises:
        ConnectionError: DTLS is not connected, or ICE has no nominated pair (what
            aiortc's and aioice's ``send`` raise then).
    """
    if dtls._state is not State.CONNECTED:
        raise ConnectionError("Cannot send encrypted RTP, not connected")
    pair = dtls.transport._connection._nominated.get(1)  # RTP and RTCP muxed: component 1
    if pair is None:
        raise ConnectionError("Cannot send data, not connected")
    # asyncio's own (a write buffer: typeshed's type has none) or a TURN relay's.
    transport = cast("DatagramTransport", pair.protocol.transport)
    if path is not None:
        if path.transport is transport and path.address == pair.remote_addr:
            return path
        path.close()
    return SegmentedSender.open(transport, pair.remote_addr)


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
    path: SegmentedSender | None = None
    try:
        while (frame := await track.next_payloads()) is not None:
            payloads, rtp_time = frame
            timestamp = (timestamp_origin + rtp_time) & 0xFFFFFFFF
            first, rest = _header(sender, payload_type, timestamp)
            path = _socket_path(sender.transport, path)
            protect = sender.transport._tx_srtp.protect
            datagrams = []
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
                datagrams.append(protect(data))
                sequence_number = (sequence_number + 1) & 0xFFFF
            path.send(datagrams)
            # What the DTLS transport's statistics (getStats) read.
            _add_private(sender.transport, "_RTCDtlsTransport__tx_bytes", sum(map(len, datagrams)))
            _add_private(sender.transport, "_RTCDtlsTransport__tx_packets", len(payloads))
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
        if path is not None:
            path.close()
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
