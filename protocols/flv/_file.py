"""FLV file framing: the 9-byte header, tags and their PreviousTagSize trailers.

Theory of operation
-------------------
An FLV stream (a file, an HTTP-FLV response) is::

    header(9) | PreviousTagSize0(4) = 0 | tag | PreviousTagSize | tag | PreviousTagSize ...

and each tag is an 11-byte tag header (type, 24-bit data size, 24-bit timestamp plus an
8-bit extension holding the upper bits, 24-bit stream id that is always 0) followed by the
data, which for audio/video is exactly an RTMP audio/video message body.

:class:`FLVReader` is incremental: bytes go in with :meth:`FLVReader.receive_data`, and
:meth:`FLVReader.next_event` returns the next complete :class:`FLVHeader` or :class:`FLVTag`,
:data:`NEED_DATA`, or :class:`FLVEnd` once EOF was received (``b""``) on a tag boundary.
A tag whose declared size exceeds ``max_tag_size`` is rejected before its body is buffered,
so memory stays bounded whatever the peer claims. After an :class:`FLVError` the reader
stays broken: every later call raises again.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import Final, Literal

from ._errors import FLVError

__all__ = [
    "DEFAULT_MAX_TAG_SIZE",
    "NEED_DATA",
    "FLVEnd",
    "FLVHeader",
    "FLVReader",
    "FLVTag",
    "NeedData",
    "TagType",
    "encode_header",
    "encode_tag",
    "encode_tag_fields",
]

HEADER_SIZE: Final = 9
TAG_HEADER_SIZE: Final = 11
# 16 MiB - 1 is what the 24-bit DataSize field can express at all; 8 MiB comfortably holds a
# 4K intra frame, while refusing to buffer whatever a broken or hostile peer announces.
DEFAULT_MAX_TAG_SIZE: Final = 8 * 1024 * 1024


class TagType(enum.IntEnum):
    """FLV TagType (FLV spec E.4.1)."""

    AUDIO = 8
    VIDEO = 9
    SCRIPT_DATA = 18


class NeedData(enum.Enum):
    """Type of the :data:`NEED_DATA` sentinel."""

    NEED_DATA = enum.auto()


NEED_DATA: Final = NeedData.NEED_DATA
"""Returned by :meth:`FLVReader.next_event` when more bytes are needed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FLVHeader:
    """The FLV file header.

    Attributes:
        has_audio: TypeFlagsAudio: audio tags are present.
        has_video: TypeFlagsVideo: video tags are present.
    """

    has_audio: bool
    has_video: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class FLVTag:
    """One FLV tag.

    Attributes:
        tag_type: 8 audio, 9 video, 18 script data (other 5-bit values are passed through).
        timestamp_ms: 32-bit timestamp in milliseconds (DTS for video).
        data: The tag body: an RTMP audio/video/data message body.
    """

    tag_type: int
    timestamp_ms: int
    data: bytes

    def __post_init__(self) -> None:
        _check_tag(self.tag_type, self.timestamp_ms, len(self.data))


def _check_tag(tag_type: int, timestamp_ms: int, size: int) -> None:
    if not 0 <= tag_type < 32:
        raise ValueError(f"tag type {tag_type} does not fit in 5 bits")
    if not 0 <= timestamp_ms < 1 << 32:
        raise ValueError(f"timestamp {timestamp_ms} does not fit in 32 bits")
    if size >= 1 << 24:
        raise ValueError(f"tag body of {size} bytes does not fit in 24 bits")


@dataclass(frozen=True, slots=True, kw_only=True)
class FLVEnd:
    """The stream ended cleanly (EOF on a tag boundary)."""


def encode_header(*, has_audio: bool, has_video: bool) -> bytes:
    """Serialise the FLV header followed by PreviousTagSize0.

    Returns:
        13 bytes to write before the first tag.
    """
    flags = (0x04 if has_audio else 0) | (0x01 if has_video else 0)
    return b"FLV\x01" + struct.pack(">BII", flags, HEADER_SIZE, 0)


def encode_tag(tag: FLVTag) -> bytes:
    """Serialise a tag followed by its PreviousTagSize trailer."""
    return _encode_tag(tag.tag_type, tag.timestamp_ms, tag.data)


def encode_tag_fields(tag_type: int, timestamp_ms: int, data: bytes) -> bytes:
    """:func:`encode_tag` without building an :class:`FLVTag` first (per-packet hot paths).

    Raises:
        ValueError: A field out of range, as :class:`FLVTag` would raise.
    """
    _check_tag(tag_type, timestamp_ms, len(data))
    return _encode_tag(tag_type, timestamp_ms, data)


def encode_tag_envelope(tag_type: int, timestamp_ms: int, size: int) -> tuple[bytes, bytes]:
    """The tag header and the PreviousTagSize trailer around a body of ``size`` bytes.

    ``header + data + trailer`` is :func:`encode_tag_fields`'s tag; kept apart, the
    body is copied only where tags are joined for a write, not into a tag of its own.

    Raises:
        ValueError: A field out of range, as :class:`FLVTag` would raise.
    """
    _check_tag(tag_type, timestamp_ms, size)
    header = _TAG_HEADER.pack(
        tag_type << 24 | size, (timestamp_ms & 0xFFFFFF) << 8 | timestamp_ms >> 24
    )
    return header, _PREVIOUS_TAG_SIZE.pack(TAG_HEADER_SIZE + size)


# type(1) DataSize(3) | Timestamp low 24 bits(3) TimestampExtended(1) | StreamID(3) = 0
_TAG_HEADER = struct.Struct(">II3x")
_PREVIOUS_TAG_SIZE = struct.Struct(">I")


def _encode_tag(tag_type: int, timestamp_ms: int, data: bytes) -> bytes:
    size = len(data)
    header = _TAG_HEADER.pack(
        tag_type << 24 | size, (timestamp_ms & 0xFFFFFF) << 8 | timestamp_ms >> 24
    )
    # One copy of the body, however large.
    return b"".join((header, data, _PREVIOUS_TAG_SIZE.pack(TAG_HEADER_SIZE + size)))


class FLVReader:
    """Incremental FLV parser: bytes in, :class:`FLVHeader` then :class:`FLVTag` values out.

    Args:
        max_tag_size: Largest tag body accepted, in bytes; a larger declared size raises
            :class:`FLVError` before any of the body is buffered.

    Error handling:
        Every malformed input raises :class:`FLVError` with a description; the reader then
        refuses further use (each call raises :class:`FLVError` again).
    """

    def __init__(self, *, max_tag_size: int = DEFAULT_MAX_TAG_SIZE) -> None:
        self._max_tag_size = max_tag_size
        self._buffer = bytearray()
        self._header_seen = False
        self._eof = False
        self._error: str | None = None

    def receive_data(self, data: bytes) -> None:
        """Append bytes read from the source; ``b""`` means EOF.

        Raises:
            RuntimeError: Data after EOF.
        """
        if data and self._eof:
            raise RuntimeError("received data after EOF")
        if not data:
            self._eof = True
        self._buffer += data

    def next_event(self) -> FLVHeader | FLVTag | FLVEnd | Literal[NeedData.NEED_DATA]:
        """Return the next complete value, or :data:`NEED_DATA`.

        Raises:
            FLVError: Malformed data, an oversized tag, or EOF in the middle of a tag.
        """
        if self._error is not None:
            raise FLVError(f"reader already failed: {self._error}")
        try:
            event = self._read()
        except FLVError as exc:
            self._error = str(exc)
            raise
        if event is None:
            if not self._eof:
                return NEED_DATA
            if self._buffer:
                self._error = "stream ended in the middle of a tag"
                raise FLVError(self._error)
            return FLVEnd()
        return event

    def _read(self) -> FLVHeader | FLVTag | None:
        buf = self._buffer
        if not self._header_seen:
            if len(buf) >= 3 and buf[:3] != b"FLV":
                raise FLVError("not an FLV stream: bad signature")
            if len(buf) < HEADER_SIZE + 4:
                return None
            version, flags, offset = struct.unpack_from(">BBI", buf, 3)
            if version != 1:
                raise FLVError(f"unsupported FLV version {version}")
            if offset < HEADER_SIZE:
                raise FLVError(f"FLV DataOffset {offset} is smaller than the header")
            # DataOffset > 9 is legal (future header fields): skip the unknown bytes.
            if offset - HEADER_SIZE > self._max_tag_size:
                raise FLVError(f"FLV DataOffset {offset} is too large")
            if len(buf) < offset + 4:
                return None
            (prev,) = struct.unpack_from(">I", buf, offset)
            if prev != 0:
                raise FLVError(f"PreviousTagSize0 is {prev}, expected 0")
            del buf[: offset + 4]
            self._header_seen = True
            return FLVHeader(has_audio=bool(flags & 0x04), has_video=bool(flags & 0x01))
        if len(buf) < TAG_HEADER_SIZE:
            return None
        first = buf[0]
        if first & 0x20:
            raise FLVError("encrypted (Filter=1) FLV tags are not supported")
        size = int.from_bytes(buf[1:4], "big")
        if size > self._max_tag_size:
            raise FLVError(f"tag of {size} bytes exceeds the limit of {self._max_tag_size}")
        end = TAG_HEADER_SIZE + size + 4
        if len(buf) < end:
            return None
        (prev,) = struct.unpack_from(">I", buf, TAG_HEADER_SIZE + size)
        if prev != TAG_HEADER_SIZE + size:
            raise FLVError(f"PreviousTagSize is {prev}, expected {TAG_HEADER_SIZE + size}")
        timestamp = (buf[7] << 24) | int.from_bytes(buf[4:7], "big")
        tag = FLVTag(
            tag_type=first & 0x1F,
            timestamp_ms=timestamp,
            data=bytes(buf[TAG_HEADER_SIZE : TAG_HEADER_SIZE + size]),
        )
        del buf[:end]
        return tag
