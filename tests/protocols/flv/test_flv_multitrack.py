"""Enhanced RTMP v2 multitrack bodies: hand-written vectors from the spec's layouts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols import flv

MV = flv.MultitrackVideoTag
MA = flv.MultitrackAudioTag
TP = flv.TrackPacket
ONE, MANY, MANY_CODECS = tuple(flv.AvMultitrackType)

VIDEO_CASES: list[tuple[bytes, flv.MultitrackVideoTag]] = [
    # keyframe, OneTrack SequenceStart of avc1 track 1: FourCC, track id, record
    (
        b"\x96\x00avc1\x01REC",
        MV(
            frame_type=1,
            multitrack_type=ONE,
            packet_type=0,
            tracks=(TP(track_id=1, fourcc="avc1", data=b"REC"),),
        ),
    ),
    # inter frame, OneTrack CodedFrames of avc1: composition time follows the track id
    (
        b"\xa6\x01avc1\x02\x00\x00\x21NAL",
        MV(
            frame_type=2,
            multitrack_type=ONE,
            packet_type=1,
            tracks=(TP(track_id=2, fourcc="avc1", composition_time_ms=33, data=b"NAL"),),
        ),
    ),
    # ManyTracks CodedFramesX of hvc1: one FourCC, then (id, UI24 size, packet) per track
    (
        b"\x96\x13hvc1\x00\x00\x00\x02AB\x01\x00\x00\x01C",
        MV(
            frame_type=1,
            multitrack_type=MANY,
            packet_type=3,
            tracks=(
                TP(track_id=0, fourcc="hvc1", data=b"AB"),
                TP(track_id=1, fourcc="hvc1", data=b"C"),
            ),
        ),
    ),
    # ManyTracks CodedFrames of avc1 with negative composition time in the sized packet
    (
        b"\xa6\x11avc1\x00\x00\x00\x04\xff\xff\xdfX\x01\x00\x00\x03\x00\x00\x00",
        MV(
            frame_type=2,
            multitrack_type=MANY,
            packet_type=1,
            tracks=(
                TP(track_id=0, fourcc="avc1", composition_time_ms=-33, data=b"X"),
                TP(track_id=1, fourcc="avc1"),
            ),
        ),
    ),
    # ManyTracksManyCodecs SequenceStart: each track starts with its FourCC
    (
        b"\x96\x20avc1\x00\x00\x00\x01Aav01\x01\x00\x00\x01B",
        MV(
            frame_type=1,
            multitrack_type=MANY_CODECS,
            packet_type=0,
            tracks=(
                TP(track_id=0, fourcc="avc1", data=b"A"),
                TP(track_id=1, fourcc="av01", data=b"B"),
            ),
        ),
    ),
    # av01 CodedFrames carry no composition time, even in a multitrack body
    (
        b"\xa6\x01av01\x03OBU",
        MV(
            frame_type=2,
            multitrack_type=ONE,
            packet_type=1,
            tracks=(TP(track_id=3, fourcc="av01", data=b"OBU"),),
        ),
    ),
]

AUDIO_CASES: list[tuple[bytes, flv.MultitrackAudioTag]] = [
    # OneTrack SequenceStart of mp4a track 1 (as ffmpeg 9 writes it)
    (
        b"\x95\x00mp4a\x01\x11\x90",
        MA(
            multitrack_type=ONE,
            packet_type=0,
            tracks=(TP(track_id=1, fourcc="mp4a", data=b"\x11\x90"),),
        ),
    ),
    # ManyTracks CodedFrames of Opus
    (
        b"\x95\x11Opus\x00\x00\x00\x01A\x01\x00\x00\x02BC",
        MA(
            multitrack_type=MANY,
            packet_type=1,
            tracks=(
                TP(track_id=0, fourcc="Opus", data=b"A"),
                TP(track_id=1, fourcc="Opus", data=b"BC"),
            ),
        ),
    ),
    # ManyTracksManyCodecs: mp4a and Opus side by side
    (
        b"\x95\x21mp4a\x00\x00\x00\x01AOpus\x01\x00\x00\x00",
        MA(
            multitrack_type=MANY_CODECS,
            packet_type=1,
            tracks=(TP(track_id=0, fourcc="mp4a", data=b"A"), TP(track_id=1, fourcc="Opus")),
        ),
    ),
]


@pytest.mark.parametrize(("body", "tag"), VIDEO_CASES)
def test_video_vectors(body: bytes, tag: flv.MultitrackVideoTag) -> None:
    assert flv.is_multitrack_video(body)
    assert flv.parse_multitrack_video(body) == tag
    assert flv.encode_multitrack_video(tag) == body
    # the existing parser still sees an enhanced Multitrack body and passes it through
    ex = flv.parse_video_tag(body)
    assert isinstance(ex, flv.ExVideoTag)
    assert ex.packet_type == flv.VideoPacketType.MULTITRACK


@pytest.mark.parametrize(("body", "tag"), AUDIO_CASES)
def test_audio_vectors(body: bytes, tag: flv.MultitrackAudioTag) -> None:
    assert flv.is_multitrack_audio(body)
    assert flv.parse_multitrack_audio(body) == tag
    assert flv.encode_multitrack_audio(tag) == body


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\x17\x00\x00\x00\x00", "not a multitrack enhanced video body"),
        (b"", "not a multitrack enhanced video body"),
        (b"\x96", "without its AvMultitrackType byte"),
        (b"\x96\x30avc1\x00", "reserved AvMultitrackType 3"),
        (b"\x96\x06avc1\x00", "nests Multitrack"),
        (b"\x96\x00avc", "shorter than its FourCC"),
        (b"\x96\x10avc1", "without its track id"),
        (b"\x96\x20avc1\x00\x00\x00\x00av0", "track is shorter than its FourCC"),
        (b"\x96\x10avc1\x00\x00\x00", "without its size"),
        (b"\x96\x10avc1\x00\x00\x00\x05AB", "overruns the body"),
        (b"\x96\x01avc1\x00\x00\x00", "missing its composition time"),
    ],
)
def test_video_errors(body: bytes, message: str) -> None:
    with pytest.raises(flv.FLVError, match=message):
        flv.parse_multitrack_video(body)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\xaf\x00", "not a multitrack enhanced audio body"),
        (b"\x95\x05mp4a\x00", "nests Multitrack"),
        (b"\x95\x00mp4a", "without its track id"),
    ],
)
def test_audio_errors(body: bytes, message: str) -> None:
    with pytest.raises(flv.FLVError, match=message):
        flv.parse_multitrack_audio(body)


def test_invalid_values_are_refused() -> None:
    avc = TP(track_id=0, fourcc="avc1")
    with pytest.raises(ValueError, match="UI8"):
        TP(track_id=256, fourcc="avc1")
    with pytest.raises(ValueError, match="not 4 bytes"):
        TP(track_id=0, fourcc="avc")
    with pytest.raises(ValueError, match="unknown AvMultitrackType"):
        MV(frame_type=1, multitrack_type=3, packet_type=1, tracks=(avc,))
    with pytest.raises(ValueError, match="at least one track"):
        MV(frame_type=1, multitrack_type=MANY, packet_type=1, tracks=())
    with pytest.raises(ValueError, match="exactly one track"):
        MV(frame_type=1, multitrack_type=ONE, packet_type=1, tracks=(avc, avc))
    with pytest.raises(ValueError, match="mixes FourCCs"):
        MA(
            multitrack_type=MANY,
            packet_type=1,
            tracks=(TP(track_id=0, fourcc="mp4a"), TP(track_id=1, fourcc="Opus")),
        )
    with pytest.raises(ValueError, match="cannot nest"):
        MV(frame_type=1, multitrack_type=ONE, packet_type=6, tracks=(avc,))
    with pytest.raises(ValueError, match="cannot nest"):
        MA(multitrack_type=ONE, packet_type=5, tracks=(avc,))
    big = MV(
        frame_type=1,
        multitrack_type=MANY,
        packet_type=3,
        tracks=(TP(track_id=0, fourcc="avc1", data=bytes(1 << 24)),),
    )
    with pytest.raises(ValueError, match="overflows its UI24 size"):
        flv.encode_multitrack_video(big)


def test_single_track_video() -> None:
    tag = flv.parse_multitrack_video(
        b"\xa6\x21avc1\x00\x00\x00\x04\x00\x00\x21Xhvc1\x01\x00\x00\x04\x00\x00\x42Y"
    )
    assert flv.single_track_video(tag, 0) == b"\x27\x01\x00\x00\x21X"  # legacy AVC NALU
    assert flv.single_track_video(tag, 1) == b"\xa1hvc1\x00\x00\x42Y"  # enhanced hvc1
    assert flv.single_track_video(tag, 2) is None
    start = flv.parse_multitrack_video(b"\x96\x00avc1\x01REC")
    assert flv.single_track_video(start, 1) == b"\x17\x00\x00\x00\x00REC"
    end = flv.parse_multitrack_video(b"\x96\x02avc1\x01")
    assert flv.single_track_video(end, 1) == b"\x17\x02\x00\x00\x00"
    # avc1 Metadata has no legacy form: it stays enhanced
    meta = flv.parse_multitrack_video(b"\x96\x04avc1\x01AMF")
    assert flv.single_track_video(meta, 1) == b"\x94avc1AMF"


def test_single_track_audio() -> None:
    start = flv.parse_multitrack_audio(b"\x95\x00mp4a\x01\x11\x90")
    assert flv.single_track_audio(start, 1) == b"\xaf\x00\x11\x90"
    frame = flv.parse_multitrack_audio(b"\x95\x01mp4a\x01RAW")
    assert flv.single_track_audio(frame, 1) == b"\xaf\x01RAW"
    assert flv.single_track_audio(frame, 0) is None
    config = flv.parse_multitrack_audio(b"\x95\x04mp4a\x01\x01\x02")
    assert flv.single_track_audio(config, 1) is None  # MultichannelConfig: no legacy form
    opus = flv.parse_multitrack_audio(b"\x95\x01Opus\x01PKT")
    assert flv.single_track_audio(opus, 1) == b"\x91OpusPKT"


def test_enum_values() -> None:
    assert [int(t) for t in flv.AvMultitrackType] == [0, 1, 2]
    assert [int(t) for t in flv.AudioPacketType] == [0, 1, 2, 4, 5, 7]


FOURCCS = st.sampled_from(["avc1", "hvc1", "av01", "vp09"])


@st.composite
def multitrack_video_tags(draw: st.DrawFn) -> flv.MultitrackVideoTag:
    multitrack_type = draw(st.sampled_from(list(flv.AvMultitrackType)))
    count = 1 if multitrack_type == ONE else draw(st.integers(1, 3))
    shared = draw(FOURCCS)
    packet_type = draw(st.sampled_from([0, 1, 2, 3, 4, 5, 7]))
    tracks = tuple(
        TP(
            track_id=draw(st.integers(0, 255)),
            fourcc=draw(FOURCCS) if multitrack_type == MANY_CODECS else shared,
            composition_time_ms=draw(st.integers(-(1 << 23), (1 << 23) - 1))
            if packet_type == 1 and shared in ("avc1", "hvc1") and multitrack_type != MANY_CODECS
            else 0,
            data=draw(st.binary(max_size=6)),
        )
        for _ in range(count)
    )
    return MV(
        frame_type=draw(st.integers(1, 5)),
        multitrack_type=multitrack_type,
        packet_type=packet_type,
        tracks=tracks,
    )


@given(multitrack_video_tags())
def test_video_round_trip(tag: flv.MultitrackVideoTag) -> None:
    assert flv.parse_multitrack_video(flv.encode_multitrack_video(tag)) == tag


@given(
    st.sampled_from(list(flv.AvMultitrackType)),
    st.sampled_from([0, 1, 2, 4, 7]),
    st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=6)), min_size=1, max_size=3),
)
def test_audio_round_trip(
    multitrack_type: int, packet_type: int, raw: list[tuple[int, bytes]]
) -> None:
    raw = raw[:1] if multitrack_type == ONE else raw
    tracks = tuple(TP(track_id=track_id, fourcc="mp4a", data=data) for track_id, data in raw)
    tag = MA(multitrack_type=multitrack_type, packet_type=packet_type, tracks=tracks)
    assert flv.parse_multitrack_audio(flv.encode_multitrack_audio(tag)) == tag


@given(st.binary(max_size=24))
def test_any_bytes_parse_or_fail_cleanly(body: bytes) -> None:
    try:
        video = flv.parse_multitrack_video(body)
    except flv.FLVError:
        pass
    else:
        assert flv.parse_multitrack_video(flv.encode_multitrack_video(video)) == video
    try:
        audio = flv.parse_multitrack_audio(body)
    except flv.FLVError:
        pass
    else:
        assert flv.parse_multitrack_audio(flv.encode_multitrack_audio(audio)) == audio
