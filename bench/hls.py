"""Live HLS benchmark: the ladder against the ffmpeg command line, and passthrough cost.

    nox -s bench -- hls            # full run: 20 s 1080p30 source, 3 repetitions
    nox -s bench -- hls --quick    # 8 s source, 1 repetition
    python -m bench.hls --help     # from the repository root, in .venv

- ladder: the same 1080p30 H.264 source (made once by ffmpeg), transcoded to
  720p/480p/360p by (a) trioflix's ladder child process
  (``trioflix.live.hls.ladder_process``, fed exactly as the server feeds it, with the
  source segmenter's cut markers) and (b) one ``ffmpeg`` command line doing the
  same ladder: one decode, ``split``, bicubic ``scale``, libx264 with the same
  preset, tune, bit rate, VBV cap, ``scenecut=0``, an endless GOP and IDRs forced at
  the same timestamps. Runs alternate between the two so machine noise falls on
  both. Reported: wall time, speed (media seconds per wall second), CPU seconds,
  and the ratio of speeds (ours / ffmpeg; the goal is >= 0.9).
- passthrough: CPU seconds per stream-second of the source rendition's work in the
  server (FLV tags through ``protocols.hls.Segmenter`` into MPEG-TS segments), the
  whole per-stream cost of passthrough HLS apart from file writes.
- live HLS through running servers, trioflix (``trioflix serve --hls-ladder off``,
  keys with recording off) against nginx-rtmp (Debian's ``nginx`` +
  ``libnginx-mod-rtmp``, ``hls on``), both with 2 s segments and a 12 s window,
  each started fresh by the benchmark on loopback ports with its own config, data
  and temporary paths (never the system service):
  (a) server CPU per stream-second (``/proc`` utime + stime of the process tree)
  with N ffmpeg ``-re -c copy`` publishers of the 1080p source, over a window that
  starts once every stream lists a segment: trioflix with LL-HLS on (the default:
  CMAF parts beside the TS segments), trioflix with ``--hls-part off`` and
  nginx-rtmp running at once, their CPU read over the same window (paired, so a
  loaded machine's noise falls on all three), for a few rounds; medians.
  ``--only passthrough`` runs this alone;
  (b) per run, a fresh channel: time from starting the publisher to the first
  playlist a player gets (trioflix: the master playlist, which waits for the first
  segment; nginx-rtmp: its one playlist) and to the first segment listed in the
  media playlist, polled every 20 ms over HTTP.
  Needs ``apt-get install nginx libnginx-mod-rtmp``; ``--only ladder`` skips it.
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
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import trio

from bench.live import (
    HOST,
    NGINX,
    NGINX_RTMP_MODULE,
    Server,
    Trioflix,
    cpu_seconds,
    nginx_rtmp_version,
    nginx_version,
    serving,
)
from protocols import amf, flv, hls
from trioflix.live.hls.ladder_process import ENDLESS_GOP
from trioflix.live.hls.ladder_spec import CUT_MARKER

if TYPE_CHECKING:
    from collections.abc import Sequence

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
        [sys.executable, "-m", "trioflix.live.hls.ladder_process", json.dumps(config)],
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


# --- passthrough HLS and latency through running servers: trioflix vs nginx-rtmp ---------

SEGMENT_S = 2  # both servers: 2 s target segments...
WINDOW_SEGMENTS = 6  # ...and a 6-segment (12 s) live window, trioflix's defaults
LISTING_POLL_S = 0.02  # playlist polling step: the latency figures' resolution
LATENCY_DEADLINE_S = 15.0  # publish start to a listed segment; past this, a failure
LATENCY_PUBLISH_S = 6.0  # each latency run's publish: three segments' worth
LIVE_STAGGER_S = 0.2  # between the CPU run's publishers' starts
CPU_WARMUP_S = 3.0  # after every stream lists a segment: handshakes and first cuts are over
LIVE_BUDGET_S = 900.0  # the live part takes ~5 min on a loaded machine; past this, stuck


class NginxRtmp(Server):
    """nginx with Debian's libnginx-mod-rtmp: ``live on; hls on;`` with the same segment
    length and window as trioflix; the playlists and segments served by its own HTTP
    server. Its own prefix, config, logs and temporary paths; loopback ports only."""

    name = "nginx-rtmp"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.root = workdir / "nginx"
        hls_dir = self.root / "hls"
        hls_dir.mkdir(parents=True)
        # The workers drop root (Debian's default user); they write the HLS files.
        for directory in (workdir.parent, workdir, self.root):  # all inside the run's temp dir
            directory.chmod(0o755)
        hls_dir.chmod(0o777)
        temp = "".join(
            f"    {kind}_temp_path {self.root / kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        self.config = self.root / "nginx.conf"
        self.config.write_text(
            f"load_module {NGINX_RTMP_MODULE};\n"
            "daemon off;\nworker_processes 1;\n"
            f"pid {self.root / 'nginx.pid'};\nerror_log {self.root / 'error.log'} warn;\n"
            "events { worker_connections 256; }\n"
            "rtmp {\n  server {\n"
            f"    listen {HOST}:{self.rtmp_port};\n"
            "    application live {\n      live on;\n      record off;\n      hls on;\n"
            f"      hls_path {hls_dir};\n      hls_fragment {SEGMENT_S}s;\n"
            f"      hls_playlist_length {SEGMENT_S * WINDOW_SEGMENTS}s;\n"
            "    }\n  }\n}\n"
            "http {\n    access_log off;\n"
            f"{temp}"
            "    types { application/vnd.apple.mpegurl m3u8; video/mp2t ts; }\n"
            f"    server {{\n      listen {HOST}:{self.http_port};\n"
            f"      location /hls/ {{ alias {hls_dir}/; add_header Cache-Control no-cache; }}\n"
            "    }\n}\n"
        )

    def command(self) -> list[str]:
        return [NGINX, "-p", str(self.root), "-c", str(self.config), "-e", "stderr"]

    def stream_key(self, index: int) -> str:
        return f"bench{index:02d}"

    def play_path(self, index: int) -> str:
        return f"/hls/{self.stream_key(index)}.m3u8"

    def describe(self) -> str:
        return f"{nginx_version()} + libnginx-mod-rtmp {nginx_rtmp_version()}"


class TrioflixHLS(Trioflix):
    """``trioflix serve --hls-ladder off --hls-segment 2``: the source rendition only.

    ``part`` is ``--hls-part``: ``None`` keeps the default (LL-HLS on, CMAF parts
    beside the TS segments); ``"off"`` turns LL-HLS off. ``tree``: run the trioflix of
    that source tree (another checkout, for a before/after run) instead of this one's.
    """

    def __init__(self, workdir: Path, part: str | None = None, tree: Path | None = None) -> None:
        super().__init__(workdir)
        self.part = part
        self.tree = tree
        self.name = "trioflix" if tree is None else "baseline"
        if part is not None:
            self.name += f"-part-{part}"

    def command(self) -> list[str]:
        command = super().command()
        command[command.index("--hls") + 1] = "on"  # the FLV-only base turns HLS off
        command += ["--hls-ladder", "off", "--hls-segment", str(SEGMENT_S)]
        command += [] if self.part is None else ["--hls-part", self.part]
        return command if self.tree is None else ["env", f"PYTHONPATH={self.tree}", *command]

    def master_path(self, index: int) -> str:
        return f"/live/{self.channel(index)}/master.m3u8"

    def media_path(self, index: int) -> str:
        return f"/live/{self.channel(index)}/source/index.m3u8"


def _master_path(server: Server, index: int) -> str:
    """What a player asks for first."""
    return server.master_path(index) if isinstance(server, TrioflixHLS) else server.play_path(index)


def _media_path(server: Server, index: int) -> str:
    """The playlist that lists segments."""
    return server.media_path(index) if isinstance(server, TrioflixHLS) else server.play_path(index)


def _media_url(server: Server, index: int) -> str:
    return f"http://{HOST}:{server.http_port}{_media_path(server, index)}"


def _lists_a_segment(text: str) -> bool:
    return any(line and not line.startswith("#") for line in text.splitlines())


async def _publish(source: Path, url: str, seconds: float, log: Path) -> int:
    """ffmpeg ``-re -c copy`` of ``source`` (looped) for ``seconds``: how OBS pushes."""
    with log.open("ab") as errors:
        completed = await trio.run_process(
            [
                "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-re",
                "-stream_loop", "-1", "-i", str(source), "-c", "copy", "-t", f"{seconds:g}",
                "-f", "flv", url,
            ],
            check=False,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )  # fmt: skip
    return completed.returncode


async def _first(client: httpx.AsyncClient, path: str, listed: bool) -> float | None:
    """When ``path`` first answers 200 (``listed``: and lists a segment); bounded."""
    deadline = time.monotonic() + LATENCY_DEADLINE_S
    while time.monotonic() < deadline:
        try:
            with trio.move_on_after(LATENCY_DEADLINE_S):
                response = await client.get(path)
                if response.status_code == 200 and (not listed or _lists_a_segment(response.text)):
                    return time.monotonic()
        except httpx.TransportError:
            pass
        await trio.sleep(LISTING_POLL_S)
    return None


async def _record_first(
    found: dict[str, float | None], kind: str, client: httpx.AsyncClient, path: str, listed: bool
) -> None:
    found[kind] = await _first(client, path, listed)


async def hls_cpu(
    servers: Sequence[Server],
    source: Path,
    streams: int,
    window_s: float,
    warmup_s: float = CPU_WARMUP_S,
) -> dict[str, dict[str, Any]]:
    """Server CPU per stream-second with ``streams`` publishers each, HLS written by the
    server, by server name. The servers run at once and their CPU is read over the same
    window, ``warmup_s`` after every stream lists a segment: on a shared machine one
    server's run alone can see twice the load of another's; paired, all see the same."""
    # The publishers are cancelled when the window is over; until then they must outlast
    # every server's start-up and first segments, however slow a loaded machine makes them.
    seconds = LIVE_BUDGET_S
    async with AsyncExitStack() as stack:
        running = [
            await stack.enter_async_context(serving(server, f"hls-cpu-{streams}"))
            for server in servers
        ]
        client = await stack.enter_async_context(httpx.AsyncClient())
        nursery = await stack.enter_async_context(trio.open_nursery())
        for server in servers:
            if isinstance(server, Trioflix):
                await server.create_channels(streams)
        for index in range(streams):
            for server in servers:
                log = server.workdir / f"ffmpeg-{server.name}-hls-{index}.log"
                nursery.start_soon(_publish, source, server.publish_url(index), seconds, log)
            await trio.sleep(LIVE_STAGGER_S)
        for server in servers:
            for index in range(streams):
                if await _first(client, _media_url(server, index), listed=True) is None:
                    raise TimeoutError(f"{server.name}: stream {index} never listed a segment")
        await trio.sleep(warmup_s)
        cpu0, t0 = [cpu_seconds(r.pid) for r in running], time.monotonic()
        await trio.sleep(window_s)
        cpu1, t1 = [cpu_seconds(r.pid) for r in running], time.monotonic()
        result: dict[str, dict[str, Any]] = {}
        for server, before, after in zip(servers, cpu0, cpu1, strict=True):
            alive = 0
            for index in range(streams):  # still segmenting at the end of the window?
                response = await client.get(_media_url(server, index))
                alive += response.status_code == 200 and "#EXT-X-ENDLIST" not in response.text
            result[server.name] = {
                "streams": streams,
                "window_s": round(t1 - t0, 2),
                "cpu_s": round(after - before, 3),
                "cpu_per_stream_s": round((after - before) / (streams * (t1 - t0)), 5),
                "streams_live_at_end": alive,
            }
        nursery.cancel_scope.cancel()  # the publishers: the window is over
    return result


async def hls_latency(server: Server, source: Path, runs: int) -> dict[str, Any]:
    """Per run, a fresh channel: publish start to the first playlist answered, and to
    the first segment listed in the media playlist."""
    playlist_s: list[float] = []
    listed_s: list[float] = []
    async with serving(server, "hls-latency"):
        if isinstance(server, Trioflix):
            await server.create_channels(runs)
        async with httpx.AsyncClient(
            base_url=f"http://{HOST}:{server.http_port}", timeout=LATENCY_DEADLINE_S
        ) as client:
            for index in range(runs):
                found: dict[str, float | None] = {}
                log = server.workdir / f"ffmpeg-{server.name}-latency-{index}.log"
                async with trio.open_nursery() as nursery:
                    t0 = time.monotonic()
                    nursery.start_soon(
                        _publish, source, server.publish_url(index), LATENCY_PUBLISH_S, log
                    )
                    master, media = _master_path(server, index), _media_path(server, index)
                    nursery.start_soon(_record_first, found, "playlist", client, master, False)
                    nursery.start_soon(_record_first, found, "listed", client, media, True)
                playlist, listed = found["playlist"], found["listed"]
                if playlist is None or listed is None:
                    raise TimeoutError(f"{server.name}: run {index} listed nothing")
                playlist_s.append(playlist - t0)
                listed_s.append(listed - t0)
    return {
        "runs": runs,
        "first_playlist_s": [round(s, 3) for s in playlist_s],
        "segment_listed_s": [round(s, 3) for s in listed_s],
        "first_playlist_median_s": round(statistics.median(playlist_s), 3),
        "segment_listed_median_s": round(statistics.median(listed_s), 3),
    }


async def live_cpu(
    workdir: Path,
    source: Path,
    streams: int,
    window_s: float,
    rounds: int,
    baseline: Path | None = None,
    warmup_s: float = CPU_WARMUP_S,
) -> dict[str, Any]:
    """Server CPU per stream of trioflix with LL-HLS on (the default), with it off, and of
    nginx-rtmp, the three paired (:func:`hls_cpu`), each started fresh per round; the
    medians of ``rounds`` rounds. ``baseline``: another source tree's trioflix, LL-HLS
    on and off, runs in the same pairing (before/after)."""
    result: dict[str, Any] = {}
    runs: dict[str, list[dict[str, Any]]] = {}
    for round_ in range(rounds):
        nginx = NginxRtmp(workdir / f"n-cpu-{round_}")
        servers: list[Server] = [
            TrioflixHLS(workdir / f"t-cpu-{round_}"),
            TrioflixHLS(workdir / f"t-off-cpu-{round_}", part="off"),
            nginx,
        ]
        if baseline is not None:
            servers += [
                TrioflixHLS(workdir / f"b-cpu-{round_}", tree=baseline),
                TrioflixHLS(workdir / f"b-off-cpu-{round_}", part="off", tree=baseline),
            ]
        result["nginx"] = nginx.describe()
        for server in servers:
            server.workdir.mkdir(exist_ok=True)
        paired = await hls_cpu(servers, source, streams, window_s, warmup_s)
        for name, run in paired.items():
            runs.setdefault(name, []).append(run)
    for name, measured in runs.items():
        per_stream = [m["cpu_per_stream_s"] for m in measured]
        result[f"{name}_cpu"] = {
            "runs": measured,
            "cpu_per_stream_s": round(statistics.median(per_stream), 5),
        }
    nginx_cpu = result["nginx-rtmp_cpu"]["cpu_per_stream_s"]
    for name in runs:
        if name != "nginx-rtmp":
            result[f"cpu_ratio_{name}_over_nginx"] = round(
                result[f"{name}_cpu"]["cpu_per_stream_s"] / nginx_cpu, 2
            )
    return result


async def live_hls(
    workdir: Path,
    source: Path,
    streams: int,
    window_s: float,
    runs: int,
    rounds: int,
    baseline: Path | None,
    warmup_s: float = CPU_WARMUP_S,
) -> dict[str, Any]:
    """CPU per stream (:func:`live_cpu`), then latency, trioflix and nginx-rtmp in turn."""
    result = await live_cpu(workdir, source, streams, window_s, rounds, baseline, warmup_s)
    if runs:
        for server in (TrioflixHLS(workdir / "t-lat"), NginxRtmp(workdir / "n-lat")):
            server.workdir.mkdir(exist_ok=True)
            result[f"{server.name}_latency"] = await hls_latency(server, source, runs)
    return result


async def _bounded_live(
    workdir: Path,
    source: Path,
    streams: int,
    window_s: float,
    runs: int,
    rounds: int,
    baseline: Path | None,
    warmup_s: float,
) -> dict[str, Any]:
    with trio.fail_after(LIVE_BUDGET_S):
        return await live_hls(workdir, source, streams, window_s, runs, rounds, baseline, warmup_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--only",
        choices=["ladder", "live", "passthrough"],
        help="run one part (default: ladder and live); passthrough: live CPU per stream only",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="a checkout of another trioflix tree (e.g. main) to run beside this one's,"
        " for a before/after of the passthrough CPU in the same pairing",
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=CPU_WARMUP_S,
        help="seconds from every stream listing a segment to the CPU window (default"
        f" {CPU_WARMUP_S:g}); 35 measures LL-HLS with its 28 s of segments already held",
    )
    args = parser.parse_args()
    seconds, reps = (8, 1) if args.quick else (20, 3)
    streams, window_s, runs, rounds = (2, 6.0, 1, 1) if args.quick else (4, 15.0, 3, 2)
    if args.only == "passthrough":
        runs = 0
    result: dict[str, Any] = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}",
        "source": f"1920x1080 {FPS} fps H.264 6 Mbit/s, {seconds} s",
        "load_average_before": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
        "cpu_warmup_s": args.warmup,
    }
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="trioflix-bench-hls-") as tmp:
        source = Path(tmp) / "source-1080p.flv"
        make_source(source, seconds)
        if args.only is None or args.only == "ladder":
            tags = read_tags(source)
            feed, cuts = ladder_input(tags)
            ours, theirs = [], []
            for _ in range(reps):
                ours.append(run_ours(feed))
                theirs.append(run_ffmpeg(source, cuts))
            passthrough = passthrough_cpu(tags, seconds, 3)
            ours_wall = statistics.median(w for w, _ in ours)
            ffmpeg_wall = statistics.median(w for w, _ in theirs)
            result |= {
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
        if args.only != "ladder":
            live = trio.run(
                _bounded_live,
                Path(tmp),
                source,
                streams,
                window_s,
                runs,
                rounds,
                args.baseline,
                args.warmup,
            )
            if runs:
                lat_t, lat_n = live["trioflix_latency"], live["nginx-rtmp_latency"]
                live |= {
                    "first_playlist_ratio_trioflix_over_nginx": round(
                        lat_t["first_playlist_median_s"] / lat_n["first_playlist_median_s"], 2
                    ),
                    "segment_listed_ratio_trioflix_over_nginx": round(
                        lat_t["segment_listed_median_s"] / lat_n["segment_listed_median_s"], 2
                    ),
                }
            result["live_hls"] = live
    result["load_average_after"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    result["wall_s"] = round(time.monotonic() - started, 1)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
