"""Real media for interop tests: samples made by ffmpeg, checked by ffprobe."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from protocols import flv

if TYPE_CHECKING:
    from pathlib import Path

FFMPEG = shutil.which("ffmpeg")
FFPROBE = shutil.which("ffprobe")
RTMPDUMP = shutil.which("rtmpdump")


def require(binary: str | None, name: str) -> str:
    if binary is None:
        pytest.skip(f"{name} is not installed (./dev system-packages installs it)")
    return binary


@dataclass(frozen=True)
class Sample:
    """A short H.264 (with B-frames unless made without) + AAC FLV file and its video
    packet timestamps (and each video packet's size, by timestamp)."""

    path: Path
    video_pts_ms: list[int]
    keyframe_pts_ms: list[int]
    audio_packets: int
    video_sizes: dict[int, int]


def make_sample(
    path: Path, *, seconds: int = 6, gop: int = 30, size: str = "640x360", bframes: int = 2
) -> Sample:
    ffmpeg = require(FFMPEG, "ffmpeg")
    subprocess.run(
        [
            ffmpeg,
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size={size}:rate=30",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=44100",
            "-t",
            str(seconds),
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
            "-bf",
            str(bframes),
            "-x264-params",
            f"bframes={bframes}:rc-lookahead=0",
            "-g",
            str(gop),
            "-c:a",
            "aac",
            "-b:a",
            "64k",
            "-f",
            "flv",
            str(path),
        ],
        check=True,
    )
    packets = probe_packets(path)
    video = [p for p in packets if p.codec_type == "video"]
    return Sample(
        path=path,
        video_pts_ms=[p.pts_ms for p in video],
        keyframe_pts_ms=[p.pts_ms for p in video if p.key],
        audio_packets=sum(1 for p in packets if p.codec_type == "audio"),
        video_sizes={p.pts_ms: p.size for p in video},
    )


@dataclass(frozen=True)
class ProbedPacket:
    codec_type: str
    pts_ms: int
    key: bool
    size: int


def ffprobe(path: Path | str, *options: str) -> tuple[dict[str, Any], str]:
    """Run ffprobe on ``path`` (or a URL) with ``options`` and JSON output: (the JSON, stderr).

    Fails the test if ffprobe itself fails; what it reports on stderr (decoding
    errors) is returned for the caller to judge.
    """
    result = subprocess.run(
        [require(FFPROBE, "ffprobe"), "-v", "error", *options, "-of", "json", str(path)],
        capture_output=True,
        check=False,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report, result.stderr.strip()


def probe_packets(path: Path) -> list[ProbedPacket]:
    """Every packet of ``path`` (codec type, pts in ms, key flag, size), as ffprobe reads it."""
    report, _ = ffprobe(path, "-show_entries", "packet=codec_type,pts_time,flags,size")
    return [
        ProbedPacket(
            codec_type=p["codec_type"],
            pts_ms=round(float(p["pts_time"]) * 1000),
            key="K" in p.get("flags", ""),
            size=int(p["size"]),
        )
        for p in report.get("packets", [])
    ]


def flv_timestamps(source: Path | bytes) -> list[int]:
    """The tag timestamps of the FLV file (or bytes) ``source``, read strictly, in file order.

    Fails (``FLVError``) unless the file is one FLV stream: one header, then whole
    tags, each with its PreviousTagSize (a second header in the middle is not a tag).
    """
    reader = flv.FLVReader()
    reader.receive_data(source if isinstance(source, bytes) else source.read_bytes())
    reader.receive_data(b"")
    stamps = []
    while not isinstance(event := reader.next_event(), flv.FLVEnd):
        if isinstance(event, flv.FLVTag):
            stamps.append(event.timestamp_ms)
    return stamps


def assert_goes_forward(stamps: list[int], *, slack_ms: int = 1000) -> None:
    """No timestamp falls back more than ``slack_ms`` behind the largest before it
    (audio and video interleave with small steps back; a restarted clock is not that)."""
    largest = 0
    for index, stamp in enumerate(stamps):
        assert stamp >= largest - slack_ms, (index, stamp, largest)
        largest = max(largest, stamp)


def decoded_frames(path: Path | str) -> dict[str, int]:
    """Frames per stream type that ffprobe can actually decode from ``path`` (or a URL)."""
    report, _ = ffprobe(path, "-count_frames", "-show_entries", "stream=codec_type,nb_read_frames")
    return {s["codec_type"]: int(s["nb_read_frames"]) for s in report["streams"]}


def record_command(url: str, received: Path) -> list[str]:
    """ffmpeg recording the live stream at ``url`` into ``received`` as it arrives.

    ``-copyts`` keeps the stream's own timestamps: without it ffmpeg shifts them so
    the file starts at 0, and a viewer that joined at a later keyframe (a loaded
    machine starts ffmpeg seconds late) would look as if it had the sample's first
    GOPs and lost its last ones.
    """
    ffmpeg = require(FFMPEG, "ffmpeg")
    cmd = [ffmpeg, "-hide_banner", "-loglevel", "error", "-i", url]
    return [*cmd, "-c", "copy", "-copyts", "-y", str(received)]


def assert_received_suffix(sample: Sample, received: Path) -> list[int]:
    """The viewer got every video frame from some keyframe on, in order, and they decode.

    A viewer joins mid-stream and starts at the keyframe the server cached, so
    what arrives must be exactly the sample's frames from that keyframe to the
    end, with the same timestamps (the server maps the first publisher's clock
    straight onto the channel's) and the same sizes.
    """
    packets = [p for p in probe_packets(received) if p.codec_type == "video"]
    video_pts = [p.pts_ms for p in packets]
    assert video_pts, "no video received"
    first = video_pts[0]
    assert first in sample.keyframe_pts_ms, f"viewer did not start on a keyframe ({first} ms)"
    # A frame of another time under this timestamp: the file's clock was shifted.
    moved = [p.pts_ms for p in packets if sample.video_sizes.get(p.pts_ms) != p.size]
    assert not moved, f"the frames at {moved[:5]} ms are not the sample's frames at those times"
    expected = [pts for pts in sample.video_pts_ms if pts >= first]
    assert sorted(video_pts) == sorted(expected)
    frames = decoded_frames(received)
    assert frames["video"] == len(expected)
    return video_pts
