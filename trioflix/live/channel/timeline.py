"""The channel's output timeline: publisher timestamps in, smooth viewer timestamps out.

Publishers send 32-bit millisecond timestamps that wrap after 49.7 days, restart
at zero when OBS reconnects, and jump when hardware encoders stall or resync.
Viewers need one continuous clock. ``Timeline`` maps each publisher's timestamps
onto it:

- 32-bit wrap: unwrapped (``protocols.hls.TimestampUnwrapper``) into 64 bits;
- a new publisher (a reconnect taking over the channel): continues where the
  previous one stopped, one frame interval later;
- a jump of more than ``MAX_FORWARD_JUMP_MS`` ahead or ``MAX_BACKWARD_JUMP_MS``
  back on one track: treated as a discontinuity and stitched the same way;
- smaller backward steps (B-frame DTS quirks, audio and video interleaving) pass
  through unchanged: decoders and players accept them, and rewriting them would
  desynchronise audio from video. The output never goes below zero.
"""

from __future__ import annotations

from protocols.hls import TimestampUnwrapper

__all__ = ["MAX_BACKWARD_JUMP_MS", "MAX_FORWARD_JUMP_MS", "Timeline"]

MAX_FORWARD_JUMP_MS = 10_000  # longer than any GOP or network stall a live viewer should wait out
MAX_BACKWARD_JUMP_MS = 2_000  # beyond reordering and A/V interleave, never seen in a sane stream
STITCH_GAP_MS = 33  # one frame at 30 fps between the old timeline's end and the new start


class Timeline:
    def __init__(self) -> None:
        self._unwrapper = TimestampUnwrapper()
        self._offset: int | None = None  # output = unwrapped + offset
        self._last_in: dict[int, int] = {}  # per track (FLV tag type): last unwrapped input
        self._last_out = -STITCH_GAP_MS  # so a first publisher starts at 0
        self.discontinuities = 0

    @property
    def last_timestamp(self) -> int:
        return max(self._last_out, 0)

    def new_publisher(self) -> None:
        """The next timestamp comes from a new encoder session: stitch it on."""
        self._unwrapper = TimestampUnwrapper()
        self._offset = None
        self._last_in.clear()

    def map(self, track: int, timestamp: int) -> int:
        """The output timestamp for ``timestamp`` (32-bit ms) on ``track``."""
        unwrapped = self._unwrapper.unwrap(timestamp)
        offset = self._offset
        last_in = self._last_in
        if offset is None:
            offset = self._offset = self._last_out + STITCH_GAP_MS - unwrapped
        else:
            previous = last_in.get(track)
            if previous is not None and not (
                -MAX_BACKWARD_JUMP_MS <= unwrapped - previous <= MAX_FORWARD_JUMP_MS
            ):
                self.discontinuities += 1
                offset = self._offset = self._last_out + STITCH_GAP_MS - unwrapped
                last_in.clear()
        last_in[track] = unwrapped
        out = unwrapped + offset
        if out < 0:
            out = 0
        if out > self._last_out:
            self._last_out = out
        return out
