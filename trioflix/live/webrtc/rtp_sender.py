"""aiortc's RTP sending loop, replaced by a stream that the channel's feed task sends into.

aiortc's sender (``RTCRtpSender._run_rtp``) is a task per viewer and per track
that pulls each frame from its track, and per RTP packet builds an ``RtpPacket``
with a ``HeaderExtensions`` object, reads the NTP clock twice (a ``datetime``
each), packs the header extensions again, serialises, keeps the packet for
retransmission and sends it through five coroutine layers (the DTLS transport's
``_send_rtp``, the ICE transport's and aioice's ``send`` and ``sendto``, the
protocol's ``send_data``). Here there is no sending task: once aiortc starts the
sender, its task attaches the viewer's :class:`RtpStream` to the track's
:class:`~trioflix.live.webrtc.outlet.Outlet` and waits, and the channel's feed
task calls :meth:`RtpStream.send` for each frame of each viewer
(:mod:`~trioflix.live.webrtc.outlet`). A stream makes its header once, with the
header extensions as the viewer negotiated them, and per frame patches in the
timestamp and ``abs-send-time`` (one clock read: the viewer's congestion control
needs it per frame), then for each payload the marker bit and sequence number,
protects it with the DTLS transport's SRTP session and sends the frame's
datagrams to the nominated ICE pair's address (:func:`_socket_path`), each run
of one size in one system call (UDP GSO, :mod:`~trioflix.live.webrtc.udp_gso`).
aiortc keeps everything else: ICE, DTLS, SRTP, RTCP (its sender reports read the
counters the stream keeps up to date), and NACK retransmission
(:func:`_retransmit`, on the history of serialised packets the stream keeps
instead of ``RtpPacket`` objects).

aiortc has no public hook for this: :func:`send_payloads` replaces the two
methods on the one sender instance (aiortc 1.16.0, pinned; its private state is
read through :func:`_private`; the server refuses to start with another aiortc,
:func:`~trioflix.live.webrtc.aiortc_version.check_aiortc`). The way to the socket
reads aioice's nominated pair (``Connection._nominated``; aioice 0.13.0, pinned
beside aiortc).

Imported with the first session: this module loads aiortc.
"""

from __future__ import annotations

import asyncio
import struct
import time
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from aiortc.rtcdtlstransport import State
from aiortc.rtcrtpsender import random_sequence_number
from aiortc.rtp import RTP_HISTORY_SIZE, RtpPacket, wrap_rtx
from aiortc.utils import random32

from trioflix.live.webrtc.udp_gso import SegmentedSender

if TYPE_CHECKING:
    from aiortc import RTCDtlsTransport, RTCRtpCodecParameters, RTCRtpSender

    from trioflix.live.webrtc.outlet import Frame
    from trioflix.live.webrtc.tracks import OutletTrack
    from trioflix.live.webrtc.udp_gso import DatagramTransport

__all__ = ["RtpStream", "send_payloads"]

_MARKER_SEQUENCE = struct.Struct("!BH")
_TIMESTAMP = struct.Struct("!I")
NTP_UNIX_OFFSET_S = 2_208_988_800  # RFC 5905: from 1900-01-01 (NTP's era 0) to 1970-01-01
# abs-send-time's placeholders in the header template: two values to find its bytes by.
_ABS_SEND_TIME_MARKS = (0x000000, 0xFFFFFF)


def send_payloads(sender: RTCRtpSender, track: OutletTrack) -> None:
    """Make ``sender`` send what a feed task sends into ``track``'s outlet, with an
    :class:`RtpStream`.

    Call it before the connection's ``setLocalDescription`` (which starts the sender).
    """
    setattr(sender, "_run_rtp", partial(_run_rtp, sender, track))  # noqa: B010 (this instance)
    setattr(sender, "_retransmit", partial(_retransmit, sender))  # noqa: B010 (this instance)


def _private(sender: RTCRtpSender, name: str) -> Any:
    return getattr(sender, f"_RTCRtpSender__{name}")


def _set_private(sender: RTCRtpSender, name: str, value: object) -> None:
    setattr(sender, f"_RTCRtpSender__{name}", value)


def ntp_now() -> int:
    """The wall clock as a 64-bit NTP timestamp (what ``aiortc.clock.current_ntp_time``
    gives, without its two ``datetime`` objects)."""
    return ((time.time_ns() + NTP_UNIX_OFFSET_S * 1_000_000_000) << 32) // 1_000_000_000


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


class RtpStream:
    """One viewer's RTP stream of one track: what aiortc's sending loop did, per frame
    on a call (see the module's docstring).

    Args:
        sender: aiortc's sender of the track, started (its codec negotiated).
        payload_type: The codec's negotiated payload type.
    """

    def __init__(self, sender: RTCRtpSender, payload_type: int) -> None:
        self._sender = sender
        self._dtls = sender.transport
        self._history: dict[int, bytes] = _private(sender, "rtp_history")
        self._payload_type = payload_type
        # Random initial values (RFC 3550 5.1); aiortc's sequence numbers start in the
        # lower half, so that they do not wrap early (SRTP's rollover counter).
        self._sequence_number = random_sequence_number()
        self._timestamp_origin = random32()
        self._path: SegmentedSender | None = None
        self._first, self._before_time, self._after_time = self._header_template()

    def _header_template(self) -> tuple[bytes, bytes, bytes | None]:
        """The header's first byte; its bytes from the SSRC to ``abs-send-time``; and
        those after it (``abs-send-time`` not negotiated: all from the SSRC on, and
        ``None``)."""
        sender = self._sender
        headers = []
        for mark in _ABS_SEND_TIME_MARKS:
            template = RtpPacket(payload_type=self._payload_type, ssrc=sender._ssrc)
            template.extensions.abs_send_time = mark
            template.extensions.mid = _private(sender, "mid")
            headers.append(template.serialize(_private(sender, "rtp_header_extensions_map")))
        low, high = headers
        at = next((i for i in range(len(low)) if low[i] != high[i]), len(low))
        return low[:1], low[8:at], low[at + 3 :] if at < len(low) else None

    @property
    def backlog(self) -> int:
        return 0 if self._path is None else self._path.backlog

    def send(self, frames: list[Frame]) -> None:
        """Send ``frames`` (each its payloads and its time on the track's RTP clock),
        the marker bit on each frame's last payload (RFC 6184 5.1: the end of an
        access unit; every Opus packet is a frame of its own), all their datagrams
        in one go: a run of one size in one system call, the Opus packets that came
        together too (constant bitrate, :mod:`~trioflix.live.webrtc.opus`).

        Raises:
            ConnectionError: DTLS is not connected, or ICE has no nominated pair.
        """
        if not frames:
            return
        path = self._path = _socket_path(self._dtls, self._path)
        now = ntp_now()
        abs_send_time = b""
        if self._after_time is not None:  # abs-send-time: 6 + 18 bits of seconds
            abs_send_time = ((now >> 14) & 0xFFFFFF).to_bytes(3) + self._after_time
        first, payload_type, history = self._first, self._payload_type, self._history
        before_time, origin = self._before_time, self._timestamp_origin
        protect = self._dtls._tx_srtp.protect
        sequence_number = self._sequence_number
        datagrams = []
        timestamp = octets = 0
        for payloads, rtp_time in frames:
            timestamp = (origin + rtp_time) & 0xFFFFFFFF
            rest = b"".join((_TIMESTAMP.pack(timestamp), before_time, abs_send_time))
            last = len(payloads) - 1
            for index, payload in enumerate(payloads):
                marker = 0x80 if index == last else 0
                head = _MARKER_SEQUENCE.pack(marker | payload_type, sequence_number)
                data = b"".join((first, head, rest, payload))
                history[sequence_number % RTP_HISTORY_SIZE] = data
                datagrams.append(protect(data))
                sequence_number = (sequence_number + 1) & 0xFFFF
                octets += len(payload)
        self._sequence_number = sequence_number
        path.send(datagrams)
        # What the DTLS transport's statistics (getStats) read.
        dtls = self._dtls
        dtls._RTCDtlsTransport__tx_bytes += sum(map(len, datagrams))  # type: ignore[attr-defined]
        dtls._RTCDtlsTransport__tx_packets += len(datagrams)  # type: ignore[attr-defined]
        # What aiortc's sender reports (RTCP SR) read: the last frame's times.
        sender = self._sender
        _set_private(sender, "ntp_timestamp", now)
        _set_private(sender, "rtp_timestamp", timestamp)
        _set_private(sender, "octet_count", _private(sender, "octet_count") + octets)
        _set_private(sender, "packet_count", _private(sender, "packet_count") + len(datagrams))

    def close(self) -> None:
        if self._path is not None:
            self._path.close()
            self._path = None


async def _run_rtp(sender: RTCRtpSender, track: OutletTrack, codec: RTCRtpCodecParameters) -> None:
    """``RTCRtpSender._run_rtp`` without a loop: the sender's stream in the track's
    outlet until the outlet closes, the connection is found gone, or the sender
    stops (cancelled)."""
    _private(sender, "rtp_started").set()
    payload_type = codec.payloadType
    assert payload_type is not None  # negotiated: the sender starts with the answer
    stream = RtpStream(sender, payload_type)
    try:
        await track.outlet.serve(stream)
    except asyncio.CancelledError:
        pass
    finally:
        stream.close()
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
