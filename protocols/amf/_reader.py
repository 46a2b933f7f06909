"""Bounds-checked cursor over an AMF byte string, shared by the AMF0 and AMF3 decoders."""

from __future__ import annotations

import math
import struct
from datetime import UTC, datetime, timedelta

from ._types import AMFDecodeError

__all__ = ["EPOCH", "Reader", "datetime_to_ms", "ms_to_datetime"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)

_U16 = struct.Struct(">H")
_S16 = struct.Struct(">h")
_U32 = struct.Struct(">I")
_F64 = struct.Struct(">d")


class Reader:
    """A position in ``data``; every read checks that the bytes are there.

    Because every length read from the wire is checked against the bytes actually
    present, and every element consumes at least one byte, decoding allocates memory
    linear in the input size whatever the counts in the input claim.
    """

    __slots__ = ("data", "depth", "max_depth", "pos")

    def __init__(self, data: bytes, max_depth: int) -> None:
        self.data = data
        self.pos = 0
        self.depth = 0
        self.max_depth = max_depth

    def remaining(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int, what: str) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise AMFDecodeError(
                f"truncated {what}: need {n} bytes at offset {self.pos},"
                f" only {len(self.data) - self.pos} left"
            )
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def u8(self, what: str) -> int:
        if self.pos >= len(self.data):
            raise AMFDecodeError(f"truncated {what}: no byte left at offset {self.pos}")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def u16(self, what: str) -> int:
        value: int = _U16.unpack(self.take(2, what))[0]
        return value

    def s16(self, what: str) -> int:
        value: int = _S16.unpack(self.take(2, what))[0]
        return value

    def u32(self, what: str) -> int:
        value: int = _U32.unpack(self.take(4, what))[0]
        return value

    def f64(self, what: str) -> float:
        value: float = _F64.unpack(self.take(8, what))[0]
        return value

    def utf8(self, n: int, what: str) -> str:
        raw = self.take(n, what)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise AMFDecodeError(f"{what} is not valid UTF-8: {exc.reason}") from None

    def enter(self) -> None:
        self.depth += 1
        if self.depth > self.max_depth:
            raise AMFDecodeError(f"nesting deeper than max_depth={self.max_depth}")

    def leave(self) -> None:
        self.depth -= 1


def ms_to_datetime(ms: float) -> datetime:
    """Milliseconds since the Unix epoch (an AMF date) to an aware UTC datetime."""
    if not math.isfinite(ms):
        raise AMFDecodeError(f"date is not a finite number of milliseconds: {ms!r}")
    try:
        return EPOCH + timedelta(milliseconds=ms)
    except OverflowError:
        raise AMFDecodeError(f"date out of range: {ms!r} ms since 1970") from None


def datetime_to_ms(value: datetime) -> float:
    """An aware (or naive, taken as UTC) datetime to milliseconds since the Unix epoch."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - EPOCH) / _MS
