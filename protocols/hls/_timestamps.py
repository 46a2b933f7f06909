"""RTMP's 32-bit millisecond timestamps to 64-bit ones."""

from __future__ import annotations

from typing import Final

__all__ = ["TimestampUnwrapper"]

_WRAP: Final = 1 << 32
_HALF: Final = 1 << 31


class TimestampUnwrapper:
    """Extends 32-bit millisecond timestamps (which wrap after ~49.7 days) to unbounded ones.

    Each timestamp is placed at the point nearest to the previous result: a step of less
    than 2**31 ms forwards is a forward step (possibly across the wrap), anything else is a
    step backwards. Small backwards jumps (audio/video interleaving, encoder jitter) thus
    come out as small backwards jumps, not as a jump of 49 days. The first timestamp is
    returned as it is. Use one unwrapper per published stream, shared by its audio and
    video, so that both stay on one timeline when the wrap falls between them.
    """

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: int | None = None

    def unwrap(self, timestamp_ms: int) -> int:
        """Return the 64-bit timestamp for a 32-bit one (bits above 32 are ignored)."""
        timestamp_ms %= _WRAP
        if self._last is None:
            self._last = timestamp_ms
            return timestamp_ms
        delta = (timestamp_ms - self._last) % _WRAP
        if delta >= _HALF:
            delta -= _WRAP
        self._last += delta
        return self._last
