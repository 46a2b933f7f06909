"""One buffer per finished LL-HLS segment, reused from segment to segment.

An LL-HLS rendition serves every segment of its window whole (about 24 s of media,
some 20 MB at 6 Mbit/s) and the recent ones' parts as well. Held as the frames the
muxer made, that is thousands of buffers of tens of kilobytes coming and going in the
heap of the whole server, each new one page-faulted in and every allocation of the
process dearer for them (docs/benchmarks.md). Here a finished segment is copied into
one buffer, its parts and itself are served as read-only views of it, and when the
segment leaves the window its buffer takes the next segment: the memory is mapped
once and stays, and the frames are freed within a segment's duration.

A buffer is reused only when no view of it is left: an answer still being sent
keeps its bytes, which must not change under it. A ``bytearray`` refuses to change
size while a view of it exists, which is what :meth:`SegmentBuffers.give_back` asks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["SPARE_BUFFERS", "SegmentBuffers"]

# Buffers kept for the next segments: a rendition ends a segment and drops the oldest
# one at the same time, so one is enough in the steady state; two absorb a cut.
SPARE_BUFFERS: Final = 2


class SegmentBuffers:
    """The spare segment buffers of one rendition (at most :data:`SPARE_BUFFERS`)."""

    def __init__(self) -> None:
        self._spare: list[bytearray] = []

    @property
    def spare(self) -> int:
        """Buffers waiting for a segment."""
        return len(self._spare)

    def fill(self, chunks: Sequence[bytes | memoryview]) -> tuple[bytearray, memoryview]:
        """``chunks`` in one buffer, a spare one if there is one.

        A spare buffer takes what fits in place; the rest, or all of it in a new
        buffer, is appended, so that each new page is written once (a buffer made
        zeroed first and then written was twice the page faults).

        Returns:
            The buffer (to :meth:`give_back` once the segment is dropped) and a
            read-only view of the chunks in it.
        """
        buffer = self._spare.pop() if self._spare else bytearray()
        at = fitted = 0
        with memoryview(buffer) as room:
            for chunk in chunks:
                end = at + len(chunk)
                if end > len(room):
                    break
                room[at:end] = chunk
                at, fitted = end, fitted + 1
        del buffer[at:]  # its length is the segment's; the memory stays for the next
        for chunk in chunks[fitted:]:
            buffer += chunk
        return buffer, memoryview(buffer).toreadonly()

    def give_back(self, buffer: bytearray) -> bool:
        """Keep ``buffer`` for a later segment, unless a view of it is still alive
        (an answer being sent) or enough are spare: then it is left to be freed.

        Returns:
            It was kept.
        """
        if len(self._spare) >= SPARE_BUFFERS or not buffer:
            return False
        try:
            del buffer[-1]  # refused while a view exists; the spare byte is put back
        except BufferError:
            return False
        buffer.append(0)
        self._spare.append(buffer)
        return True
