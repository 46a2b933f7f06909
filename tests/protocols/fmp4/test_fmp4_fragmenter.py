"""The fragmenter on hand-made samples: cut rules, durations, flags, offsets and bounds,
every fragment read back by the tests' own box reader."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols import fmp4

from .helpers import read_fragment
from .test_fmp4_init import AAC_CONFIG, AVC_CONFIG

V, A = fmp4.VIDEO_TRACK_ID, fmp4.AUDIO_TRACK_ID
SYNC, NON_SYNC = 0x02000000, 0x01010000
RATE = AAC_CONFIG.sample_rate  # 44100: ms do not map to whole ticks


def au(*sizes: int, fill: int = 0x41) -> bytes:
    """An access unit of NAL units with 4-byte length prefixes (the record's size)."""
    assert AVC_CONFIG.nal_length_size == 4
    return b"".join(n.to_bytes(4, "big") + bytes((fill,)) * n for n in sizes)


def ticks(ms: int, rate: int = RATE) -> int:
    return (ms * rate + 500) // 1000


def av() -> fmp4.Fragmenter:
    return fmp4.Fragmenter(video=AVC_CONFIG, audio=AAC_CONFIG)


def test_cut_keeps_the_newest_sample_of_each_track_for_the_next_fragment() -> None:
    f = av()
    f.add_video(au(5), dts_ms=0, keyframe=True)
    f.add_audio(b"a0", dts_ms=0)
    f.add_audio(b"a1", dts_ms=23)
    f.add_video(au(6), dts_ms=40, keyframe=False)
    f.add_audio(b"a2", dts_ms=46)
    assert f.pending_bytes == 9 + 10 + 6
    fragment = f.cut()
    assert fragment is not None
    assert (fragment.sequence, fragment.start_ms, fragment.duration_ms) == (1, 0, 40)
    assert fragment.independent
    assert fragment.size == len(fragment.data)
    assert fragment.tracks == (
        fmp4.TrackRun(track_id=V, timescale=90000, base_decode_time=0, duration=3600, samples=1),
        fmp4.TrackRun(
            track_id=A, timescale=RATE, base_decode_time=0, duration=ticks(46), samples=2
        ),
    )
    read = read_fragment(fragment.data)
    assert read.sequence == 1
    assert read.sample_data == {V: [au(5)], A: [b"a0", b"a1"]}
    video, audio = read.trafs
    assert [(s.duration, s.flags, s.composition_offset) for s in video.samples] == [(3600, SYNC, 0)]
    assert [s.duration for s in audio.samples] == [ticks(23), ticks(46) - ticks(23)]
    assert audio.default_sample_flags == SYNC
    assert f.pending_bytes == 10 + 2
    assert f.sequence == 2

    f.add_video(au(7), dts_ms=80, keyframe=True)
    second = f.cut()
    assert second is not None
    assert (second.sequence, second.start_ms, second.duration_ms) == (2, 40, 40)
    assert not second.independent  # it starts with the held non-keyframe
    read = read_fragment(second.data)
    assert read.sample_data == {V: [au(6)]}  # the audio track has only its newest sample
    (video,) = read.trafs
    assert (video.base_decode_time, video.samples[0].flags) == (3600, NON_SYNC)


# One H.264 keyframe (6 bytes, DTS 1 s, CTS 40 ms) and one AAC frame (2 bytes, 1 s), then
# flush(): written out by hand from ISO/IEC 14496-12 8.8.4-8.8.12 and 8.1.1.
FRAGMENT_VECTOR = bytes.fromhex(
    "000000b4 6d6f6f66"  # moof, 180 bytes
    "00000010 6d666864 00000000 00000007"  # mfhd: sequence 7
    "00000050 74726166"  # traf (video), 80 bytes
    "00000010 74666864 00020000 00000001"  # tfhd: default-base-is-moof, track 1
    "00000014 74666474 01000000 00000000 00015f90"  # tfdt v1: 90000 (1 s at 90 kHz)
    "00000024 7472756e 01000f01 00000001"  # trun v1: offset, duration, size, flags, cts
    "000000bc"  # data_offset 188: moof (180) + mdat header (8)
    "00000b9a 00000006 02000000 00000e10"  # 2970 (33 ms), 6 bytes, sync, CTS 3600
    "0000004c 74726166"  # traf (audio), 76 bytes
    "00000014 74666864 00020020 00000002 02000000"  # tfhd: + default flags: sync
    "00000014 74666474 01000000 00000000 0000ac44"  # tfdt v1: 44100 (1 s at 44.1 kHz)
    "0000001c 7472756e 00000301 00000001"  # trun v0: offset, duration, size
    "000000c2"  # data_offset 194: after the 6 video bytes
    "000003f6 00000002"  # 1014 ticks (23 ms: 1023 ms -> 45114 minus 44100), 2 bytes
    "00000010 6d646174 00000002 4141 2122"  # mdat: the video sample, then the audio one
)


def test_fragment_vector() -> None:
    f = fmp4.Fragmenter(video=AVC_CONFIG, audio=AAC_CONFIG, sequence=7)
    f.add_video(au(2), dts_ms=1000, cts_ms=40, keyframe=True)
    f.add_audio(b"\x21\x22", dts_ms=1000)
    fragment = f.flush()
    assert fragment is not None
    assert fragment.data == FRAGMENT_VECTOR


def test_cut_without_a_complete_sample_is_nothing() -> None:
    f = av()
    assert f.cut() is None
    assert f.flush() is None
    f.add_video(au(3), dts_ms=0, keyframe=True)
    f.add_audio(b"a", dts_ms=0)
    assert f.cut() is None
    assert f.sequence == 1


def test_flush_takes_everything_and_times_the_last_samples() -> None:
    f = av()
    for i in range(3):
        f.add_video(au(4), dts_ms=40 * i, keyframe=i == 0)
    f.add_audio(b"a", dts_ms=10)  # alone: lasts one AAC frame
    fragment = f.flush()
    assert fragment is not None
    assert fragment.duration_ms == 120  # the last frame lasts as long as the one before
    read = read_fragment(fragment.data)
    assert [s.duration for s in read.trafs[0].samples] == [3600] * 3
    assert read.trafs[1].samples[0].duration == ticks(10 + 23) - ticks(10)
    assert f.pending_bytes == 0
    assert f.flush() is None


def test_lone_video_sample_lasts_one_frame_at_30_fps() -> None:
    f = fmp4.Fragmenter(video=AVC_CONFIG)
    f.add_video(au(4), dts_ms=1000, keyframe=True)
    fragment = f.flush()
    assert fragment is not None
    assert (fragment.start_ms, fragment.duration_ms) == (1000, 33)
    assert fragment.tracks[0].base_decode_time == 90000
    assert fragment.tracks[0].duration == 33 * 90


def test_audio_only_fragments_are_independent() -> None:
    f = fmp4.Fragmenter(audio=AAC_CONFIG)
    assert f.codecs == (AAC_CONFIG.codec_string,)
    for ms in (0, 23, 46):
        f.add_audio(b"x", dts_ms=ms)
    fragment = f.cut()
    assert fragment is not None
    assert (fragment.start_ms, fragment.duration_ms, fragment.independent) == (0, 46, True)
    assert [t.track_id for t in fragment.tracks] == [A]


def test_audio_without_video_in_a_video_stream_is_not_independent() -> None:
    f = av()
    assert f.codecs == (AVC_CONFIG.codec_string, AAC_CONFIG.codec_string)
    f.add_video(au(4), dts_ms=0, keyframe=True)
    f.add_audio(b"x", dts_ms=0)
    f.add_audio(b"y", dts_ms=23)
    fragment = f.cut()
    assert fragment is not None
    assert (fragment.start_ms, fragment.duration_ms, fragment.independent) == (0, 23, False)


def test_b_frames_get_signed_composition_offsets() -> None:
    f = fmp4.Fragmenter(video=AVC_CONFIG)
    # Decode order I P B B with PTS 80, 200, 120, 160 (FLV CompositionTime = PTS - DTS); then
    # an edited stream's frame shown before it is decoded (a negative offset).
    for dts, cts, key in ((0, 80, True), (40, 160, False), (80, 40, False), (120, 40, False)):
        f.add_video(au(2), dts_ms=dts, cts_ms=cts, keyframe=key)
    f.add_video(au(2), dts_ms=160, cts_ms=-40, keyframe=False)
    fragment = f.flush()
    assert fragment is not None
    (traf,) = read_fragment(fragment.data).trafs
    assert traf.trun_version == 1
    assert [s.composition_offset for s in traf.samples] == [7200, 14400, 3600, 3600, -3600]
    assert [s.flags for s in traf.samples] == [SYNC] + [NON_SYNC] * 4


@given(st.lists(st.integers(0, 50), min_size=2, max_size=200))
def test_decode_times_do_not_drift(steps: list[int]) -> None:
    f = fmp4.Fragmenter(audio=AAC_CONFIG)
    times = [0]
    for step in steps:
        times.append(times[-1] + step)
    start = 3_600_000  # an hour in: rounded deltas summed would be far off by now
    for ms in times:
        f.add_audio(b"x", dts_ms=start + ms)
    fragment = f.cut()
    assert fragment is not None
    (traf,) = read_fragment(fragment.data).trafs
    decode = traf.base_decode_time
    for ms, sample in zip(times[1:], traf.samples, strict=True):
        decode += sample.duration
        assert abs(decode - (start + ms) * RATE / 1000) <= 0.5


def test_payload_offsets_point_at_each_tracks_samples() -> None:
    f = av()
    video = [au(3, 9, fill=i) for i in range(4)]
    audio = [bytes((0xA0 + i,)) * (i + 1) for i in range(6)]
    for i, data in enumerate(video):
        f.add_video(data, dts_ms=i * 40, keyframe=i == 0)
    for i, data in enumerate(audio):
        f.add_audio(data, dts_ms=i * 23)
    fragment = f.flush()
    assert fragment is not None
    read = read_fragment(fragment.data)
    assert read.sample_data == {V: video, A: audio}
    # mdat holds the video samples, then the audio ones, and nothing else.
    assert fragment.data.endswith(b"".join(video + audio))
    mdat_size = int.from_bytes(fragment.data[-len(b"".join(video + audio)) - 8 :][:4], "big")
    assert mdat_size == 8 + sum(map(len, video + audio))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty video sample"),
        (b"\x00\x00\x01", "length prefix is truncated"),
        (au(3) + b"\x00\x00", "length prefix is truncated"),
        (b"\x00\x00\x00\x00", "length 0 does not fit"),
        (b"\x00\x00\x00\x05abc", "length 5 does not fit"),
    ],
)
def test_corrupt_access_units_are_refused(data: bytes, message: str) -> None:
    f = fmp4.Fragmenter(video=AVC_CONFIG)
    with pytest.raises(fmp4.FMP4Error, match=message):
        f.add_video(data, dts_ms=0, keyframe=True)
    assert f.pending_bytes == 0


def test_missing_tracks_and_empty_audio_are_refused() -> None:
    with pytest.raises(fmp4.FMP4Error, match="no video track"):
        fmp4.Fragmenter(audio=AAC_CONFIG).add_video(au(1), dts_ms=0, keyframe=True)
    with pytest.raises(fmp4.FMP4Error, match="no audio track"):
        fmp4.Fragmenter(video=AVC_CONFIG).add_audio(b"x", dts_ms=0)
    with pytest.raises(fmp4.FMP4Error, match="empty AAC frame"):
        fmp4.Fragmenter(audio=AAC_CONFIG).add_audio(b"", dts_ms=0)


def test_bad_times_are_refused_and_leave_the_fragmenter_as_it_was() -> None:
    f = av()
    with pytest.raises(fmp4.FMP4Error, match="is negative"):
        f.add_audio(b"x", dts_ms=-1)
    f.add_video(au(1), dts_ms=100, keyframe=True)
    with pytest.raises(fmp4.FMP4Error, match="goes back from 100 ms"):
        f.add_video(au(1), dts_ms=99, keyframe=False)
    with pytest.raises(fmp4.FMP4Error, match="24-bit range"):
        f.add_video(au(1), dts_ms=140, cts_ms=1 << 23, keyframe=False)
    with pytest.raises(fmp4.FMP4Error, match="24-bit range"):
        f.add_video(au(1), dts_ms=140, cts_ms=-(1 << 23) - 1, keyframe=False)
    f.add_video(au(1), dts_ms=100, cts_ms=-(1 << 23), keyframe=False)  # equal times are fine
    assert f.pending_bytes == 10
    fragment = f.cut()
    assert fragment is not None
    assert fragment.duration_ms == 0


def test_a_decode_time_jump_longer_than_a_sample_can_last_is_refused() -> None:
    # trun holds a sample's duration in 32 bits of ticks: at 90 kHz, 47,721,858 ms.
    f = fmp4.Fragmenter(video=AVC_CONFIG)
    f.add_video(au(1), dts_ms=0, keyframe=True)
    f.add_video(au(1), dts_ms=47_721_858, keyframe=False)
    with pytest.raises(fmp4.FMP4Error, match="jumps from 47721858 ms"):
        f.add_video(au(1), dts_ms=2 * 47_721_858 + 1, keyframe=False)
    fragment = f.flush()
    assert fragment is not None
    assert fragment.duration_ms == 2 * 47_721_858


def test_held_bytes_are_bounded() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        fmp4.Fragmenter(video=AVC_CONFIG, max_fragment_bytes=0)
    f = fmp4.Fragmenter(video=AVC_CONFIG, max_fragment_bytes=20)
    f.add_video(au(6), dts_ms=0, keyframe=True)
    f.add_video(au(6), dts_ms=40, keyframe=False)
    with pytest.raises(fmp4.FMP4Error, match="more than 20 bytes held"):
        f.add_video(au(1), dts_ms=80, keyframe=False)
    assert f.cut() is not None
    f.add_video(au(1), dts_ms=80, keyframe=False)  # the cut made room
    assert f.pending_bytes == 15


def test_sequence_numbers_start_where_asked() -> None:
    f = fmp4.Fragmenter(audio=AAC_CONFIG, sequence=41)
    f.add_audio(b"x", dts_ms=0)
    fragment = f.flush()
    assert fragment is not None
    assert fragment.sequence == read_fragment(fragment.data).sequence == 41
    assert f.sequence == 42


def test_init_segment_and_records_are_kept() -> None:
    f = fmp4.Fragmenter(video=AVC_CONFIG, audio=AAC_CONFIG, size=(16, 16))
    assert f.init_segment == fmp4.init_segment(video=AVC_CONFIG, audio=AAC_CONFIG, size=(16, 16))
    assert (f.video_config, f.audio_config) == (AVC_CONFIG, AAC_CONFIG)
    with pytest.raises(fmp4.FMP4Error, match="needs a video or an audio track"):
        fmp4.Fragmenter()


# A random session: samples of both tracks in any interleaving, cuts and flushes anywhere.
video_op = st.tuples(
    st.just("video"), st.integers(0, 100), st.integers(-50, 200), st.booleans(), st.integers(1, 30)
)
audio_op = st.tuples(
    st.just("audio"), st.integers(0, 60), st.just(0), st.just(True), st.integers(1, 30)
)
cut_op = st.tuples(
    st.sampled_from(["cut", "flush"]), st.just(0), st.just(0), st.just(False), st.just(0)
)


@given(st.lists(st.one_of(video_op, audio_op, cut_op), max_size=80))
def test_any_session_yields_fragments_that_read_back(
    ops: list[tuple[str, int, int, bool, int]],
) -> None:
    f = av()
    sent: dict[int, list[bytes]] = {V: [], A: []}
    got: dict[int, list[bytes]] = {V: [], A: []}
    clock = {V: 0, A: 0}
    fragments: list[tuple[str, fmp4.Fragment]] = []
    for n, (kind, step, cts, key, size) in enumerate(ops):
        if kind in ("cut", "flush"):
            fragment = f.cut() if kind == "cut" else f.flush()
            if fragment is not None:
                fragments.append((kind, fragment))
            continue
        track = V if kind == "video" else A
        clock[track] += step
        if track == V:
            data = au(size, fill=n & 0xFF)
            f.add_video(data, dts_ms=clock[V], cts_ms=cts, keyframe=key)
        else:
            data = bytes((n & 0xFF,)) * size
            f.add_audio(data, dts_ms=clock[A])
        sent[track].append(data)
    last = f.flush()
    fragments += [("flush", last)] if last is not None else []
    assert f.pending_bytes == 0
    assert [fr.sequence for _, fr in fragments] == list(range(1, len(fragments) + 1))
    # After a cut, a track's next fragment starts exactly where the last one ended.
    expected_start: dict[int, int] = {}
    for how, fragment in fragments:
        read = read_fragment(fragment.data)
        assert read.sequence == fragment.sequence
        assert [t.track_id for t in read.trafs] == [t.track_id for t in fragment.tracks]
        for traf, run in zip(read.trafs, fragment.tracks, strict=True):
            assert traf.base_decode_time == run.base_decode_time
            assert sum(s.duration for s in traf.samples) == run.duration
            assert len(traf.samples) == run.samples
            got[traf.track_id] += read.sample_data[traf.track_id]
            if traf.track_id in expected_start:
                assert traf.base_decode_time == expected_start.pop(traf.track_id)
            if how == "cut":
                expected_start[traf.track_id] = run.base_decode_time + run.duration
        main = fragment.tracks[0]
        assert fragment.start_ms * main.timescale // 1000 <= main.base_decode_time
    assert got == sent
