"""A WHIP publisher's media made FLV: H.264 access units and Opus packets in, tag bodies out."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np

from protocols import flv
from trioflix.live.webrtc.ingest_media import H264ToFLV, OpusToAAC

SPS = b"\x67\x42\xc0\x1f\xd9\x01\x41\x9f\x9e"
PPS = b"\x68\xcb\x8c\xb2"
IDR = b"\x65\x88\x84\x00"
SLICE = b"\x41\x9a\x02"
AUD = b"\x09\xf0"
START = b"\x00\x00\x00\x01"


def _annex_b(*nals: bytes) -> bytes:
    return b"".join(START + nal for nal in nals)


def test_h264_frames_wait_for_a_keyframe_and_carry_their_sequence_header() -> None:
    video = H264ToFLV()
    assert video.convert(_annex_b(SLICE), 0) == []  # no SPS/PPS, no keyframe yet
    first = video.convert(_annex_b(AUD, SPS, PPS, IDR), 90_000)
    assert [t for t, _ in first] == [1000, 1000]
    header = flv.parse_video_tag(first[0][1])
    assert isinstance(header, flv.VideoTag) and header.is_sequence_header
    assert flv.parse_avc_config(header.data).sps == (SPS,)
    frame = flv.parse_video_tag(first[1][1])
    assert isinstance(frame, flv.VideoTag) and frame.is_keyframe and frame.is_coded_frame
    assert frame.data == len(IDR).to_bytes(4, "big") + IDR  # no AUD, no parameter sets
    # The same parameter sets again: no new header; an inter frame follows.
    later = video.convert(_annex_b(SLICE), 93_000)
    assert len(later) == 1 and not flv.parse_video_tag(later[0][1]).is_keyframe
    assert video.keyframes == 1
    # New parameter sets (the encoder changed resolution): a new header first.
    changed = video.convert(_annex_b(SPS[:-1] + b"\x9f", PPS, IDR), 180_000)
    assert len(changed) == 2 and flv.parse_video_tag(changed[0][1]).is_sequence_header


def _opus_packets(count: int) -> list[tuple[bytes, int]]:
    encoder = av.CodecContext.create("libopus", "w")
    encoder.sample_rate = 48_000
    encoder.layout = "stereo"
    encoder.format = "s16"
    encoder.time_base = Fraction(1, 48_000)
    packets = []
    for index in range(count):
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 960 * 2), dtype=np.int16), format="s16", layout="stereo"
        )
        frame.sample_rate = 48_000
        frame.pts = index * 960
        packets += [(bytes(p), index * 960) for p in encoder.encode(frame)]
    return packets


def test_opus_becomes_aac_with_times_from_zero() -> None:
    audio = OpusToAAC()
    header = flv.parse_audio_tag(audio.sequence_header())
    assert header.is_sequence_header
    assert flv.parse_audio_specific_config(header.data).sample_rate == 48_000
    out = audio.transcode([*_opus_packets(50), (b"\xff\xff not opus", 0)])
    times = [t for t, _ in out]
    assert times[0] == 0 and times == sorted(times)
    assert all(flv.parse_audio_tag(body).is_aac_frame for _, body in out)
    assert 800 <= times[-1] <= 1000  # a second of Opus, less the encoder's delay
