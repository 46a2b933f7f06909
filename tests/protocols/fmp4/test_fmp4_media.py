"""End to end: FLV from real encoders (libx264 with B-frames, libx265 in enhanced FLV, AAC)
cut into LL-HLS-sized fragments, and read back by independent readers: ffprobe, fragment
by fragment and as a whole, and PyAV (FFmpeg's demuxer and decoders) against the source."""

from __future__ import annotations

import io
import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING

import av
import imageio_ffmpeg  # type: ignore[import-untyped]  # no type information shipped
import pytest

from protocols import flv, fmp4
from tests.interop.media import FFMPEG, ffprobe, require

from .helpers import FLVMedia, read_flv
from .test_fmp4_init import picture_size

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow

PART_MS = 200  # an LL-HLS part target
SECONDS = 3
GOP = 30  # a keyframe every second at 30 fps

ENCODERS = {
    # The system's FFmpeg 5.1 writes H.264 FLV; libx264's default B-frames reorder frames.
    "h264": ("-c:v", "libx264", "-preset", "veryfast", "-sc_threshold", "0"),
    # imageio-ffmpeg's FFmpeg 9 writes HEVC as enhanced-RTMP FLV (FourCC hvc1).
    "hevc": (
        "-c:v",
        "libx265",
        "-preset",
        "ultrafast",
        "-x265-params",
        "log-level=error:scenecut=0",
    ),
}


@dataclass
class Muxed:
    source: Path
    media: FLVMedia
    init: bytes
    fragments: list[fmp4.Fragment]

    def whole(self) -> bytes:
        return self.init + b"".join(f.data for f in self.fragments)


def encode_flv(path: Path, codec: str) -> Path:
    binary = require(FFMPEG, "ffmpeg") if codec == "h264" else imageio_ffmpeg.get_ffmpeg_exe()
    subprocess.run(
        [
            binary,
            *("-hide_banner", "-loglevel", "error", "-y"),
            *("-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30"),
            *("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"),
            *("-t", str(SECONDS), "-g", str(GOP)),
            *ENCODERS[codec],
            *("-c:a", "aac", "-b:a", "64k", "-f", "flv", str(path)),
        ],
        check=True,
        timeout=120,
    )
    return path


def fragment(media: FLVMedia) -> tuple[bytes, list[fmp4.Fragment]]:
    """Cut as an LL-HLS writer does: at every keyframe, and at the first video frame at
    least a part target after the part's start."""
    f = fmp4.Fragmenter(video=media.video_config, audio=media.audio_config)
    fragments = []
    part_start: int | None = None
    for _, ts, tag in media.samples:
        if isinstance(tag, flv.AudioTag):
            f.add_audio(tag.data, dts_ms=ts)
            continue
        f.add_video(tag.data, dts_ms=ts, cts_ms=tag.composition_time_ms, keyframe=tag.is_keyframe)
        if part_start is None or tag.is_keyframe or ts - part_start >= PART_MS:
            cut = f.cut()
            fragments += [cut] if cut is not None else []
            part_start = ts
    last = f.flush()
    assert last is not None
    return f.init_segment, [*fragments, last]


@pytest.fixture(scope="module", params=sorted(ENCODERS))
def muxed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Muxed:
    codec: str = request.param
    source = encode_flv(tmp_path_factory.mktemp(codec) / "source.flv", codec)
    media = read_flv(source)
    assert media.video_config is not None
    assert media.video_config.codec_string.startswith("avc1" if codec == "h264" else "hvc1")
    return Muxed(source, media, *fragment(media))


def source_packets(path: Path) -> dict[str, list[tuple[int, int, bool]]]:
    """(pts, dts, keyframe) of every packet, per stream type, as PyAV demuxes ``path``
    (FLV in ms, MP4 in each track's timescale)."""
    out: dict[str, list[tuple[int, int, bool]]] = {"video": [], "audio": []}
    with av.open(str(path), mode="r") as container:
        for packet in container.demux():
            if packet.size:
                assert packet.pts is not None and packet.dts is not None
                out[packet.stream.type].append((packet.pts, packet.dts, packet.is_keyframe))
    return out


def test_parts_follow_the_cuts(muxed: Muxed) -> None:
    video_times = muxed.media.times("video")
    keyframes = [
        ts for ts, t in zip(video_times, muxed.media.video(), strict=True) if t.is_keyframe
    ]
    assert len(keyframes) == SECONDS
    assert [f.sequence for f in muxed.fragments] == list(range(1, len(muxed.fragments) + 1))
    starts = [f.start_ms for f in muxed.fragments]
    assert [s for s, f in zip(starts, muxed.fragments, strict=True) if f.independent] == keyframes
    for before, after in zip(muxed.fragments, muxed.fragments[1:], strict=False):
        assert before.start_ms + before.duration_ms == after.start_ms
        assert 0 < before.duration_ms <= PART_MS
    last = muxed.fragments[-1]
    assert last.start_ms + last.duration_ms == video_times[-1] + 33  # the last frame: 1/30 s
    assert sum(t.samples for f in muxed.fragments for t in f.tracks if t.track_id == 1) == len(
        video_times
    )


def test_ffprobe_reads_the_init_segment(muxed: Muxed, tmp_path: Path) -> None:
    # 180 rows are coded as 184 (whole 8x8 blocks) and cropped by the SPS: the size the
    # muxer states must be the cropped one.
    assert picture_size(muxed.init) == (320, 180)
    path = tmp_path / "init.mp4"
    path.write_bytes(muxed.init)
    report, errors = ffprobe(path, "-show_streams")
    assert errors == ""
    video, audio = report["streams"]
    config = muxed.media.video_config
    assert config is not None
    assert video["codec_tag_string"] == config.codec_string[:4]
    assert (video["width"], video["height"]) == (320, 180)
    assert (audio["codec_name"], audio["sample_rate"], audio["channels"]) == ("aac", "48000", 1)


def test_ffprobe_reads_each_fragment_after_the_init_segment(muxed: Muxed, tmp_path: Path) -> None:
    path = tmp_path / "part.mp4"
    for fragment in muxed.fragments:
        path.write_bytes(muxed.init + fragment.data)
        report, errors = ffprobe(path, "-show_entries", "packet=stream_index,dts")
        # ffprobe decodes a few frames to describe the streams: a part that does not start
        # with a keyframe lacks its references (B-frames report missing co-located POCs).
        assert errors == "" or not fragment.independent
        for run in fragment.tracks:
            index = run.track_id - 1
            dts = [int(p["dts"]) for p in report["packets"] if p["stream_index"] == index]
            assert len(dts) == run.samples
            assert dts[0] == run.base_decode_time


def test_ffprobe_decodes_every_frame(muxed: Muxed, tmp_path: Path) -> None:
    path = tmp_path / "whole.mp4"
    path.write_bytes(muxed.whole())
    report, errors = ffprobe(
        path, "-count_frames", "-show_entries", "stream=codec_type,nb_read_frames"
    )
    assert errors == ""
    frames = {s["codec_type"]: int(s["nb_read_frames"]) for s in report["streams"]}
    assert frames == {
        "video": len(muxed.media.times("video")),
        "audio": len(muxed.media.times("audio")),
    }


def test_pyav_demuxes_the_source_timestamps_and_decodes_every_frame(
    muxed: Muxed, tmp_path: Path
) -> None:
    source = source_packets(muxed.source)
    path = tmp_path / "whole.mp4"
    path.write_bytes(muxed.whole())
    got = source_packets(path)
    # The source FLV in ms, the fMP4 in 90 kHz: the same times, exactly.
    assert got["video"] == [(pts * 90, dts * 90, key) for pts, dts, key in source["video"]]
    assert any(pts != dts for pts, dts, _ in source["video"])  # B-frames reordered
    # AAC at 48 kHz: 48 ticks per ms.
    assert [(pts, dts) for pts, dts, _ in got["audio"]] == [
        (pts * 48, dts * 48) for pts, dts, _ in source["audio"]
    ]
    with av.open(io.BytesIO(muxed.whole()), mode="r", format="mp4") as container:
        decoded = {"video": 0, "audio": 0}
        for packet in container.demux():
            decoded[packet.stream.type] += len(packet.decode())
    assert decoded == {"video": len(source["video"]), "audio": len(source["audio"])}
