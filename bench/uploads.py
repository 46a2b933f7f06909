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
import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import httpx

from bench._machine import load_average, machine, node_version, report_header
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
    from collections.abc import Iterator

HOST = "127.0.0.1"
TUS_SERVER_VERSION = "2.4.5"  # @tus/server, exact: figures are only comparable per version
FILE_STORE_VERSION = "2.1.1"  # @tus/file-store
MIB = 1024 * 1024
STARTUP_TIMEOUT_S = 30.0  # trioflix runs migrations first; node starts in about 1 s
STOP_TIMEOUT_S = 15.0  # both stop within a second or two of SIGINT
NPM_TIMEOUT_S = 240.0
REQUEST_TIMEOUT_S = 300.0  # one PATCH of 1 GiB at >= 4 MiB/s; slower means something is wrong
DD_TIMEOUT_S = 300.0
LADDER_TIMEOUT_S = 900.0  # 20 s of 1080p through four x264 encoders on 2 cores: ~1-2 min
SAMPLE_TIMEOUT_S = 300.0
TUS_PATH = "/api/upload/video/tus"
BASELINE = "trioflix (baseline)"
PASSWORD = "bench password, not secret"


@dataclass(frozen=True)
class Plan:
    size: int  # bytes per upload
    chunks: tuple[int | None, ...]  # PATCH sizes; None: one single PATCH
    repeat: int  # each (server, chunk) measured this many times; the best is reported
    sample_seconds: int  # VOD sample duration


FULL = Plan(1024 * MIB, (8 * MIB, 64 * MIB, None), 3, 20)  # 3 rounds: the VM is shared
QUICK = Plan(128 * MIB, (8 * MIB, 64 * MIB, None), 1, 6)


# --- processes -----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for process {pid}")


def _wait4(proc: subprocess.Popen[bytes], timeout: float) -> int | None:
    """Reap ``proc``; its peak RSS in KiB, or None after ``timeout``.

    The peak is the last ``VmHWM`` read while it ran (sampled every 20 ms), not
    ``ru_maxrss``: that one also counts the forked Python's memory before exec.
    """
    deadline = time.monotonic() + timeout
    peak = 0
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, RuntimeError):
            peak = _status_kib(proc.pid, "VmHWM")
        pid, status, _ = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return peak
        time.sleep(0.02)
    return None


def _reset_peak_rss(pid: int) -> None:
    """Set ``VmHWM`` back to the current RSS (proc(5), clear_refs "5")."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


@dataclass
class Server:
    name: str
    describe: str
    proc: subprocess.Popen[bytes]
    port: int
    create_path: str
    headers: dict[str, str]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            if _wait4(self.proc, STOP_TIMEOUT_S) is None:
                self.proc.kill()
                self.proc.wait()


def _wait_up(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the server exited:\n{log.read_text()[-2000:]}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.options(url, headers={"Tus-Resumable": "1.0.0"}, timeout=1).status_code < 500:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url}: the server did not come up")
        time.sleep(0.1)


@contextlib.contextmanager
def trioflix(
    workdir: Path, size: int, *, baseline: Path | None = None, name: str = "trioflix"
) -> Iterator[Server]:
    """trioflix from this checkout, or from ``baseline`` (a folder holding an older
    ``trioflix`` and ``protocols``), to compare two versions in one run."""
    data = workdir / "trioflix-data"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIOFLIX_")}
    env.pop("DATABASE_URL", None)
    env.update(
        TRIOFLIX_DATA_DIR=str(data),
        TRIOFLIX_RTMP=f"{HOST}:0",
        TRIOFLIX_LOG_LEVEL="WARNING",
        TRIOFLIX_MAX_UPLOAD=str(max(size, 1024 * MIB)),
        JWT_SECRET="bench-" + "x" * 40,
    )
    cwd = None  # ``python -m`` finds this checkout's package first
    if baseline is not None:
        env["PYTHONPATH"] = str(baseline)
        cwd = workdir  # where no trioflix package shadows the baseline's
    log = workdir / "trioflix.log"
    with log.open("ab") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "trioflix", "serve", "--http", f"{HOST}:{port}"],
            env=env,
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    describe = _trioflix_version() + ("" if baseline is None else f", from {baseline}")
    server = Server(name, describe, proc, port, TUS_PATH, {})
    try:
        _wait_up(proc, f"http://{HOST}:{port}{TUS_PATH}", log)
        registered = httpx.post(
            f"http://{HOST}:{port}/api/auth/register",
            json={"username": "bench", "password": PASSWORD},
            timeout=30,
        )
        registered.raise_for_status()
        server.headers = {"Authorization": f"Bearer {registered.json()['token']}"}
        yield server
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)


def _trioflix_version() -> str:
    from trioflix import __version__

    return f"trioflix {__version__} (hypercorn, 1 process)"


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
    root.mkdir(exist_ok=True)
    (root / "package.json").write_text('{"private": true, "type": "module"}\n')
    (root / "server.mjs").write_text(_TUS_NODE_SERVER)
    subprocess.run(
        [
            "npm",
            "install",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            f"@tus/server@{TUS_SERVER_VERSION}",
            f"@tus/file-store@{FILE_STORE_VERSION}",
        ],
        cwd=root,
        stdout=subprocess.DEVNULL,
        check=True,
        timeout=NPM_TIMEOUT_S,
    )


@contextlib.contextmanager
def tus_node(workdir: Path, root: Path) -> Iterator[Server]:
    data = workdir / "tus-node-data"
    data.mkdir()
    port = _free_port()
    log = workdir / "tus-node.log"
    with log.open("ab") as stderr:
        proc = subprocess.Popen(
            ["node", str(root / "server.mjs"), str(port), str(data)],
            cwd=root,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    describe = (
        f"@tus/server {TUS_SERVER_VERSION} + @tus/file-store {FILE_STORE_VERSION}, "
        f"Node.js {node_version()}"
    )
    server = Server("@tus/server", describe, proc, port, "/files", {})
    try:
        _wait_up(proc, f"http://{HOST}:{port}/files", log)
        yield server
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)


# --- the client ----------------------------------------------------------------------


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str]]:
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        data = sock.recv(65536)
        if not data:
            raise RuntimeError(f"connection closed mid-response: {buffer!r}")
        buffer += data
    head, _, rest = buffer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        data = sock.recv(65536)
        if not data:
            break
        rest += data
    return int(status_line.split()[1]), headers


def _patch(server: Server, path: str, file: IO[bytes], offset: int, count: int) -> int:
    """One PATCH of ``count`` bytes of ``file`` from ``offset``, sent with ``sendfile``."""
    request = (
        f"PATCH {path} HTTP/1.1\r\nHost: {HOST}:{server.port}\r\nTus-Resumable: 1.0.0\r\n"
        "Content-Type: application/offset+octet-stream\r\n"
        f"Upload-Offset: {offset}\r\nContent-Length: {count}\r\nConnection: close\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in server.headers.items())
        + "\r\n"
    )
    with socket.create_connection((HOST, server.port), timeout=REQUEST_TIMEOUT_S) as sock:
        sock.sendall(request.encode())
        sent = sock.sendfile(file, offset, count)
        if sent != count:
            raise RuntimeError(f"sendfile sent {sent} of {count} bytes")
        status, headers = _read_response(sock)
    if status != 204:
        raise RuntimeError(f"{server.name}: PATCH answered {status}")
    return int(headers["upload-offset"])


def upload(server: Server, source: Path, chunk: int | None) -> float:
    """Seconds from the creation POST to the last PATCH's answer."""
    size = source.stat().st_size
    started = time.perf_counter()
    created = httpx.post(
        f"http://{HOST}:{server.port}{server.create_path}",
        headers={**server.headers, "Tus-Resumable": "1.0.0", "Upload-Length": str(size)},
        timeout=30,
    )
    if created.status_code != 201:
        raise RuntimeError(f"{server.name}: creation answered {created.status_code}")
    path = httpx.URL(created.headers["Location"]).path
    offset = 0
    with source.open("rb") as file:
        while offset < size:
            offset = _patch(server, path, file, offset, min(chunk or size, size - offset))
    return time.perf_counter() - started


def dd(source: Path, target: Path) -> tuple[float, int]:
    """Seconds and peak RSS (KiB) of ``dd bs=8M conv=fsync``."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        ["dd", f"if={source}", f"of={target}", "bs=8M", "conv=fsync", "status=none"]
    )
    peak = _wait4(proc, DD_TIMEOUT_S)
    elapsed = time.perf_counter() - started
    target.unlink()
    if peak is None or proc.returncode != 0:
        proc.kill()
        raise RuntimeError("dd failed or took too long")
    return elapsed, peak


def make_random_file(path: Path, size: int) -> None:
    block = 64 * MIB
    with path.open("wb") as out:
        for at in range(0, size, block):
            out.write(os.urandom(min(block, size - at)))
        out.flush()
        os.fsync(out.fileno())


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
        peak = _wait4(proc, LADDER_TIMEOUT_S)
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
    servers = {
        "trioflix": lambda: trioflix(workdir, plan.size),
        "@tus/server": lambda: tus_node(workdir, node_root),
    }
    if baseline is not None:
        servers[BASELINE] = lambda: trioflix(workdir, plan.size, baseline=baseline, name=BASELINE)
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
                    idle = _status_kib(server.proc.pid, "VmRSS")
                    _reset_peak_rss(server.proc.pid)  # the peak of this upload, not of start-up
                    print(f"upload: {_label(chunk)} -> {name}", file=sys.stderr)
                    seconds = upload(server, source, chunk)
                    peak = _status_kib(server.proc.pid, "VmHWM")
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
    parser.add_argument("--quick", action="store_true", help="a short smoke run (128 MiB)")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path.home() / ".cache" / "trioflix-bench",
        help="where the ffmpeg-made VOD sample is kept between runs",
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="work folder parent (the disk measured; default /tmp)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    parser.add_argument(
        "--no-ladder", action="store_true", help="uploads only, without the VOD ladder"
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="also run the trioflix (and protocols) packages in this folder, for before/after",
    )
    args = parser.parse_args(argv)
    for tool in ("ffmpeg", "node", "npm", "dd", "nice"):
        if shutil.which(tool) is None:
            parser.error(f"{tool} is not on PATH")
    plan = QUICK if args.quick else FULL
    meta: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "nox -s bench -- uploads"
        + (" --quick" if args.quick else "")
        + (" --no-ladder" if args.no_ladder else ""),
        "plan": asdict(plan),
        "machine": machine(),
    }
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
