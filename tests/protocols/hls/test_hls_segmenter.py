"""Segmenter state machine with synthetic tags, plus TimestampUnwrapper."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols import flv, hls

from .helpers import avc_config_record, parse_ts

SPS = b"\x67\x64\x00\x1f\xac"
PPS = b"\x68\xee\x3c\x80"
AVC_SEQ = flv.parse_video_tag(b"\x17\x00\x00\x00\x00" + avc_config_record(SPS, PPS))
AVC_SEQ_2 = flv.parse_video_tag(b"\x17\x00\x00\x00\x00" + avc_config_record(SPS + b"\x01", PPS))
AAC_SEQ = flv.AudioTag(sound_format=10, aac_packet_type=0, data=b"\x11\x90")
AAC_SEQ_MONO = flv.AudioTag(sound_format=10, aac_packet_type=0, data=b"\x11\x88")
AAC = flv.AudioTag(sound_format=10, aac_packet_type=1, data=b"\x21\x00")
KEY = flv.VideoTag(frame_type=1, codec_id=7, packet_type=1, data=b"\x00\x00\x00\x02\x65\x88")
INTER = flv.VideoTag(frame_type=2, codec_id=7, packet_type=1, data=b"\x00\x00\x00\x02\x41\x9a")
HVCC = (
    bytes((1, 1))
    + b"\x60\x00\x00\x00\xb0"
    + bytes(5)
    + bytes((93,))
    + b"\xf0\x00\xfc\xfd\xf8\xf8\x00\x00\x0f\x00"
)
HEVC_SEQ = flv.ExVideoTag(frame_type=1, packet_type=0, fourcc="hvc1", data=HVCC)
HEVC_KEY = flv.ExVideoTag(
    frame_type=1, packet_type=3, fourcc="hvc1", data=b"\x00\x00\x00\x03\x26\x01\xaf"
)


def kinds(events: list[hls.SegmentEvent]) -> list[tuple[str, int]]:
    return [(type(e).__name__, e.sequence) for e in events]


def started() -> hls.Segmenter:
    s = hls.Segmenter()
    assert s.push_video(AVC_SEQ, 0) == []
    assert s.push_audio(AAC_SEQ, 0) == []
    return s


def run_video(
    s: hls.Segmenter, start: int, end: int, *, keyint: int = 60, step: int = 33
) -> list[hls.SegmentEvent]:
    events = []
    for i, ts in enumerate(range(start, end, step)):
        events += s.push_video(KEY if i % keyint == 0 else INTER, ts)
    return events


def finished(events: list[hls.SegmentEvent]) -> list[hls.SegmentFinished]:
    return [e for e in events if isinstance(e, hls.SegmentFinished)]


def test_first_segment_waits_for_a_keyframe() -> None:
    s = started()
    assert s.push_audio(AAC, 0) == []
    assert s.push_video(INTER, 0) == []
    assert s.dropped_tags == 2
    (ev,) = s.push_video(KEY, 40)
    assert ev == hls.SegmentStarted(sequence=0, start_ms=40, discontinuity=False, independent=True)
    assert s.push_audio(AAC, 45) == []
    (fin,) = s.finish()
    assert isinstance(fin, hls.SegmentFinished)
    assert (fin.sequence, fin.start_ms, fin.duration_ms) == (0, 40, 5)  # 45 - 40, no interval yet
    assert parse_ts(fin.data)[0].pid == 0
    # Tables, then a chunk per frame: what a gathering write takes as it is.
    assert [len(c) for c in fin.chunks] == [2 * 188, len(fin.data) - 3 * 188, 188]
    assert fin.size == len(fin.data)
    assert s.finish() == []


def test_cuts_at_keyframes_once_the_target_is_reached() -> None:
    s = started()
    events = run_video(s, 0, 6000, keyint=30)  # keyframe every 990 ms
    events += s.finish()
    done = finished(events)
    assert [d.duration_ms for d in done] == [1980, 1980, 1980, 66]
    assert all(d.independent and not d.discontinuity for d in done)
    assert s.target_duration_s == 2  # 2 s segments are announced as 2 s, not 3
    assert s.codecs == ("avc1.64001F", "mp4a.40.2")


def test_keyframe_a_little_early_still_cuts() -> None:
    s = hls.Segmenter(max_gap_ms=5000)
    s.push_video(AVC_SEQ, 0)
    s.push_video(KEY, 0)
    events = s.push_video(KEY, 1901)  # within 5 % of 2000 ms
    assert kinds(events) == [("SegmentFinished", 0), ("SegmentStarted", 1)]
    assert s.push_video(KEY, 3800) == []  # 1899 ms: too early


def test_forced_cut_without_keyframes() -> None:
    s = started()
    events = run_video(s, 0, 10000, keyint=10**9)
    done = finished(events + s.finish())
    # Cut at the first frame 250 ms past the target: 2277 ms rounds to 2 s.
    assert [d.duration_ms for d in done] == [2277, 2277, 2277, 2277, 9999 - 9108 + 33]
    assert [d.independent for d in done] == [True, False, False, False, False]
    assert all(round(d.duration_ms / 1000) <= s.target_duration_s for d in done)


def test_byte_limit_cut() -> None:
    s = hls.Segmenter(max_segment_bytes=1000)
    s.push_video(AVC_SEQ, 0)
    events = run_video(s, 0, 400, keyint=10**9)
    assert len(finished(events)) >= 2
    assert all(len(d.data) <= 1000 + 188 for d in finished(events))


def test_forward_jump_is_a_discontinuity() -> None:
    s = started()
    events = run_video(s, 0, 330)
    events += s.push_audio(AAC, 5000)  # not a start point: dropped, segment closed
    events += s.push_video(INTER, 5010)
    events += s.push_video(KEY, 5020)
    (fin,) = finished(events)
    assert fin.duration_ms == 297 + 33  # newest timestamp + one frame interval
    assert events[-1] == hls.SegmentStarted(
        sequence=1, start_ms=5020, discontinuity=True, independent=True
    )


def test_backward_jump_on_a_keyframe_opens_right_away() -> None:
    s = started()
    run_video(s, 10000, 10330)
    events = s.push_video(KEY, 0)
    assert kinds(events) == [("SegmentFinished", 0), ("SegmentStarted", 1)]
    assert events[1].discontinuity


def test_small_backward_steps_are_tolerated() -> None:
    s = started()
    s.push_video(KEY, 1000)
    s.push_audio(AAC, 990)
    s.push_audio(AAC, 790)  # 200 ms back: jitter, not a jump
    (fin,) = finished(s.finish())
    assert fin.duration_ms == 0


def test_finish_then_resume_is_a_discontinuity() -> None:
    s = started()
    s.push_video(KEY, 0)
    s.finish()
    (ev,) = s.push_video(KEY, 100)
    assert ev == hls.SegmentStarted(sequence=1, start_ms=100, discontinuity=True, independent=True)


def test_new_video_config_cuts_at_the_next_keyframe() -> None:
    s = started()
    run_video(s, 0, 300)
    assert s.push_video(AVC_SEQ, 300) == []  # unchanged: nothing happens
    assert s.push_video(AVC_SEQ_2, 300) == []
    before = s.dropped_tags
    assert s.push_video(INTER, 333) == []  # belongs to the new sequence: dropped
    assert s.dropped_tags == before + 1
    events = s.push_video(KEY, 366)
    assert kinds(events) == [("SegmentFinished", 0), ("SegmentStarted", 1)]
    assert events[1].discontinuity
    assert s.push_video(INTER, 400) == []
    assert s.dropped_tags == before + 1


def test_audio_config_arriving_late() -> None:
    s = hls.Segmenter()
    s.push_video(AVC_SEQ, 0)
    s.push_video(KEY, 0)
    s.push_audio(AAC_SEQ, 10)
    s.push_audio(AAC, 10)  # the open segment's PMT has no audio: dropped
    assert s.dropped_tags == 1
    events = s.push_video(KEY, 100)  # codec set changed: cut at once, discontinuity
    assert events[1].discontinuity
    s.push_audio(AAC, 110)
    (fin,) = finished(s.finish())
    pids = {p.pid for p in parse_ts(fin.data)}
    assert hls.AUDIO_PID in pids
    assert s.push_audio(AAC_SEQ, 150) == []  # repeated, unchanged: no effect
    s.push_audio(AAC_SEQ_MONO, 200)  # changed config while waiting: no open segment
    assert s.audio_config is not None and s.audio_config.channel_config == 1


def test_audio_only_stream() -> None:
    s = hls.Segmenter(video=False)
    s.push_audio(AAC_SEQ, 0)
    assert s.push_video(AVC_SEQ, 0) == [] and s.video_config is None
    assert s.push_video(KEY, 0) == []
    events: list[hls.SegmentEvent] = []
    for i in range(300):
        events += s.push_audio(AAC, i * 21)
    done = finished(events + s.finish())
    assert [d.duration_ms for d in done[:2]] == [1911, 1911]
    assert all(d.independent for d in done)
    assert s.codecs == ("mp4a.40.2",)


def test_hevc_through_enhanced_rtmp() -> None:
    s = hls.Segmenter()
    s.push_video(HEVC_SEQ, 0)
    s.push_video(KEY, 0)  # an AVC frame for an HEVC config: dropped
    (ev,) = s.push_video(HEVC_KEY, 0)
    assert isinstance(ev, hls.SegmentStarted)
    assert s.codecs == ("hvc1.1.6.L93.B0",)


@pytest.mark.parametrize(
    "tag",
    [
        flv.ExVideoTag(frame_type=1, packet_type=1, fourcc="av01", data=b"obu"),
        flv.VideoTag(frame_type=1, codec_id=4, data=b"vp6"),
        flv.VideoTag(frame_type=1, codec_id=7, packet_type=2),
    ],
)
def test_unusable_video_tags_are_dropped(tag: flv.VideoTag | flv.ExVideoTag) -> None:
    s = started()
    assert s.push_video(tag, 0) == []
    assert s.dropped_tags == 1


def test_unusable_audio_tags_are_dropped() -> None:
    s = hls.Segmenter()
    assert s.push_audio(AAC, 0) == []  # no config yet
    assert s.push_audio(flv.AudioTag(sound_format=2, data=b"mp3"), 0) == []
    assert s.dropped_tags == 2


def test_corrupt_input_raises_and_changes_nothing() -> None:
    s = started()
    s.push_video(KEY, 0)
    with pytest.raises(hls.HLSError, match="bad avc1 sequence header"):
        s.push_video(flv.VideoTag(frame_type=1, codec_id=7, packet_type=0, data=b"\x01"), 10)
    with pytest.raises(hls.HLSError, match="bad AAC sequence header"):
        s.push_audio(flv.AudioTag(sound_format=10, aac_packet_type=0, data=b"\x16\x90"), 10)
    with pytest.raises(hls.HLSError, match="does not fit"):
        s.push_video(
            flv.VideoTag(frame_type=1, codec_id=7, packet_type=1, data=b"\x00\x00\x00\x09"), 2500
        )
    s.push_video(INTER, 33)
    (fin,) = finished(s.finish())
    assert fin.sequence == 0
    counters = [p.counter for p in parse_ts(fin.data) if p.pid == hls.VIDEO_PID]
    assert counters == list(range(len(counters)))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"target_duration_ms": 0},
        {"max_gap_ms": 0},
        {"max_segment_bytes": 0},
        {"target_duration_ms": 3000, "max_duration_ms": 2000},
    ],
)
def test_invalid_parameters(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"positive|at least"):
        hls.Segmenter(**kwargs)


def test_target_duration_bound() -> None:
    assert hls.Segmenter(target_duration_ms=6000).target_duration_s == 6
    assert hls.Segmenter(target_duration_ms=2000).target_duration_s == 2
    assert hls.Segmenter(target_duration_ms=2000, max_gap_ms=251).target_duration_s == 3
    assert (
        hls.Segmenter(target_duration_ms=100, max_duration_ms=100, max_gap_ms=100).target_duration_s
        == 1
    )


@given(
    steps=st.lists(
        st.tuples(st.sampled_from(["key", "inter", "audio"]), st.integers(-800, 900)),
        max_size=120,
    ),
    target=st.integers(500, 4000),
)
def test_invariants(steps: list[tuple[str, int]], target: int) -> None:
    """Whatever the timestamps: sequence numbers count up, every segment is whole TS
    packets starting with PAT, and no rounded EXTINF exceeds target_duration_s."""
    s = hls.Segmenter(target_duration_ms=target)
    s.push_video(AVC_SEQ, 0)
    s.push_audio(AAC_SEQ, 0)
    playlist = hls.MediaPlaylist(target_duration_s=s.target_duration_s, window_size=3)
    ts = 10_000
    events: list[hls.SegmentEvent] = []
    for kind, delta in steps:
        ts += delta
        if kind == "audio":
            events += s.push_audio(AAC, ts)
        else:
            events += s.push_video(KEY if kind == "key" else INTER, ts)
    events += s.finish()
    opened = [e.sequence for e in events if isinstance(e, hls.SegmentStarted)]
    closed = [e.sequence for e in events if isinstance(e, hls.SegmentFinished)]
    assert opened == closed == list(range(len(opened)))
    for e in finished(events):
        assert len(e.data) % 188 == 0 and e.data[:3] == b"\x47\x40\x00"  # PAT first
        assert e.duration_ms >= 0
        playlist.add_segment(
            hls.PlaylistSegment(uri=f"s{e.sequence}.ts", duration_ms=e.duration_ms)
        )


def test_timestamp_unwrapper() -> None:
    u = hls.TimestampUnwrapper()
    assert u.unwrap(2**32 - 100) == 2**32 - 100
    assert u.unwrap(50) == 2**32 + 50  # across the wrap
    assert u.unwrap(2**32 - 10) == 2**32 - 10  # small step back across the wrap
    assert u.unwrap(100) == 2**32 + 100
    assert u.unwrap(2**33 + 200) == 2**32 + 200  # bits above 32 are ignored
    fresh = hls.TimestampUnwrapper()
    assert fresh.unwrap(10) == 10
    assert fresh.unwrap(0) == 0
    assert fresh.unwrap(2**32 - 5) == -5
