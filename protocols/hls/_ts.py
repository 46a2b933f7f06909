"""MPEG-TS muxing (ISO/IEC 13818-1) of H.264/HEVC and AAC, as HLS segments need.

Theory of operation
-------------------
One program (number 1) with a PMT on PID 0x1000, video on 0x100 (stream_type 0x1B H.264 or
0x24 HEVC) and audio on 0x101 (0x0F, AAC in ADTS). The PCR travels on the video PID, or on
the audio PID for audio-only programs, in the adaptation field of the first TS packet of
every PES packet of that PID.

Every frame becomes one PES packet. Timestamps arrive in milliseconds (RTMP's unit, already
unwrapped to 64 bits by the caller) and become 90 kHz: ``DTS = (dts_ms + offset) * 90`` and
``PTS = DTS + composition_time_ms * 90``, taken modulo 2**33 as the 33-bit fields wrap. The
constant ``timestamp_offset_ms`` keeps the PCR, which runs :data:`PCR_LEAD_MS` ahead of the
DTS it announces, non-negative at the start of a stream.

Continuity counters are kept per PID for the muxer's whole life, so consecutive segments of
one stream form a continuous transport stream. :meth:`TSMuxer.tables` is called at the start
of every segment: HLS requires each segment to carry its PAT and PMT (RFC 8216 3.2).
"""

from __future__ import annotations

import struct
from itertools import chain
from typing import Final

from protocols.flv import AudioSpecificConfig, AVCDecoderConfig, HEVCDecoderConfig

from ._adts import adts_frame
from ._crc import crc32_mpeg2
from ._errors import HLSError
from ._nal import to_annex_b

__all__ = [
    "AUDIO_PID",
    "DEFAULT_TIMESTAMP_OFFSET_MS",
    "PMT_PID",
    "STREAM_TYPE_AAC",
    "STREAM_TYPE_H264",
    "STREAM_TYPE_HEVC",
    "TS_PACKET_SIZE",
    "VIDEO_PID",
    "TSMuxer",
]

TS_PACKET_SIZE: Final = 188
_PAYLOAD_SIZE: Final = TS_PACKET_SIZE - 4
PAT_PID: Final = 0x0000
PMT_PID: Final = 0x1000
VIDEO_PID: Final = 0x0100
AUDIO_PID: Final = 0x0101
PROGRAM_NUMBER: Final = 1
STREAM_TYPE_AAC: Final = 0x0F  # ISO/IEC 13818-7 audio with ADTS transport syntax
STREAM_TYPE_H264: Final = 0x1B
STREAM_TYPE_HEVC: Final = 0x24
_VIDEO_STREAM_ID: Final = 0xE0
_AUDIO_STREAM_ID: Final = 0xC0
_TS_CLOCK_WRAP: Final = 1 << 33
# The PCR says "the decoder clock is now X"; it runs this far behind the DTS of the frame it
# rides on, so the frame arrives before it is due. 100 ms is also the largest PCR interval
# 13818-1 2.7.2 allows, so the two never overlap.
PCR_LEAD_MS: Final = 100
# Shifts every timestamp so that stream time 0 is 1 s on the 90 kHz clock: the PCR, 100 ms
# behind, then never goes negative, and small negative DTS (B-frame streams) stay valid.
DEFAULT_TIMESTAMP_OFFSET_MS: Final = 1000


def _psi_packets(pid: int, section: bytes, counter: int) -> bytes:
    body = section + crc32_mpeg2(section).to_bytes(4, "big")
    # One section always fits: pointer_field (1) + at most 2 streams' PMT.
    payload = b"\x00" + body
    header = bytes((0x47, 0x40 | (pid >> 8), pid & 0xFF, 0x10 | counter))
    return header + payload + b"\xff" * (_PAYLOAD_SIZE - len(payload))


def _encode_timestamp(prefix: int, ts: int) -> bytes:
    # 13818-1 2.4.3.7: 4-bit prefix, then 33 bits in 3/15/15 groups each closed by a marker.
    return bytes(
        (
            (prefix << 4) | ((ts >> 29) & 0x0E) | 1,
            (ts >> 22) & 0xFF,
            ((ts >> 14) & 0xFE) | 1,
            (ts >> 7) & 0xFF,
            ((ts << 1) & 0xFE) | 1,
        )
    )


def _encode_pcr(base: int) -> bytes:
    # 33-bit base, 6 reserved bits set, 9-bit extension 0.
    return bytes(
        (
            (base >> 25) & 0xFF,
            (base >> 17) & 0xFF,
            (base >> 9) & 0xFF,
            (base >> 1) & 0xFF,
            ((base & 1) << 7) | 0x7E,
            0x00,
        )
    )


def _pes_header(stream_id: int, payload_size: int, pts: int, dts: int | None) -> bytes:
    """A PES packet's header, for a payload of ``payload_size`` bytes that follows it."""
    if dts is None:
        flags, header = 0x80, _encode_timestamp(0b0010, pts)
    else:
        flags, header = 0xC0, _encode_timestamp(0b0011, pts) + _encode_timestamp(0b0001, dts)
    length = 3 + len(header) + payload_size
    # PES_packet_length 0 means "unbounded", which 13818-1 2.4.3.7 allows only for video.
    packet_length = length if length <= 0xFFFF else 0
    # '10' marker, data_alignment_indicator set: every PES starts with an access unit.
    return (
        b"\x00\x00\x01"
        + bytes((stream_id,))
        + packet_length.to_bytes(2, "big")
        + bytes((0x84, flags, len(header)))
        + header
    )


class TSMuxer:
    """Turns H.264/HEVC and AAC frames into 188-byte MPEG-TS packets.

    Set the codec records first with :meth:`set_video_config` / :meth:`set_audio_config`;
    the PMT written by :meth:`tables` lists the streams whose record is set.

    Args:
        timestamp_offset_ms: Added to every timestamp before conversion to 90 kHz
            (see the module docstring).
    """

    def __init__(self, *, timestamp_offset_ms: int = DEFAULT_TIMESTAMP_OFFSET_MS) -> None:
        self._offset_ms = timestamp_offset_ms
        self._counters: dict[int, int] = {}
        self.video_config: AVCDecoderConfig | HEVCDecoderConfig | None = None
        self.audio_config: AudioSpecificConfig | None = None
        self._pmt_version = 0
        self._pmt_streams: tuple[tuple[int, int], ...] = ()

    def set_video_config(self, config: AVCDecoderConfig | HEVCDecoderConfig | None) -> None:
        """Set (or clear) the video decoder configuration; its parameter sets are inserted
        before every IDR/IRAP access unit."""
        self.video_config = config

    def set_audio_config(self, config: AudioSpecificConfig | None) -> None:
        """Set (or clear) the AAC AudioSpecificConfig used for ADTS headers."""
        self.audio_config = config

    @property
    def pcr_pid(self) -> int:
        """The PID carrying the PCR: video if there is video, else audio."""
        return VIDEO_PID if self.video_config is not None else AUDIO_PID

    def _next_counter(self, pid: int) -> int:
        counter = self._counters.get(pid, -1)
        counter = (counter + 1) & 0x0F
        self._counters[pid] = counter
        return counter

    def _ts90(self, ms: int) -> int:
        return ((ms + self._offset_ms) * 90) % _TS_CLOCK_WRAP

    def tables(self) -> bytes:
        """PAT and PMT for the streams whose records are set: two TS packets.

        Raises:
            HLSError: Neither a video nor an audio record is set.
        """
        streams: list[tuple[int, int]] = []
        if isinstance(self.video_config, AVCDecoderConfig):
            streams.append((STREAM_TYPE_H264, VIDEO_PID))
        elif isinstance(self.video_config, HEVCDecoderConfig):
            streams.append((STREAM_TYPE_HEVC, VIDEO_PID))
        if self.audio_config is not None:
            streams.append((STREAM_TYPE_AAC, AUDIO_PID))
        if not streams:
            raise HLSError("no video or audio configuration: nothing to put in the PMT")
        if self._pmt_streams and tuple(streams) != self._pmt_streams:
            # 13818-1 2.4.4.9: a changed PMT carries a new version_number.
            self._pmt_version = (self._pmt_version + 1) & 0x1F
        self._pmt_streams = tuple(streams)
        version = 0xC1 | (self._pmt_version << 1)  # reserved '11', version, current_next 1
        # PAT: table_id 0, section_syntax_indicator 1, '0', reserved '11', section_length.
        pat_body = (
            b"\x00\x01"  # transport_stream_id
            + bytes((0xC1, 0, 0))  # version 0, current_next 1, section 0 of 0
            + PROGRAM_NUMBER.to_bytes(2, "big")
            + (0xE000 | PMT_PID).to_bytes(2, "big")
        )
        pat = b"\x00" + (0xB000 | (len(pat_body) + 4)).to_bytes(2, "big") + pat_body
        es_info = b"".join(
            bytes((stype,)) + (0xE000 | pid).to_bytes(2, "big") + b"\xf0\x00"
            for stype, pid in streams
        )
        pmt_body = (
            PROGRAM_NUMBER.to_bytes(2, "big")
            + bytes((version, 0, 0))
            + (0xE000 | self.pcr_pid).to_bytes(2, "big")
            + b"\xf0\x00"  # program_info_length 0
            + es_info
        )
        pmt = b"\x02" + (0xB000 | (len(pmt_body) + 4)).to_bytes(2, "big") + pmt_body
        return _psi_packets(PAT_PID, pat, self._next_counter(PAT_PID)) + _psi_packets(
            PMT_PID, pmt, self._next_counter(PMT_PID)
        )

    def video_frame(self, data: bytes, *, dts_ms: int, cts_ms: int = 0, keyframe: bool) -> bytes:
        """Mux one length-prefixed access unit (an RTMP/FLV video frame's payload).

        Args:
            data: NAL units with length prefixes of the record's ``nal_length_size``.
            dts_ms: Decode timestamp in ms (the RTMP timestamp).
            cts_ms: Composition time offset in ms: PTS = DTS + cts.
            keyframe: Sets random_access_indicator on the first TS packet; an IDR/IRAP
                picture inside the frame does so as well.

        Raises:
            HLSError: No video record set, or malformed length prefixes.
        """
        if self.video_config is None:
            raise HLSError("video frame before the video sequence header")
        annex_b, random_access = to_annex_b(data, self.video_config)
        dts = self._ts90(dts_ms)
        pts = self._ts90(dts_ms + cts_ms)
        header = _pes_header(_VIDEO_STREAM_ID, len(annex_b), pts, dts if pts != dts else None)
        random_access = keyframe or random_access
        return self._packetize(VIDEO_PID, header, annex_b, dts, random_access=random_access)

    def audio_frame(self, data: bytes, *, pts_ms: int) -> bytes:
        """Mux one raw AAC frame (an RTMP/FLV AAC raw packet's payload) as ADTS.

        Raises:
            HLSError: No AudioSpecificConfig set, or one that ADTS cannot express.
        """
        if self.audio_config is None:
            raise HLSError("audio frame before the AAC sequence header")
        pts = self._ts90(pts_ms)
        adts = adts_frame(data, self.audio_config)
        header = _pes_header(_AUDIO_STREAM_ID, len(adts), pts, None)
        return self._packetize(
            AUDIO_PID, header, adts, pts, random_access=self.video_config is None
        )

    def _packetize(
        self, pid: int, header: bytes, payload: bytes, dts: int, *, random_access: bool
    ) -> bytes:
        # One PES packet (``header`` + ``payload``, never copied whole) in TS packets. A
        # frame's PES is tens of kilobytes: hundreds of packets. Only the first packet
        # (PUSI, the PES header, maybe an adaptation field) and the last (stuffing) are
        # built one by one; the full packets between are a precomputed header and a slice
        # of the payload each, interleaved by slice assignment and copied once by the join.
        size = len(payload)
        counter = (self._counters.get(pid, -1) + 1) & 0x0F
        flags = 0x40 if random_access else 0  # random_access_indicator
        if pid == self.pcr_pid:
            pcr = _encode_pcr((dts - PCR_LEAD_MS * 90) % _TS_CLOCK_WRAP)
            field: bytes | None = bytes((flags | 0x10,)) + pcr  # PCR_flag
        else:
            field = bytes((flags,)) if flags else None
        # Payload bytes in the first packet, after the PES header (at most 19 bytes, so
        # it always fits there whole).
        room = _PAYLOAD_SIZE - (0 if field is None else 1 + len(field)) - len(header)
        if size <= room:
            packet = _packet(pid, 0x40, counter, field, header + payload)
            self._counters[pid] = counter
            return packet
        chunks: list[bytes | memoryview] = [
            _packet(pid, 0x40, counter, field, header + payload[:room])
        ]
        view = memoryview(payload)
        full = (size - room) // _PAYLOAD_SIZE
        end = room + full * _PAYLOAD_SIZE
        if full:
            start = (counter + 1) & 0x0F
            headers = _CONTINUATION_HEADERS[pid]
            rotated = (headers[start:] + headers[:start]) * (full // 16 + 1)
            middle: list[bytes | memoryview] = [b""] * (2 * full)
            middle[0::2] = rotated[:full]
            # Split off in C, sixteen payloads per call: a Python-level slice per packet
            # cost several times as much as the rest of the packet together.
            groups, rest = divmod(full, 16)
            grouped = room + groups * 16 * _PAYLOAD_SIZE
            payloads = list(chain.from_iterable(_PAYLOADS[16].iter_unpack(view[room:grouped])))
            payloads += _PAYLOADS[rest].unpack_from(payload, grouped)
            middle[1::2] = payloads
            chunks += middle
            counter = (counter + full) & 0x0F
        if end < size:
            counter = (counter + 1) & 0x0F
            chunks.append(_packet(pid, 0, counter, None, view[end:]))
        self._counters[pid] = counter
        return b"".join(chunks)


# n full packets' payloads, for n up to one continuity counter cycle.
_PAYLOADS: Final = tuple(struct.Struct(f"{_PAYLOAD_SIZE}s" * n) for n in range(17))

# The header of every packet but a PES packet's first and last, by PID and continuity
# counter: no PUSI, payload only (adaptation_field_control '01').
_CONTINUATION_HEADERS: Final = {
    pid: tuple(bytes((0x47, pid >> 8, pid & 0xFF, 0x10 | c)) for c in range(16))
    for pid in (VIDEO_PID, AUDIO_PID)
}


def _packet(
    pid: int, pusi: int, counter: int, field: bytes | None, payload: bytes | memoryview
) -> bytes:
    """One TS packet carrying ``payload`` (at most what fits beside ``field``, the
    adaptation field's content after its length byte; ``None``: no adaptation field),
    filled with adaptation-field stuffing (13818-1 2.4.3.5) when the payload is short."""
    room = _PAYLOAD_SIZE - (0 if field is None else 1 + len(field))
    stuffing = room - len(payload)
    if stuffing:
        if field is not None:
            field += b"\xff" * stuffing
        elif stuffing == 1:
            field = b""  # adaptation_field_length 0 is exactly one byte
        else:
            field = b"\x00" + b"\xff" * (stuffing - 2)
    header = bytes(
        (0x47, pusi | (pid >> 8), pid & 0xFF, (0x10 if field is None else 0x30) | counter)
    )
    if field is None:
        return header + payload
    return b"".join((header, bytes((len(field),)), field, payload))
