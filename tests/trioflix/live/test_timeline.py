"""Regression vectors for the channel timeline: wrap, long streams, reconnects, encoder jumps."""

from __future__ import annotations

from trioflix.live.channel.timeline import (
    MAX_BACKWARD_JUMP_MS,
    MAX_FORWARD_JUMP_MS,
    STITCH_GAP_MS,
    Timeline,
)

AUDIO, VIDEO = 8, 9


def test_first_publisher_starts_at_zero_and_keeps_spacing() -> None:
    timeline = Timeline()
    assert [timeline.map(VIDEO, ts) for ts in (5000, 5033, 5066)] == [0, 33, 66]


def test_past_extended_timestamp_threshold_is_plain_arithmetic() -> None:
    """4.66 hours: timestamps past 0xFFFFFF ms continue without a jump."""
    timeline = Timeline()
    start = 0xFFFFFF - 66
    outs = [timeline.map(VIDEO, start + i * 33) for i in range(5)]
    assert outs == [0, 33, 66, 99, 132]
    assert timeline.discontinuities == 0


def test_32_bit_wrap_is_unwrapped() -> None:
    timeline = Timeline()
    before = [2**32 - 66, 2**32 - 33]
    after = [0, 33, 66]  # the encoder's 32-bit clock wrapped
    outs = [timeline.map(VIDEO, ts) for ts in before + after]
    assert outs == [0, 33, 66, 99, 132]
    assert timeline.discontinuities == 0


def test_small_backward_steps_pass_through() -> None:
    """Non-monotonic DTS (hardware encoders) and audio/video interleaving are not jumps."""
    timeline = Timeline()
    outs = [timeline.map(VIDEO, 1000), timeline.map(AUDIO, 980), timeline.map(VIDEO, 990)]
    assert outs == [0, 0, 0]  # slightly before the start: clamped at zero
    assert timeline.discontinuities == 0
    later = [timeline.map(VIDEO, 1100), timeline.map(VIDEO, 1090), timeline.map(AUDIO, 1101)]
    assert later == [100, 90, 101]


def test_forward_jump_is_stitched() -> None:
    timeline = Timeline()
    timeline.map(VIDEO, 0)
    timeline.map(VIDEO, 33)
    jumped = timeline.map(VIDEO, 33 + MAX_FORWARD_JUMP_MS + 1)
    assert jumped == 33 + STITCH_GAP_MS
    assert timeline.map(VIDEO, 33 + MAX_FORWARD_JUMP_MS + 34) == 33 + STITCH_GAP_MS + 33
    assert timeline.discontinuities == 1


def test_backward_jump_is_stitched() -> None:
    timeline = Timeline()
    for ts in range(100_000, 100_300, 33):
        timeline.map(VIDEO, ts)
    last = timeline.last_timestamp
    reset = timeline.map(VIDEO, 100_000 - MAX_BACKWARD_JUMP_MS - 1)
    assert reset == last + STITCH_GAP_MS
    assert timeline.discontinuities == 1


def test_new_publisher_continues_after_the_old_one() -> None:
    timeline = Timeline()
    for ts in (0, 33, 66):
        timeline.map(VIDEO, ts)
    timeline.new_publisher()  # OBS reconnected: its clock starts again near zero
    assert timeline.map(VIDEO, 0) == 66 + STITCH_GAP_MS
    assert timeline.map(AUDIO, 10) == 66 + STITCH_GAP_MS + 10


def test_output_never_negative() -> None:
    timeline = Timeline()
    timeline.map(VIDEO, 500)
    assert timeline.map(AUDIO, 400) == 0
