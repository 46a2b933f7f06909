"""A WebRTC viewer's video: FLV frames to Annex B access units, nothing decoded."""

from __future__ import annotations

import pytest

from protocols import flv
from tests.protocols.hls.helpers import avc_config_record, avcc, split_annex_b
from trioflix.live.channel.packets import Kind, Packet
from trioflix.live.webrtc.video import (
    ReorderedFrames,
    UnsupportedVideo,
    VideoConverter,
    unsupported_reason,
)

SPS = b"\x67\x42\xc0\x1e\xda\x02\x80\xbf\xe5\x84"  # baseline 3.0 (its bytes, not decoded here)
PPS = b"\x68\xce\x3c\x80"
IDR = b"\x65\x88\x84\x00\x10"
SLICE = b"\x41\x9a\x02\x04"


def _video(frame_type: int, packet_type: int, data: bytes, cts: int = 0, ts: int = 0) -> Packet:
    body = flv.encode_video_tag(
        flv.VideoTag(
            frame_type=frame_type,
            codec_id=flv.VideoCodecId.AVC,
            packet_type=packet_type,
            composition_time_ms=cts,
            data=data,
        )
    )
    return Packet(Kind.VIDEO, ts, body, keyframe=frame_type == 1, config=packet_type == 0)


HEADER = _video(1, 0, avc_config_record(SPS, PPS))


def test_parameter_sets_go_before_every_idr_and_times_are_kept() -> None:
    converter = VideoConverter()
    assert converter.convert(HEADER) is None
    key = converter.convert(_video(1, 1, avcc([IDR]), ts=1000))
    inter = converter.convert(_video(2, 1, avcc([SLICE]), ts=1033))
    assert key is not None
    assert inter is not None
    assert split_annex_b(key.data)[1:] == [SPS, PPS, IDR]  # after the access unit delimiter
    assert (key.keyframe, key.pts_ms) == (True, 1000)
    assert split_annex_b(inter.data)[1:] == [SLICE]
    assert (inter.keyframe, inter.pts_ms) == (False, 1033)


def test_frames_before_the_header_and_broken_frames_are_skipped() -> None:
    converter = VideoConverter()
    assert converter.convert(_video(1, 1, avcc([IDR]))) is None  # no header yet
    converter.convert(HEADER)
    assert converter.convert(_video(2, 1, b"\x00\x00\x00\x09abc")) is None  # length overruns
    assert converter.convert(Packet(Kind.VIDEO, 0, b"")) is None
    assert converter.convert(Packet(Kind.AUDIO, 0, b"\xaf\x01\x21")) is None


def test_b_frames_are_refused_with_what_to_change() -> None:
    converter = VideoConverter()
    converter.convert(HEADER)
    with pytest.raises(ReorderedFrames, match="bframes=0"):
        converter.convert(_video(1, 1, avcc([IDR]), cts=66))
    assert "bframes=0" in (unsupported_reason(HEADER, [_video(1, 1, avcc([IDR]), cts=66)]) or "")
    assert unsupported_reason(HEADER, [_video(1, 1, avcc([IDR]))]) is None
    assert unsupported_reason(None, []) is None  # nothing sent yet: the viewer waits


def test_other_codecs_are_refused() -> None:
    hevc = flv.encode_video_tag(
        flv.ExVideoTag(frame_type=1, packet_type=flv.VideoPacketType.CODED_FRAMES_X, fourcc="hvc1")
    )
    with pytest.raises(UnsupportedVideo, match="hvc1"):
        VideoConverter().convert(Packet(Kind.VIDEO, 0, hevc))
