"""The channel's Opus for WebRTC: packets of one size (constant bitrate), so that the
packets a listener is sent together leave in one system call (UDP GSO)."""

from __future__ import annotations

from fractions import Fraction
from itertools import pairwise

import av
import numpy as np

from protocols import flv
from trioflix.live.webrtc.opus import OPUS_RATE, OpusTranscoder
from trioflix.live.webrtc.udp_gso import runs

AAC_FRAME = 1024


def _tag(packet_type: int, data: bytes) -> bytes:
    return flv.encode_audio_tag(
        flv.AudioTag(
            sound_format=10,
            sound_rate=3,
            sound_size=1,
            sound_type=1,
            aac_packet_type=packet_type,
            data=data,
        )
    )


def _aac_tags(seconds: int) -> list[tuple[bytes, int]]:
    """FLV audio tag bodies of ``seconds`` of a loud, changing sound in AAC, with their
    times (ms): the sequence header first."""
    encoder = av.CodecContext.create("aac", "w")
    encoder.sample_rate, encoder.layout, encoder.format = 44_100, "stereo", "fltp"
    encoder.time_base = Fraction(1, 44_100)
    encoder.open()
    assert encoder.extradata is not None  # the AudioSpecificConfig, once opened
    tags = [(_tag(0, encoder.extradata), 0)]
    rng = np.random.default_rng(7)
    for index in range(seconds * 44_100 // AAC_FRAME):
        samples = rng.standard_normal((2, AAC_FRAME)).astype("float32") * (index % 7) / 8
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="stereo")
        frame.sample_rate, frame.pts = 44_100, index * AAC_FRAME
        for packet in encoder.encode(frame):
            tags.append((_tag(1, bytes(packet)), index * AAC_FRAME * 1000 // 44_100))
    return tags


def test_every_opus_packet_is_one_size_so_a_batch_is_one_run() -> None:
    packets = OpusTranscoder().transcode(_aac_tags(2))
    assert len(packets) >= 90  # 20 ms each, less the encoders' delays
    assert {len(data) for data, _ in packets} == {240}  # 96 kbit/s x 20 ms
    # On the 48 kHz clock, 20 ms apart.
    assert {b - a for (_, a), (_, b) in pairwise(packets)} == {OPUS_RATE // 50}
    assert len(list(runs([data for data, _ in packets[:10]]))) == 1
