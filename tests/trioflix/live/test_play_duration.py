"""A play with a duration takes that much of the stream from its first frame, then ends."""

from __future__ import annotations

from trioflix.live.channel.packets import Kind, Packet
from trioflix.live.rtmp.play_duration import PlayDuration


def frame(ts: int) -> Packet:
    return Packet(Kind.VIDEO, ts, b"\x27\x01\x00\x00\x00" + b"x" * 10)


def header(ts: int) -> Packet:
    return Packet(Kind.VIDEO, ts, b"\x17\x00\x00\x00\x00cfg", config=True)


def test_counts_from_the_first_frame_and_stops_before_the_one_past_the_duration() -> None:
    duration = PlayDuration(100)
    # A primed queue: headers stamped long before the frames, then a GOP from 5000 ms.
    first = [header(0), frame(5000), frame(5040)]
    assert duration.take(first) == (first, False)
    second = [frame(5080), frame(5100), frame(5120)]
    assert duration.take(second) == (second[:1], True)


def test_headers_and_metadata_take_no_time() -> None:
    duration = PlayDuration(40)
    script = Packet(Kind.SCRIPT, 0, b"\x02\x00\x0aonMetaData")
    batch = [script, header(0), frame(1000), header(9000), frame(1039)]
    assert duration.take(batch) == (batch, False)
    assert duration.take([frame(1040)]) == ([], True)
