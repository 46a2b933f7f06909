"""Audio/video tag bodies: legacy AVC/HEVC, enhanced RTMP, AAC and others."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols import flv

VT = flv.VideoTag
EX = flv.ExVideoTag
VPT = flv.VideoPacketType

VIDEO_CASES: list[tuple[bytes, flv.VideoTag | flv.ExVideoTag]] = [
    # legacy AVC sequence header, keyframe
    (b"\x17\x00\x00\x00\x00REC", VT(frame_type=1, codec_id=7, packet_type=0, data=b"REC")),
    # legacy AVC NALU, inter frame, composition time +66 ms
    (
        b"\x27\x01\x00\x00\x42NAL",
        VT(frame_type=2, codec_id=7, packet_type=1, composition_time_ms=66, data=b"NAL"),
    ),
    # negative composition time (SI24)
    (b"\x27\x01\xff\xff\xdf", VT(frame_type=2, codec_id=7, packet_type=1, composition_time_ms=-33)),
    # AVC end of sequence
    (b"\x17\x02\x00\x00\x00", VT(frame_type=1, codec_id=7, packet_type=2)),
    # HEVC under legacy codec id 12
    (
        b"\x1c\x01\x00\x00\x21X",
        VT(frame_type=1, codec_id=12, packet_type=1, composition_time_ms=33, data=b"X"),
    ),
    # Sorenson H.263: passed through
    (b"\x22abc", VT(frame_type=2, codec_id=2, data=b"abc")),
    # enhanced: hvc1 SequenceStart
    (b"\x90hvc1REC", EX(frame_type=1, packet_type=0, fourcc="hvc1", data=b"REC")),
    # enhanced: hvc1 CodedFrames with composition time
    (
        b"\xa1hvc1\x00\x00\x21NAL",
        EX(frame_type=2, packet_type=1, fourcc="hvc1", composition_time_ms=33, data=b"NAL"),
    ),
    # enhanced: hvc1 CodedFramesX, no composition time
    (b"\x93hvc1NAL", EX(frame_type=1, packet_type=3, fourcc="hvc1", data=b"NAL")),
    # enhanced: av01 CodedFrames carry no composition time
    (b"\x91av01OBU", EX(frame_type=1, packet_type=1, fourcc="av01", data=b"OBU")),
    (b"\xa1vp09FRM", EX(frame_type=2, packet_type=1, fourcc="vp09", data=b"FRM")),
    (b"\x92av01", EX(frame_type=1, packet_type=2, fourcc="av01")),
    (b"\x94hvc1AMF", EX(frame_type=1, packet_type=4, fourcc="hvc1", data=b"AMF")),
    (b"\x95av01DSC", EX(frame_type=1, packet_type=5, fourcc="av01", data=b"DSC")),
    # metadata on a command frame still carries a FourCC
    (b"\xd4hvc1AMF", EX(frame_type=5, packet_type=4, fourcc="hvc1", data=b"AMF")),
    # command frame: one command byte, no FourCC
    (b"\xd1\x01", EX(frame_type=5, packet_type=1, command=1)),
    # Multitrack / ModEx: not decoded, passed through
    (b"\x96\x00hvc1...", EX(frame_type=1, packet_type=6, data=b"\x00hvc1...")),
]


@pytest.mark.parametrize(("body", "tag"), VIDEO_CASES)
def test_video_vectors(body: bytes, tag: flv.VideoTag | flv.ExVideoTag) -> None:
    assert flv.parse_video_tag(body) == tag
    assert flv.encode_video_tag(tag) == body


def test_video_properties() -> None:
    seq, nalu, end, sorenson = (flv.parse_video_tag(VIDEO_CASES[i][0]) for i in (0, 1, 3, 5))
    assert seq.is_sequence_header and not seq.is_coded_frame and seq.is_keyframe
    assert nalu.is_coded_frame and not nalu.is_sequence_header and not nalu.is_keyframe
    assert not end.is_coded_frame and not end.is_sequence_header
    assert sorenson.fourcc is None and not sorenson.is_coded_frame
    assert flv.parse_video_tag(VIDEO_CASES[4][0]).fourcc == "hvc1"
    assert seq.fourcc == "avc1"
    ex_seq, ex_frames, ex_x = (flv.parse_video_tag(VIDEO_CASES[i][0]) for i in (6, 7, 8))
    assert ex_seq.is_sequence_header and ex_seq.is_keyframe
    assert ex_frames.is_coded_frame and not ex_frames.is_keyframe and ex_x.is_coded_frame
    command = flv.parse_video_tag(b"\xd1\x01")
    assert not command.is_coded_frame and not command.is_sequence_header
    generated_key = flv.parse_video_tag(b"\x47\x01\x00\x00\x00")
    assert generated_key.is_keyframe


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty video tag"),
        (b"\x17\x01\x00\x00", "shorter than 5"),
        (b"\xd1", "without a command byte"),
        (b"\x91av0", "shorter than its FourCC"),
        (b"\x91hvc1\x00\x00", "missing its composition time"),
    ],
)
def test_video_errors(body: bytes, message: str) -> None:
    with pytest.raises(flv.FLVError, match=message):
        flv.parse_video_tag(body)


AUDIO_CASES: list[tuple[bytes, flv.AudioTag]] = [
    (b"\xaf\x00\x11\x90", flv.AudioTag(sound_format=10, aac_packet_type=0, data=b"\x11\x90")),
    (b"\xaf\x01RAW", flv.AudioTag(sound_format=10, aac_packet_type=1, data=b"RAW")),
    (
        b"\x2eMP3",
        flv.AudioTag(sound_format=2, sound_rate=3, sound_size=1, sound_type=0, data=b"MP3"),
    ),
    (
        b"\x72G711",
        flv.AudioTag(sound_format=7, sound_rate=0, sound_size=1, sound_type=0, data=b"G711"),
    ),
    (
        b"\x90Opus",
        flv.AudioTag(sound_format=9, sound_rate=0, sound_size=0, sound_type=0, data=b"Opus"),
    ),
]


@pytest.mark.parametrize(("body", "tag"), AUDIO_CASES)
def test_audio_vectors(body: bytes, tag: flv.AudioTag) -> None:
    assert flv.parse_audio_tag(body) == tag
    assert flv.encode_audio_tag(tag) == body


def test_audio_properties() -> None:
    seq, raw, mp3 = (flv.parse_audio_tag(AUDIO_CASES[i][0]) for i in range(3))
    assert seq.is_sequence_header and not seq.is_aac_frame
    assert raw.is_aac_frame and not raw.is_sequence_header
    assert not mp3.is_aac_frame and not mp3.is_sequence_header
    assert mp3.sound_format == flv.SoundFormat.MP3


@pytest.mark.parametrize(
    ("body", "message"), [(b"", "empty audio tag"), (b"\xaf", "without an AACPacketType")]
)
def test_audio_errors(body: bytes, message: str) -> None:
    with pytest.raises(flv.FLVError, match=message):
        flv.parse_audio_tag(body)


@given(st.binary(max_size=16))
def test_video_bodies_round_trip_or_fail_cleanly(body: bytes) -> None:
    try:
        tag = flv.parse_video_tag(body)
    except flv.FLVError:
        return
    assert flv.encode_video_tag(tag) == body


@given(st.binary(max_size=8))
def test_audio_bodies_round_trip_or_fail_cleanly(body: bytes) -> None:
    try:
        tag = flv.parse_audio_tag(body)
    except flv.FLVError:
        return
    assert flv.encode_audio_tag(tag) == body


def test_enum_values() -> None:
    assert flv.AVCPacketType.END_OF_SEQUENCE.value == 2
    assert VPT.MPEG2TS_SEQUENCE_START.value == 5 and VPT.CODED_FRAMES_X.value == 3
    assert flv.VideoCodecId.HEVC.value == 12 and flv.FrameType.COMMAND.value == 5
    assert flv.AACPacketType.RAW.value == 1


def _parsed_video_flags(body: bytes) -> tuple[bool, bool] | None:
    try:
        tag = flv.parse_video_tag(body)
    except flv.FLVError:
        return None
    return tag.is_keyframe, tag.is_sequence_header


def _parsed_audio_flag(body: bytes) -> bool | None:
    try:
        return flv.parse_audio_tag(body).is_sequence_header
    except flv.FLVError:
        return None


# Every first byte, at every length around the thresholds, with the FourCCs and packet
# type bytes that change the answer.
_SECOND_BYTES = (b"", b"\x00", b"\x01", b"avc1", b"hvc1", b"av01", b"\x00\x00\x00\x00")
CLASSIFY_BODIES = sorted(
    {
        (bytes((first,)) + second + bytes(range(1, 10)))[:length]
        for first in range(256)
        for second in _SECOND_BYTES
        for length in range(10)
    }
)


def test_classify_video_tag_agrees_with_parse_video_tag() -> None:
    for body in CLASSIFY_BODIES:
        assert flv.classify_video_tag(body) == _parsed_video_flags(body), body
    assert flv.classify_video_tag(b"\x17\x00\x00\x00\x00REC") == (True, True)
    assert flv.classify_video_tag(b"\x17\x01\x00\x00\x00NAL") == (True, False)
    assert flv.classify_video_tag(b"\x17\x01") is None


def test_classify_audio_tag_agrees_with_parse_audio_tag() -> None:
    for body in CLASSIFY_BODIES:
        assert flv.classify_audio_tag(body) == _parsed_audio_flag(body), body
    assert flv.classify_audio_tag(b"\xaf\x00\x12\x10") is True
    assert flv.classify_audio_tag(b"\xaf\x01raw") is False
    assert flv.classify_audio_tag(b"\x2fmp3") is False
    assert flv.classify_audio_tag(b"\xaf") is None


@given(st.binary(max_size=12))
def test_classifiers_agree_with_the_parsers(body: bytes) -> None:
    assert flv.classify_video_tag(body) == _parsed_video_flags(body)
    assert flv.classify_audio_tag(body) == _parsed_audio_flag(body)
