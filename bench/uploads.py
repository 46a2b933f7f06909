"""Upload benchmark: trioflix against @tus/server and ``dd``; the VOD ladder against ffmpeg.

    nox -s bench -- uploads            # full run: 1 GiB uploads, about 5 minutes
    nox -s bench -- uploads --quick    # smoke run: 128 MiB, about 1 minute
    python -m bench.uploads --help     # from the repository root, in .venv

Uploads: one file of random bytes is sent in PATCH requests of 8 MiB, of 64 MiB,
and in one single PATCH, to trioflix and to @tus/server with @tus/file-store
(installed with npm into a temporary folder at run time, at the exact versions
:data:`TUS_SERVER_VERSION` and :data:`FILE_STORE_VERSION`). The same client
serves both: a raw HTTP/1.1 request whose body goes out with ``sendfile`` from
the page cache, so the client costs next to no CPU. The clock runs from the
creation ``POST`` to the last response. ``dd bs=8M conv=fsync`` copies the same
file on the same disk: the physical limit. trioflix fsyncs every 32 MiB (in the
background) and at the end of every request; @tus/file-store never fsyncs; dd
once at the end.

Each server is started fresh for each measurement. The runs go in rounds, one
per (chunk size, repeat): trioflix, @tus/server, dd (the servers taking turns
at going first), so that on a shared machine they all see the same load; the
load average is recorded at the start and the end. ``--baseline DIR`` adds an
older trioflix (the ``trioflix`` and ``protocols`` packages in DIR) to every
round, for before/after figures from the same conditions. "idle" is the
server process's RSS before the upload; its high-water mark is then reset
(``clear_refs``), so "peak" (``VmHWM`` after the upload) is the upload's own.
dd's and the encoders' peaks are their last ``VmHWM`` before they exit.

VOD ladder: a 1080p30 H.264/AAC sample (made by ffmpeg once and cached) goes
through trioflix's job function (``python -m trioflix.jobs.child
trioflix.media.pipeline:process``: probe, 1080p/720p/480p/360p ladder,
thumbnails, sprite) and through one ffmpeg command making the same ladder with
the same x264 settings (:func:`trioflix.media.ladder.x264_options`), both at
nice +10 as the job runs. Speed is the sample's duration over the wall time.

Everything talks to 127.0.0.1 only, and every step is bounded in time.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench._files import make_random_file
from bench._machine import (
    add_run_options,
    load_average,
    node_version,
    report_header,
    run_meta,
)
from bench._proc import exit_on_sigterm, reset_peak_rss, status_kib, wait4
from bench._tus_client import upload
from bench._tus_servers import TUS_SERVER_VERSION, install_node_server, node_server, trioflix
from trioflix.media.ladder import (
    AUDIO_BITRATE,
    AUDIO_RATE,
    GOP_SECONDS,
    SEGMENT_SECONDS,
    output_fps,
    plan_ladder,
    x264_options,
)
from trioflix.media.probe import probe

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractContextManager

    from bench._tus_servers import Server

FILE_STORE_VERSION = "2.1.1"  # @tus/file-store
MIB = 1024 * 1024
DD_TIMEOUT_S = 300.0
LADDER_TIMEOUT_S = 900.0  # 20 s of 1080p through four x264 encoders on 2 cores: ~1-2 min
SAMPLE_TIMEOUT_S = 300.0
BASELINE = "trioflix (baseline)"


@dataclass(frozen=True)
class Plan:
    size: int  # bytes per upload
    chunks: tuple[int | None, ...]  # PATCH sizes; None: one single PATCH
    repeat: int  # each (server, chunk) measured this many times; the best is reported
    sample_seconds: int  # VOD sample duration


FULL = Plan(1024 * MIB, (8 * MIB, 64 * MIB, None), 3, 20)  # 3 rounds: the VM is shared
QUICK = Plan(128 * MIB, (8 * MIB, 64 * MIB, None), 1, 6)


# --- the servers ---------------------------------------------------------------------


_TUS_NODE_SERVER = """\
import http from "node:http";
import { FileStore } from "@tus/file-store";
import { Server } from "@tus/server";

const [port, directory] = process.argv.slice(2);
const tus = new Server({ path: "/files", datastore: new FileStore({ directory }) });
http.createServer((req, res) => tus.handle(req, res)).listen(Number(port), "127.0.0.1");
process.on("SIGINT", () => process.exit(0));
"""


def install_tus_node(root: Path) -> None:
    install_node_server(
        root,
        {"@tus/server": TUS_SERVER_VERSION, "@tus/file-store": FILE_STORE_VERSION},
        _TUS_NODE_SERVER,
    )


def tus_node(workdir: Path, root: Path) -> AbstractContextManager[Server]:
    data = workdir / "tus-node-data"
    describe = (
        f"@tus/server {TUS_SERVER_VERSION} + @tus/file-store {FILE_STORE_VERSION}, "
        f"Node.js {node_version()}"
    )
    return node_server(workdir, root, describe=describe, args=[str(data)], data_dir=data)


def dd(source: Path, target: Path) -> tuple[float, int]:
    """Seconds and peak RSS (KiB) of ``dd bs=8M conv=fsync``."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        ["dd", f"if={source}", f"of={target}", "bs=8M", "conv=fsync", "status=none"]
    )
    peak = wait4(proc, DD_TIMEOUT_S)
    elapsed = time.perf_counter() - started
    target.unlink()
    if peak is None or proc.returncode != 0:
        proc.kill()
        raise RuntimeError("dd failed or took too long")
    return elapsed, peak


# --- the VOD ladder ------------------------------------------------------------------


def make_sample(cache_dir: Path, seconds: int) -> Path:
    path = cache_dir / f"vod-1080p30-{seconds}s-v1.mp4"
    if path.exists():
        return path
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.mp4")
    print(f"making the sample {path} (once)", file=sys.stderr)
    subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size=1920x1080:rate=30:duration={seconds}",
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency=440:sample_rate=48000:duration={seconds}",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-b:v",
            "8M",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            "192k",
            "-ac",
            "2",
            str(partial),
        ],
        check=True,
        timeout=SAMPLE_TIMEOUT_S,
    )
    partial.rename(path)
    return path


def ffmpeg_ladder_command(source: Path, output: Path) -> list[str]:
    """One ffmpeg command making trioflix's ladder with trioflix's x264 settings."""
    info = probe(source)
    fps = output_fps(info)
    gop = max(1, round(fps * GOP_SECONDS))
    rungs = plan_ladder(info)
    split = f"[0:v]split={len(rungs)}" + "".join(f"[s{i}]" for i in range(len(rungs)))
    scales = [f"[s{i}]scale={r.width}:{r.height}[v{i}]" for i, r in enumerate(rungs)]
    command = ["nice", "-n", "10", "ffmpeg", "-hide_banner", "-loglevel", "error", "-y"]
    command += ["-i", str(source), "-filter_complex", ";".join([split, *scales])]
    for i, rung in enumerate(rungs):
        directory = output / rung.name
        directory.mkdir(parents=True)
        command += ["-map", f"[v{i}]", "-map", "0:a", "-c:v", "libx264", "-pix_fmt", "yuv420p"]
        command += ["-r", str(fps), "-b:v", str(rung.bitrate)]
        for key, value in x264_options(rung, gop).items():
            flag = {"profile": "profile:v"}.get(key, key)
            command += [f"-{flag}", value]
        command += ["-c:a", "aac", "-b:a", str(AUDIO_BITRATE), "-ar", str(AUDIO_RATE), "-ac", "2"]
        command += ["-f", "hls", "-hls_time", str(SEGMENT_SECONDS), "-hls_playlist_type", "vod"]
        command += ["-hls_flags", "independent_segments"]
        command += ["-hls_segment_filename", str(directory / "seg_%05d.ts")]
        command += [str(directory / "index.m3u8")]
    return command


def ladder(source: Path, workdir: Path) -> dict[str, Any]:
    duration = probe(source).duration
    results: dict[str, Any] = {"duration_s": duration, "rungs": len(plan_ladder(probe(source)))}
    for name in ("trioflix", "ffmpeg"):
        output = workdir / f"ladder-{name}"
        output.mkdir()
        if name == "trioflix":
            command = [
                sys.executable,
                "-m",
                "trioflix.jobs.child",
                "trioflix.media.pipeline:process",
            ]
            stdin = json.dumps({"source": str(source), "output": str(output)}).encode()
        else:
            command, stdin = ffmpeg_ladder_command(source, output), b""
        print(f"VOD ladder: {name}", file=sys.stderr)
        started = time.perf_counter()
        proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
        assert proc.stdin is not None
        proc.stdin.write(stdin)
        proc.stdin.close()
        peak = wait4(proc, LADDER_TIMEOUT_S)
        elapsed = time.perf_counter() - started
        if peak is None or proc.returncode != 0:
            proc.kill()
            raise RuntimeError(f"{name} ladder failed or took too long")
        segments = sum(1 for _ in output.glob("*/seg_*.ts"))
        results[name] = {
            "seconds": elapsed,
            "speed": duration / elapsed,
            "peak_rss_mib": peak / 1024,
            "segments": segments,
        }
        shutil.rmtree(output)
    return results


# --- the run -------------------------------------------------------------------------


def _label(chunk: int | None) -> str:
    return "one PATCH" if chunk is None else f"{chunk // MIB} MiB chunks"


def run(
    plan: Plan,
    workdir: Path,
    cache_dir: Path,
    meta: dict[str, Any],
    *,
    with_ladder: bool = True,
    baseline: Path | None = None,
) -> dict[str, Any]:
    source = workdir / "upload.bin"
    print(f"writing {plan.size // MIB} MiB of random bytes", file=sys.stderr)
    make_random_file(source, plan.size)
    node_root = workdir / "tus-node"
    print(
        f"installing @tus/server@{TUS_SERVER_VERSION} @tus/file-store@{FILE_STORE_VERSION} "
        f"into {node_root}",
        file=sys.stderr,
    )
    install_tus_node(node_root)
    servers: dict[str, Callable[[], AbstractContextManager[Server]]] = {
        "trioflix": lambda: trioflix(workdir, plan.size),
        "@tus/server": lambda: tus_node(workdir, node_root),
    }
    if baseline is not None:
        servers[BASELINE] = lambda: trioflix(workdir, plan.size, source=baseline, name=BASELINE)
    uploads: list[dict[str, Any]] = []
    dd_runs: list[dict[str, Any]] = []
    order = list(servers)
    described: dict[str, str] = {}
    meta["load_start"] = load_average()
    for chunk in plan.chunks:
        for _ in range(plan.repeat):
            for name in order:
                with servers[name]() as server:
                    described[name] = server.describe
                    idle = status_kib(server.proc.pid, "VmRSS")
                    reset_peak_rss(server.proc.pid)  # the peak of this upload, not of start-up
                    print(f"upload: {_label(chunk)} -> {name}", file=sys.stderr)
                    seconds = upload(server, source, chunk)
                    peak = status_kib(server.proc.pid, "VmHWM")
                uploads.append(
                    {
                        "server": name,
                        "chunk": chunk,
                        "seconds": seconds,
                        "mib_s": plan.size / MIB / seconds,
                        "idle_rss_mib": idle / 1024,
                        "peak_rss_mib": peak / 1024,
                    }
                )
            order = order[1:] + order[:1]  # every server takes every place in turn
            print("dd", file=sys.stderr)
            seconds, peak = dd(source, workdir / "dd.out")
            dd_runs.append(
                {
                    "chunk": chunk,
                    "seconds": seconds,
                    "mib_s": plan.size / MIB / seconds,
                    "peak_rss_mib": peak / 1024,
                }
            )
    meta["load_end"] = load_average()
    source.unlink()
    meta["servers"] = described
    report: dict[str, Any] = {"meta": meta, "size": plan.size, "uploads": uploads, "dd": dd_runs}
    if with_ladder:
        report["ladder"] = ladder(make_sample(cache_dir, plan.sample_seconds), workdir)
    return report


def render(report: dict[str, Any]) -> str:
    """The markdown tables of ``docs/benchmarks.md`` for this run.

    "best" and "median" are over the repeats; "% of dd" is the best against dd's
    best; "same round" is the median over the rounds of each run against the dd
    copy made right after it, which the load of a shared machine skews least.
    """
    dd_best = max(report["dd"], key=lambda r: r["mib_s"])
    lines = [
        f"Upload of {report['size'] // MIB} MiB of random bytes "
        f"({report['meta']['plan']['repeat']} rounds); peak RSS is the server process's.",
        "",
        "| client → server | chunks | best MiB/s | median MiB/s | % of dd | same round "
        "| idle RSS MiB | peak RSS MiB |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for chunk in report["meta"]["plan"]["chunks"]:
        dd_rounds = [r["mib_s"] for r in report["dd"] if r["chunk"] == chunk]
        for name in ("trioflix", BASELINE, "@tus/server"):
            runs = [r for r in report["uploads"] if r["server"] == name and r["chunk"] == chunk]
            if not runs:
                continue
            best = max(runs, key=lambda r: r["mib_s"])
            speeds = [r["mib_s"] for r in runs]
            rounds = [speed / dd for speed, dd in zip(speeds, dd_rounds, strict=True)]
            lines.append(
                f"| {name} | {_label(chunk)} | {best['mib_s']:.0f} | "
                f"{statistics.median(speeds):.0f} | "
                f"{100 * best['mib_s'] / dd_best['mib_s']:.0f}% | "
                f"{100 * statistics.median(rounds):.0f}% | {best['idle_rss_mib']:.0f} | "
                f"{max(r['peak_rss_mib'] for r in runs):.0f} |"
            )
    dd_speeds = [r["mib_s"] for r in report["dd"]]
    lines.append(
        f"| `dd bs=8M conv=fsync` | 8 MiB blocks | {dd_best['mib_s']:.0f} | "
        f"{statistics.median(dd_speeds):.0f} | 100% | 100% | - | "
        f"{dd_best['peak_rss_mib']:.1f} |"
    )
    if "ladder" not in report:
        return "\n".join(lines)
    vod = report["ladder"]
    lines += [
        "",
        f"VOD ladder of a {vod['duration_s']:.0f} s 1080p30 H.264/AAC sample "
        f"({vod['rungs']} renditions, libx264 veryfast, nice +10):",
        "",
        "| encoder | wall s | x real time | peak RSS MiB | segments |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, what in (
        ("trioflix", "trioflix job (ladder + thumbnails + sprite)"),
        ("ffmpeg", "ffmpeg command line (ladder only)"),
    ):
        r = vod[name]
        lines.append(
            f"| {what} | {r['seconds']:.1f} | {r['speed']:.2f} | {r['peak_rss_mib']:.0f} | "
            f"{r['segments']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    doc = __doc__ or ""
    parser = argparse.ArgumentParser(prog="python -m bench.uploads", description=doc.split("\n")[0])
    add_run_options(parser, quick="a short smoke run (128 MiB)", sample_cache=True)
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="work folder parent (the disk measured; default /tmp)",
    )
    parser.add_argument(
        "--no-ladder", action="store_true", help="uploads only, without the VOD ladder"
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="also run the trioflix (and protocols) packages in this folder, for before/after",
    )
    args = parser.parse_args(argv)
    exit_on_sigterm()
    for tool in ("ffmpeg", "node", "npm", "dd", "nice"):
        if shutil.which(tool) is None:
            parser.error(f"{tool} is not on PATH")
    plan = QUICK if args.quick else FULL
    command = (
        "nox -s bench -- uploads"
        + (" --quick" if args.quick else "")
        + (" --no-ladder" if args.no_ladder else "")
    )
    meta = run_meta(command, plan)
    workdir = Path(tempfile.mkdtemp(prefix="trioflix-bench-uploads-", dir=args.dir))
    started = time.monotonic()
    try:
        report = run(
            plan,
            workdir,
            args.cache_dir,
            meta,
            with_ladder=not args.no_ladder,
            baseline=args.baseline,
        )
    finally:
        if args.keep:
            print(f"work folder kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    report["meta"]["duration_s"] = round(time.monotonic() - started)
    report["meta"]["bench_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    m = report["meta"]
    print(report_header(m, versions=m["machine"]["ffmpeg"], servers=m["servers"]))
    print()
    print(render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
