"""Low-Latency HLS parts of one rendition cut where another rendition's parts start.

Rules / theory of operation
---------------------------
* One rendition *leads* (the source): its :class:`PartCutter` decides where parts and
  segments end. Every part it opens is announced as a :class:`PartStart`: its number
  (MSN, part) and the *aligned time* of its first frame. The aligned time is the frame's
  decode timestamp plus the composition offset of the newest keyframe: the presentation
  time of the keyframe a part starts with, and, within a keyframe interval, the decode
  times moved by the encoder's constant reordering delay. Another encoding of the same
  pictures (a ladder rung, which has no B-frames, or another track of the same encoder)
  gives the same aligned times to the same pictures.
* A :class:`PartFollower` cuts a rendition's parts at the leader's starts: a part ends
  before the first frame whose aligned time reaches the next start (less
  :data:`SLACK_MS`: the same picture's millisecond timestamps in two encodings may be
  rounded apart, as 30 fps decode and presentation times are), and the part it opens
  takes that start's number. So the same part numbers cover the same media time
  in every rendition.
* Nothing is open until a start point (a keyframe) reaches the start of a segment
  (part 0): a follower joins at a segment boundary, with that segment's number.
* A follower that misses whole parts of the leader (no frame of its own in them: a
  rung's encoder late, a frame dropped) takes the newest start its frame reached, and
  the parts it missed are :attr:`PartFollower.gaps`: numbered, lasting from their start
  to the next one's, for the caller to list as GAP parts, so the numbering goes on
  unbroken and aligned. The part that ends then lasts until the first start it missed.
* Starts not reached yet are kept, bounded (:data:`MAX_PENDING_STARTS`): a follower that
  far behind its leader is stopped by its caller long before.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from itertools import pairwise
from typing import Final

from ._parts import PartEnded

__all__ = ["MAX_PENDING_STARTS", "SLACK_MS", "GapPart", "PartFollower", "PartStart"]

# 30 s of 100 ms parts: a live rendition that far behind is dropped as lagging long before.
MAX_PENDING_STARTS: Final = 300
# Each of two millisecond timestamps of one picture is rounded by up to 0.5 ms (at 30 fps,
# a B-frame stream's decode time plus the keyframe's offset is 133 where the picture is
# at 133.3, rounded down, or 134); far below any frame interval (8 ms at 120 fps).
SLACK_MS: Final = 2


@dataclass(frozen=True, slots=True, kw_only=True)
class PartStart:
    """Where the leading rendition opened a part.

    Attributes:
        msn: Its segment's media sequence number.
        part: Its number within the segment (0 opens the segment).
        at_ms: The aligned time of its first frame (module rules).
    """

    msn: int
    part: int
    at_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class GapPart:
    """A part of the leader the follower has no media for (a GAP part).

    Attributes:
        msn: Its segment's media sequence number.
        part: Its number within the segment.
        duration_ms: From its start to the leader's next one.
        ends_segment: The leader's next start opens a segment.
    """

    msn: int
    part: int
    duration_ms: int
    ends_segment: bool


def _ends_segment(start: PartStart, following: PartStart) -> bool:
    return following.part == 0 or following.msn != start.msn


class PartFollower:
    """Decides a rendition's part and segment boundaries from its leader's (pure).

    The same calls as :class:`PartCutter` (:meth:`push`, :meth:`finish`, :attr:`open`),
    plus :meth:`lead`, which the leader's starts go to, :attr:`position` and
    :attr:`gaps`.

    Args:
        max_pending: Starts kept before the follower reaches them; the oldest go first.
    """

    def __init__(self, *, max_pending: int = MAX_PENDING_STARTS) -> None:
        self._pending: deque[PartStart] = deque(maxlen=max_pending)
        self._position: PartStart | None = None  # the open part's start
        self._part_start = 0
        self._part_independent = False
        self._last: int | None = None
        self._step = 0  # the newest frame interval, for the last part's duration
        self._gaps: tuple[GapPart, ...] = ()

    @property
    def is_open(self) -> bool:
        """A part is open."""
        return self._position is not None

    @property
    def position(self) -> tuple[int, int] | None:
        """``(msn, part)`` of the open part."""
        start = self._position
        return None if start is None else (start.msn, start.part)

    @property
    def gaps(self) -> tuple[GapPart, ...]:
        """The parts missed between the part the last :meth:`push` ended and the one it
        opened (module rules), oldest first; empty when none was."""
        return self._gaps

    def lead(self, start: PartStart) -> None:
        """The leader opened a part."""
        self._pending.append(start)

    def push(self, timestamp_ms: int, *, start_point: bool) -> PartEnded | None:
        """Account one frame, before it is muxed.

        Args:
            timestamp_ms: Its aligned time (module rules).
            start_point: A keyframe.

        Returns:
            :class:`PartEnded` if the open part ends before this frame (which opens the
            part now at :attr:`position`, after the :attr:`gaps`); ``None`` if the
            frame joins the open part or opens the first one (check :attr:`is_open`: a
            frame pushed while nothing is open that does not open a part is to be
            dropped).
        """
        passed: list[PartStart] = []
        while self._pending and self._pending[0].at_ms <= timestamp_ms + SLACK_MS:
            passed.append(self._pending.popleft())
        reached = passed[-1] if passed else None
        self._gaps = ()
        if self._last is not None and timestamp_ms > self._last:
            self._step = timestamp_ms - self._last
        self._last = timestamp_ms
        if self._position is None:
            if reached is not None and reached.part == 0 and start_point:
                self._open(reached, timestamp_ms, start_point)
            return None
        if reached is None:
            return None
        # Parts passed without a frame are gaps; the open part ends at the first of them.
        end_ms = min(timestamp_ms, passed[0].at_ms)
        ended = PartEnded(
            duration_ms=end_ms - self._part_start,
            independent=self._part_independent,
            ends_segment=_ends_segment(self._position, passed[0]),
            next_independent=start_point,
        )
        self._gaps = tuple(
            GapPart(
                msn=start.msn,
                part=start.part,
                duration_ms=following.at_ms - start.at_ms,
                ends_segment=_ends_segment(start, following),
            )
            for start, following in pairwise(passed)
        )
        self._open(reached, timestamp_ms, start_point)
        return ended

    def _open(self, start: PartStart, timestamp_ms: int, start_point: bool) -> None:
        # A part lasts from its start (or its first frame, rounded a little earlier) to
        # the next one: a frame late after a gap leaves the durations the leader's.
        self._position = start
        self._part_start = min(timestamp_ms, start.at_ms)
        self._part_independent = start_point

    def finish(self) -> PartEnded | None:
        """Close the open part and segment (end of stream, or a cut the caller forces).

        Frames pushed afterwards wait for a start point at a segment's start again.

        Returns:
            The part that ended (``ends_segment`` set), or ``None`` if none was open.
        """
        if self._position is None:
            return None
        assert self._last is not None  # set by the frame that opened the part
        ended = PartEnded(
            duration_ms=self._last - self._part_start + self._step,
            independent=self._part_independent,
            ends_segment=True,
            next_independent=False,
        )
        self._position = None
        self._last = None
        self._step = 0
        return ended
