"""Receive buffer with O(n) total consumption cost (cf. h11's ReceiveBuffer).

Parsers read ``data`` directly from ``start``; consuming advances ``start``.
The consumed prefix is dropped only when it is at least half the buffer, so each
byte is moved O(1) times on average, however the input is split.
"""

from __future__ import annotations

__all__ = ["ReceiveBuffer"]

# Below this, compaction is cheaper than keeping dead bytes around.
_COMPACT_MIN_BYTES = 64 * 1024


class ReceiveBuffer:
    __slots__ = ("data", "start")

    def __init__(self) -> None:
        self.data = bytearray()
        self.start = 0

    def __len__(self) -> int:
        return len(self.data) - self.start

    def append(self, chunk: bytes | bytearray | memoryview) -> None:
        self.data += chunk

    def consume(self, n: int) -> None:
        self.start += n
        if self.start == len(self.data):
            self.data.clear()
            self.start = 0
        elif self.start >= _COMPACT_MIN_BYTES and self.start * 2 >= len(self.data):
            del self.data[: self.start]
            self.start = 0

    def take(self, n: int) -> bytes:
        """Remove and return the next ``n`` bytes (caller checked ``len(self) >= n``)."""
        chunk = bytes(self.data[self.start : self.start + n])
        self.consume(n)
        return chunk
