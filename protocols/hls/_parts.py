"""Where Low-Latency HLS parts and segments end, frame by frame.

Rules / theory of operation
---------------------------
* The caller pushes every frame's timestamp (video frames; for an audio-only stream, the
  audio frames) before muxing it; :meth:`PartCutter.push` answers whether the frame
  just pushed starts a new part, and whether that part also starts a new segment. The
  caller then closes the open fragment (the part that ends) and muxes the frame into
  the next one. Audio frames of a stream with video never cut: they join the open part.
* A *start point* is a keyframe (any frame of an audio-only stream). Nothing is open
  until the first start point, so the first part and segment are independent.
* A segment is cut before a start point once it is at least ``target - 5 %`` long (as
  :class:`Segmenter` does), or before any frame at ``max_duration_ms`` (then the new
  segment is not independent). Every segment is therefore made of whole parts.
* A part is cut before every start point, so that players can start at any keyframe
  (it is an INDEPENDENT part), and before a frame that would make it longer than the
  part target: the
  frame's timestamp plus the longest recent frame interval is past the target. So a
  part lasts at most the part target while frames come at a steady rate (RFC 8216bis
  4.4.4.9: a part's duration MUST NOT exceed EXT-X-PART-INF's PART-TARGET); a frame that
  arrives later than any recent one is the only way past it.
* Within a keyframe interval (a GOP) the parts are of about equal length: the previous
  GOP's duration is taken as the next one's, and split into as few equal shares as keep
  each within the part target; a part ends at the frame nearest to its share's end
  (the last one at the next start point). Cut by the target alone, a 1 s GOP of 300 ms
  parts would end with a 100 ms part: hls.js counts a fragment as buffered once its
  buffered range reaches within 0.2 s of the fragment's end, so a segment whose last
  part is that short can count as complete before that part is loaded, and the player
  stalls at the hole. Equal shares of a 1 s GOP are 250 ms (233-267 at 30 fps). The
  first GOP after a start or a break, with nothing to go by, is cut by the target.
* A part is INDEPENDENT when it starts with a start point (RFC 8216bis 4.4.4.9).
* A part's duration is the next part's start minus its own; the last one's (at
  :meth:`PartCutter.finish`) counts its newest frame as one frame interval.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Final

from ._segmenter import DEFAULT_MAX_EXTRA_MS

__all__ = ["PartCutter", "PartEnded"]

# The intervals a part's length is projected with: a few frames, so one short step
# (30 fps in whole milliseconds is 33, 33, 34) does not let the next part run over.
_INTERVALS_KEPT: Final = 4


@dataclass(frozen=True, slots=True, kw_only=True)
class PartEnded:
    """A part ended before the frame just pushed, which opens the next one.

    Attributes:
        duration_ms: The ended part's duration.
        independent: The ended part started with a start point.
        ends_segment: The ended part was its segment's last; the frame opens a segment.
        next_independent: The part the frame opens starts with a start point.
    """

    duration_ms: int
    independent: bool
    ends_segment: bool
    next_independent: bool


class PartCutter:
    """Decides LL-HLS part and segment boundaries from frame timestamps (pure).

    Args:
        part_target_ms: EXT-X-PART-INF's PART-TARGET: no part is made longer.
        segment_target_ms: Cut segments at the first start point this far in (less 5 %).
        max_segment_ms: Cut a segment at any frame this far in (default: target +
            ``DEFAULT_MAX_EXTRA_MS``, as :class:`Segmenter` does).

    Raises:
        ValueError: A non-positive duration, a part target above the segment target, or
            ``max_segment_ms`` below ``segment_target_ms``.
    """

    def __init__(
        self, *, part_target_ms: int, segment_target_ms: int, max_segment_ms: int | None = None
    ) -> None:
        if max_segment_ms is None:
            max_segment_ms = segment_target_ms + DEFAULT_MAX_EXTRA_MS
        if part_target_ms <= 0 or part_target_ms > segment_target_ms:
            raise ValueError("the part target must be positive and at most the segment target")
        if max_segment_ms < segment_target_ms:
            raise ValueError("max_segment_ms must be at least segment_target_ms")
        self._part_target = part_target_ms
        self._early_cut = segment_target_ms - segment_target_ms // 20
        self._max_segment = max_segment_ms
        self._segment_start: int | None = None
        self._part_start = 0
        self._part_independent = False
        self._last: int | None = None
        self._intervals: deque[int] = deque(maxlen=_INTERVALS_KEPT)
        self._gop_start = 0  # the newest start point
        self._gop_ms: int | None = None  # the last whole GOP's duration
        self._gop_parts = 0  # parts ended since the newest start point

    @property
    def is_open(self) -> bool:
        """A part is open (a start point has been pushed since the last :meth:`finish`)."""
        return self._segment_start is not None

    def push(self, timestamp_ms: int, *, start_point: bool) -> PartEnded | None:
        """Account one frame, before it is muxed.

        Args:
            timestamp_ms: Its decode timestamp; never below the previous one's.
            start_point: A keyframe (or any frame of an audio-only stream).

        Returns:
            :class:`PartEnded` if the open part ends before this frame; ``None`` if the
            frame joins the open part, or opens the first one (check :attr:`open`: a
            frame pushed while nothing is open and that is no start point is to be
            dropped).

        Raises:
            ValueError: The timestamp went backwards.
        """
        if self._last is not None and timestamp_ms < self._last:
            raise ValueError(f"timestamp {timestamp_ms} ms is before {self._last} ms")
        if self._segment_start is None:
            if start_point:
                self._segment_start = self._part_start = self._gop_start = timestamp_ms
                self._part_independent = True
                self._last = timestamp_ms
            return None
        if self._last is not None and timestamp_ms > self._last:
            self._intervals.append(timestamp_ms - self._last)
        self._last = timestamp_ms
        in_segment = timestamp_ms - self._segment_start
        in_part = timestamp_ms - self._part_start
        if in_part <= 0:
            return None
        ends_segment = (start_point and in_segment >= self._early_cut) or (
            in_segment >= self._max_segment
        )
        step = max(self._intervals, default=0)
        if (
            not (ends_segment or start_point or self._share_ends(timestamp_ms, step))
            and in_part + step <= self._part_target
        ):
            return None
        ended = PartEnded(
            duration_ms=in_part,
            independent=self._part_independent,
            ends_segment=ends_segment,
            next_independent=start_point,
        )
        if ends_segment:
            self._segment_start = timestamp_ms
        if start_point:
            self._gop_ms = timestamp_ms - self._gop_start
            self._gop_start = timestamp_ms
            self._gop_parts = 0
        else:
            self._gop_parts += 1
        self._part_start = timestamp_ms
        self._part_independent = start_point
        return ended

    def _share_ends(self, timestamp_ms: int, step: int) -> bool:
        # The frame is the nearest to the end of the open part's equal share of the GOP
        # (as long as the last one): shares * (t - start) >= part * gop - shares * step / 2.
        gop = self._gop_ms
        if gop is None or gop <= self._part_target:
            return False
        shares = -(-gop // self._part_target)
        part = self._gop_parts + 1
        if part >= shares:
            return False  # the last share ends at the next start point
        return 2 * shares * (timestamp_ms - self._gop_start) >= 2 * part * gop - shares * step

    def finish(self) -> PartEnded | None:
        """Close the open part and segment (end of stream, or a cut the caller forces).

        Frames pushed afterwards wait for a start point again.

        Returns:
            The part that ended (``ends_segment`` set), or ``None`` if none was open.
        """
        if self._segment_start is None:
            return None
        assert self._last is not None  # set with the segment start
        step = min(self._intervals, default=0)
        ended = PartEnded(
            duration_ms=self._last - self._part_start + step,
            independent=self._part_independent,
            ends_segment=True,
            next_independent=False,
        )
        self._segment_start = None
        self._last = None
        self._intervals.clear()
        self._gop_ms = None
        return ended
