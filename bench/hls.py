"""Live HLS benchmark: the ladder against the ffmpeg command line, and passthrough cost.

    nox -s bench -- hls            # full run: 20 s 1080p30 source, 3 repetitions
    nox -s bench -- hls --quick    # 8 s source, 1 repetition
    python -m bench.hls --help     # from the repository root, in .venv

- ladder: the same 1080p30 H.264 source (made once by ffmpeg), transcoded to
  720p/480p/360p by (a) trioflix's ladder child process
  (``trioflix.live.ladder_process``, fed exactly as the server feeds it, with the
  source segmenter's cut markers) and (b) one ``ffmpeg`` command line doing the
  same ladder: one decode, ``split``, bicubic ``scale``, libx264 with the same
  preset, tune, bit rate, VBV cap, ``scenecut=0``, an endless GOP and IDRs forced at
  the same timestamps. Runs alternate between the two so machine noise falls on
  both. Reported: wall time, speed (media seconds per wall second), CPU seconds,
  and the ratio of speeds (ours / ffmpeg; the goal is >= 0.9).
- passthrough: CPU seconds per stream-second of the source rendition's work in the
  server (FLV tags through ``protocols.hls.Segmenter`` into MPEG-TS segments), the
  whole per-stream cost of passthrough HLS apart from file writes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from protocols import amf, flv, hls
from trioflix.live.ladder_process import CUT_MARKER, ENDLESS_GOP

RUNGS = [("720p", 1280, 720, 2800), ("480p", 854, 480, 1400), ("360p", 640, 360, 800)]
PRESET = "veryfast"
FPS = 30


def make_source(path: Path, seconds: int) -> None:
    subprocess.run(
        [
            "ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"testsrc2=size=1920x1080:rate={FPS}",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
            "-t", str(seconds),
            "-c:v", "libx264", "-preset", "veryfast", "-b:v", "6000k", "-g", str(2 * FPS),
            "-c:a", "aac", "-b:a", "128k", "-f", "flv", str(path),
        ],
        check=True,
    )  # fmt: skip


def read_tags(path: Path) -> list[flv.FLVTag]:
    reader = flv.FLVReader()
    reader.receive_data(path.read_bytes())
    reader.receive_data(b"")
    tags = []
    while (event := reader.next_event()) is not flv.NEED_DATA:
        if isinstance(event, flv.FLVEnd):
            break
        if isinstance(event, flv.FLVTag):
            tags.append(event)
    return tags


def ladder_input(tags: list[flv.FLVTag]) -> tuple[bytes, list[float]]:
    """The child's stdin as the server writes it, and the cut times (s, for ffmpeg)."""
    segmenter = hls.Segmenter()
    out = [flv.encode_header(has_audio=False, has_video=True)]
    cuts: list[float] = []
    for tag in tags:
        if tag.tag_type == flv.TagType.AUDIO:
            segmenter.push_audio(flv.parse_audio_tag(tag.data), tag.timestamp_ms)
            continue
        if tag.tag_type != flv.TagType.VIDEO:
            continue
        video = flv.parse_video_tag(tag.data)
        events = segmenter.push_video(video, tag.timestamp_ms)
        if any(isinstance(e, hls.SegmentStarted) for e in events):
            marker = flv.FLVTag(
                tag_type=flv.TagType.SCRIPT_DATA,
                timestamp_ms=tag.timestamp_ms,
                data=amf.encode_amf0(CUT_MARKER),
            )
            out.append(flv.encode_tag(marker))
            cuts.append((tag.timestamp_ms + video.composition_time_ms) / 1000)
        out.append(flv.encode_tag(tag))
    return b"".join(out), cuts


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_ours(feed: bytes) -> tuple[float, float]:
    pipes = [os.pipe() for _ in RUNGS]
    config = {
        "rungs": [
            {"name": n, "width": w, "height": h, "kbps": k, "fd": pipes[i][1]}
            for i, (n, w, h, k) in enumerate(RUNGS)
        ],
        "preset": PRESET,
        "fps": FPS,
    }
    cpu0, t0 = _children_cpu(), time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "trioflix.live.ladder_process", json.dumps(config)],
        stdin=subprocess.PIPE,
        pass_fds=[w for _, w in pipes],
    )
    for _, w in pipes:
        os.close(w)

    def drain(fd: int) -> None:
        while os.read(fd, 1 << 20):
            pass
        os.close(fd)

    drains = [threading.Thread(target=drain, args=(r,)) for r, _ in pipes]
    for t in drains:
        t.start()
    assert process.stdin is not None
    process.stdin.write(feed)
    process.stdin.close()
    process.wait()
    for t in drains:
        t.join()
    assert process.returncode == 0
    return time.perf_counter() - t0, _children_cpu() - cpu0


def run_ffmpeg(source: Path, cuts: list[float]) -> tuple[float, float]:
    split = f"[0:v]split={len(RUNGS)}" + "".join(f"[s{i}]" for i in range(len(RUNGS)))
    scales = ";".join(
        f"[s{i}]scale={w}:{h}:flags=bicubic[o{i}]" for i, (_, w, h, _) in enumerate(RUNGS)
    )
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(source)]
    cmd += ["-filter_complex", f"{split};{scales}"]
    force = ",".join(f"{c:.3f}" for c in cuts)
    for i, (_, _, _, kbps) in enumerate(RUNGS):
        cmd += [
            "-map", f"[o{i}]", "-an", "-c:v", "libx264", "-preset", PRESET,
            "-tune", "zerolatency", "-b:v", f"{kbps}k", "-forced-idr", "1",
            "-x264-params",
            f"scenecut=0:keyint={ENDLESS_GOP}:min-keyint=1"
            f":vbv-maxrate={kbps}:vbv-bufsize={2 * kbps}",
            "-force_key_frames", force, "-pix_fmt", "yuv420p", "-f", "flv", os.devnull,
        ]  # fmt: skip
    cpu0, t0 = _children_cpu(), time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t0, _children_cpu() - cpu0


def passthrough_cpu(tags: list[flv.FLVTag], seconds: float, repeat: int) -> float:
    """CPU seconds per stream-second of segmenting the source into MPEG-TS."""
    videos: list[tuple[flv.VideoTag | flv.ExVideoTag, int] | None] = []
    audios: list[tuple[flv.AudioTag, int] | None] = []
    for tag in tags:
        if tag.tag_type == flv.TagType.VIDEO:
            videos.append((flv.parse_video_tag(tag.data), tag.timestamp_ms))
            audios.append(None)
        elif tag.tag_type == flv.TagType.AUDIO:
            audios.append((flv.parse_audio_tag(tag.data), tag.timestamp_ms))
            videos.append(None)
    start = time.process_time()
    for _ in range(repeat):
        segmenter = hls.Segmenter()
        for video, audio in zip(videos, audios, strict=True):
            if video is not None:
                segmenter.push_video(*video)
            elif audio is not None:
                segmenter.push_audio(*audio)
        segmenter.finish()
    return (time.process_time() - start) / (seconds * repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    seconds, reps = (8, 1) if args.quick else (20, 3)
    with tempfile.TemporaryDirectory(prefix="trioflix-bench-hls-") as tmp:
        source = Path(tmp) / "source-1080p.flv"
        make_source(source, seconds)
        tags = read_tags(source)
        feed, cuts = ladder_input(tags)
        ours, theirs = [], []
        for _ in range(reps):
            ours.append(run_ours(feed))
            theirs.append(run_ffmpeg(source, cuts))
        passthrough = passthrough_cpu(tags, seconds, 3)
    ours_wall = statistics.median(w for w, _ in ours)
    ffmpeg_wall = statistics.median(w for w, _ in theirs)
    result: dict[str, Any] = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}",
        "source": f"1920x1080 {FPS} fps H.264 6 Mbit/s, {seconds} s",
        "ladder": ",".join(n for n, *_ in RUNGS) + f" libx264 {PRESET} zerolatency",
        "trioflix_wall_s": round(ours_wall, 2),
        "trioflix_speed_x": round(seconds / ours_wall, 2),
        "trioflix_cpu_s": round(statistics.median(c for _, c in ours), 2),
        "ffmpeg_wall_s": round(ffmpeg_wall, 2),
        "ffmpeg_speed_x": round(seconds / ffmpeg_wall, 2),
        "ffmpeg_cpu_s": round(statistics.median(c for _, c in theirs), 2),
        "speed_ratio_trioflix_over_ffmpeg": round(ffmpeg_wall / ours_wall, 3),
        "passthrough_cpu_s_per_stream_s": round(passthrough, 5),
        "repetitions": reps,
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
