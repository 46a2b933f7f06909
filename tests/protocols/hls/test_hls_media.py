"""End to end: libx264 (with B-frames) + AAC from PyAV, in RTMP/FLV tag form, through the
Segmenter, and the resulting .ts segments read back by FFmpeg's demuxer and decoders."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from typing import TYPE_CHECKING

import av
import pytest

from protocols import flv, hls

from .helpers import feed, make_stream, parse_ts, pes_packets, pes_timestamps

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow
OFFSET_90K = hls.DEFAULT_TIMESTAMP_OFFSET_MS * 90


@pytest.fixture(scope="module")
def stream():  # type: ignore[no-untyped-def]
    return make_stream(seconds=5.0)


@pytest.fixture(scope="module")
def segments(stream):  # type: ignore[no-untyped-def]
    events = feed(hls.Segmenter(), stream)
    return [e for e in events if isinstance(e, hls.SegmentFinished)]


def test_segments_cut_on_keyframes_at_target(segments, stream) -> None:  # type: ignore[no-untyped-def]
    # keyint 60 at 30 fps = a keyframe every 2 s: one segment per GOP, the last one shorter.
    assert stream.keyframes == 3
    assert [s.sequence for s in segments] == [0, 1, 2]
    assert [s.duration_ms for s in segments[:2]] == [2000, 2000]
    # The last runs to the newest timestamp (AAC overhangs the video a little) + one frame.
    last_ts = max(stream.audio_pts_ms[-1], stream.video_pts_ms[-1])
    assert segments[2].duration_ms == last_ts - 4000 + 33
    assert all(s.independent for s in segments)
    assert not any(s.discontinuity for s in segments)


def test_pyav_decodes_every_frame_with_the_input_timestamps(segments, stream) -> None:  # type: ignore[no-untyped-def]
    video_pts: list[int] = []
    audio_pts: list[int] = []
    decoded_video = decoded_audio = 0
    for seg in segments:
        with av.open(io.BytesIO(seg.data), mode="r", format="mpegts") as container:
            (vs,) = container.streams.video
            (aus,) = container.streams.audio
            assert vs.codec_context.name == "h264"
            assert aus.codec_context.name == "aac"
            assert (vs.codec_context.width, vs.codec_context.height) == (320, 192)
            assert aus.codec_context.sample_rate == 48000
            assert aus.codec_context.channels == 2
            for packet in container.demux():
                if packet.size == 0:
                    continue
                assert packet.pts is not None
                if packet.stream.type == "video":
                    video_pts.append(packet.pts)
                    decoded_video += len(packet.decode())
                else:
                    audio_pts.append(packet.pts)
                    decoded_audio += len(packet.decode())
            for s in (vs, aus):  # drain the decoders
                decoded = s.codec_context.decode(None)
                if s is vs:
                    decoded_video += len(decoded)
                else:
                    decoded_audio += len(decoded)
    assert decoded_video == len(stream.video_pts_ms) == 150
    assert sorted(video_pts) == sorted((ms * 90 + OFFSET_90K) for ms in stream.video_pts_ms)
    assert audio_pts == [ms * 90 + OFFSET_90K for ms in stream.audio_pts_ms]
    assert decoded_audio == len(stream.audio_pts_ms)


def test_ts_structure(segments) -> None:  # type: ignore[no-untyped-def]
    """PAT/PMT first, continuity counters, PCR and random access on the video PID."""
    counters: dict[int, int] = {}
    for seg in segments:
        packets = parse_ts(seg.data)
        assert [p.pid for p in packets[:2]] == [0, hls.PMT_PID]
        first_video = next(p for p in packets if p.pid == hls.VIDEO_PID)
        assert first_video.pusi and first_video.random_access and first_video.pcr is not None
        for p in packets:
            if p.pid in counters:
                assert p.counter == (counters[p.pid] + 1) % 16, f"CC jump on PID {p.pid:#x}"
            counters[p.pid] = p.counter
        for p in packets:
            if p.pid == hls.VIDEO_PID and p.pusi:
                pts, dts, _ = pes_timestamps(p.payload)
                assert p.pcr is not None and p.pcr <= (dts if dts is not None else pts)
        video = pes_packets(packets, hls.VIDEO_PID)
        _, _, payload = pes_timestamps(video[0])
        # AUD, then SPS and PPS in-band before the IDR.
        assert payload.startswith(b"\x00\x00\x00\x01\x09\xf0\x00\x00\x00\x01\x67")
        # B-frames: some PES carry a DTS different from the PTS.
        assert any(pes_timestamps(v)[1] is not None for v in video)
        audio = pes_packets(packets, hls.AUDIO_PID)
        assert all(pes_timestamps(a)[2][:2] == b"\xff\xf1" for a in audio)


def test_two_byte_nal_length_prefixes() -> None:
    events = feed(hls.Segmenter(), make_stream(seconds=1.0, audio=False, length_size=2))
    (seg,) = [e for e in events if isinstance(e, hls.SegmentFinished)]
    with av.open(io.BytesIO(seg.data), mode="r", format="mpegts") as container:
        assert not container.streams.audio
        frames = 0
        for packet in container.demux():
            frames += len(packet.decode()) if packet.size else 0
        frames += len(container.streams.video[0].codec_context.decode(None))
    assert frames == 30


def test_codecs_and_resolution_for_the_master_playlist(segments, stream) -> None:  # type: ignore[no-untyped-def]
    segmenter = hls.Segmenter()
    feed(segmenter, stream)
    config = segmenter.video_config
    assert isinstance(config, flv.AVCDecoderConfig)
    sps = flv.parse_h264_sps(config.sps[0])
    assert (sps.width, sps.height) == (320, 192)
    assert segmenter.codecs == (sps.codec_string, "mp4a.40.2")
    assert sps.codec_string.startswith("avc1.64")  # libx264 veryfast: High profile


@pytest.mark.skipif(not shutil.which("ffprobe"), reason="ffprobe not installed")
def test_ffprobe_accepts_a_segment(segments, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "seg0.ts"
    path.write_bytes(segments[0].data)
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-count_frames", "-of", "json", str(path)],
        capture_output=True,
        check=True,
        timeout=60,
    )
    assert result.stderr == b""
    streams = {s["codec_type"]: s for s in json.loads(result.stdout)["streams"]}
    assert streams["video"]["codec_name"] == "h264"
    assert streams["video"]["has_b_frames"] >= 1
    assert int(streams["video"]["nb_read_frames"]) == 60
    assert streams["audio"]["codec_name"] == "aac"
