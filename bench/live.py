"""Live benchmark: trioflix against node-media-server 4, the same workload in the same run.

    nox -s bench -- live            # full run, about 20 minutes
    nox -s bench -- live --quick    # smoke run, about 2 minutes
    python -m bench.live --help     # from the repository root, in .venv

Workloads, each run against one server at a time, the two servers alternating
level by level so that the noise of a shared machine falls on both:

- ingest: N concurrent ffmpeg ``-re -c copy`` publishers of a 3 Mbit/s H.264/AAC FLV
  sample (made once by ffmpeg and cached): server CPU seconds per stream-second,
  peak RSS, publishers dropped;
- paired ingest: the same with the servers running at once, each with its own N
  publishers, their CPU read over the same window, for a few rounds: trioflix,
  trioflix with its read clock off (``--rtmp-read-interval-ms 0``), nms, and
  nginx-rtmp (Debian's ``nginx`` + ``libnginx-mod-rtmp``, ``live on``:
  :class:`NginxLive`). On a shared machine one server's run can see twice the load
  of the other's; paired, all see the same, and the ratios hold to a few percent
  where the figures of separate runs swing by a third;
- fan-out: one publisher, N viewers (``bench/_flv_viewers.py``, light viewers, about
  :data:`LIGHT_VIEWERS_PER_PROCESS` per process): delivered bitrate per viewer, server
  CPU, peak RSS; HTTP-FLV viewers of trioflix and nms, and RTMP players of nginx-rtmp
  (it has no HTTP-FLV);
- latency: with a second channel live (ffmpeg), a paced in-process RTMP publisher
  (``bench/_rtmp_publisher.py``) and two HTTP-FLV viewers in the same process: for
  each tag sent after the viewer connected, the time from the publisher's socket
  write to the viewer's receipt; and the time from a viewer's TCP connect to its
  first complete keyframe. For trioflix with its read clock off too: the clock's
  price in delay; and for nginx-rtmp, whose viewers play over RTMP (it has no
  HTTP-FLV), so its figure includes RTMP's chunking where the others' do not.

Every server is started fresh for each measurement, so peak RSS (``VmHWM``) is that
workload's. CPU is ``utime + stime`` from ``/proc/PID/stat``, summed over the server's
process tree, over a window that excludes start-up and ramp-up. Everything talks to
127.0.0.1 only, and every loop is bounded in time.

node-media-server is installed with npm into a temporary folder at run time, at the
exact version :data:`NMS_VERSION`; nothing of it is kept. nginx-rtmp is the system's
(``apt-get install nginx libnginx-mod-rtmp``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import trio

from bench._flv_viewers import ViewerResult, watch, watch_rtmp
from bench._machine import (
    add_run_options,
    load_average,
    node_version,
    report_header,
    run_in_workdir,
    run_meta,
)
from bench._proc import free_port
from bench._rtmp_publisher import publish_paced, read_media_tags

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    from protocols import flv

HOST = "127.0.0.1"
NMS_VERSION = "4.4.3"  # node-media-server, exact: figures are only comparable per version
# The full run takes ~20 min (fan-out to 1000 viewers, three servers); past this something
# is stuck.
RUN_BUDGET_S = 30 * 60
STARTUP_TIMEOUT_S = 30.0  # trioflix runs migrations and binds two ports; node starts in ~1 s
STOP_TIMEOUT_S = 10.0  # both shut down gracefully within a second or two
NPM_TIMEOUT_S = 240.0
SAMPLE_TIMEOUT_S = 180.0  # ~10 s of x264 on 2 cores; generous for a loaded machine

# The sample: what OBS sends at "720p30, 3 Mbit/s CBR, keyframe every 2 s".
SAMPLE_SECONDS = 40  # longer than any phase's publisher
SAMPLE_VIDEO_KBPS = 2850
SAMPLE_AUDIO_KBPS = 128
SAMPLE_NAME = f"live-720p30-{SAMPLE_VIDEO_KBPS + SAMPLE_AUDIO_KBPS}k-{SAMPLE_SECONDS}s-v1.flv"

PUBLISHER_STAGGER_S = 0.1  # 25 ffmpeg starts at once would be a CPU spike of their own
WARMUP_S = 3.0  # after the last publisher/viewer started: GOP bursts and handshakes are over
PROBE_TIMEOUT_S = 3.0  # a live stream's GOP cache hands out a keyframe at once
LIVE_WAIT_S = 10.0  # publisher start to the stream being watchable
VIEWERS_PER_PROCESS = 100  # ~20% of a core per 100 viewers at 3 Mbit/s
# Light viewers (bench/_flv_viewers.py) cost a few hundredths of a core per hundred once
# they have their first keyframe; before, each parses its start-up GOP in full.
LIGHT_VIEWERS_PER_PROCESS = 250
CONNECTS_PER_S = 100  # viewers connect spread over count / this, at least Plan.ramp_s
VIEWER_PROCESS_START_S = 2.5  # Python + trio + h11 import before the first connect
FULL_RATE = 0.95  # a viewer at >= 95% of the source bitrate is getting the stream
PASSWORD = "bench password, not secret"
POLL_INTERVAL_S = 0.1
POLLS = 300  # readiness polls: with the timeouts around them, never an endless loop
REPOSITORY = Path(__file__).resolve().parent.parent
UNPACED = "trioflix-0ms"  # trioflix with its read clock off, in paired ingest and latency
NGINX_RTMP = "nginx-rtmp"
NGINX = "nginx"
NGINX_RTMP_MODULE = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")  # libnginx-mod-rtmp


@dataclass(frozen=True)
class Plan:
    ingest_levels: tuple[int, ...]
    ingest_s: float  # each publisher's ffmpeg -t
    fanout_levels: tuple[int, ...]
    fanout_window_s: float
    ramp_s: float  # viewers connect spread over this
    latency_s: float
    keyframe_probes: int
    paired_levels: tuple[int, ...]  # publishers per server in the paired ingest
    paired_rounds: int


FULL = Plan((1, 10, 25), 24.0, (10, 50, 100, 200, 500, 1000), 10.0, 2.0, 20.0, 10, (1, 10, 25), 3)
QUICK = Plan((1, 5), 10.0, (10, 50), 4.0, 1.0, 5.0, 3, (5,), 1)


# --- /proc -------------------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    # comm may contain spaces and parentheses: the fields start after the last ")".
    return text[text.rindex(")") + 2 :].split()


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants alive now."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int(_stat_fields(int(entry.name))[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def cpu_seconds(pid: int) -> float:
    """User + system CPU of the process tree (utime, stime: fields 14 and 15 of stat)."""
    total = 0
    for member in process_tree(pid):
        try:
            fields = _stat_fields(member)
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def system_seconds(pid: int) -> float:
    """The system (kernel) part of :func:`cpu_seconds`: stime, field 15 of stat."""
    total = 0
    for member in process_tree(pid):
        try:
            total += int(_stat_fields(member)[12])
        except OSError:
            continue
    return total / CLOCK_TICKS


def peak_rss_mib(pid: int) -> float:
    """Sum of ``VmHWM`` (peak resident set) over the process tree."""
    total_kib = 0
    for member in process_tree(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                total_kib += int(line.split()[1])
    return total_kib / 1024


async def sleep_until(deadline: float) -> None:
    await trio.sleep(max(0.0, deadline - time.monotonic()))


async def port_open(port: int) -> bool:
    try:
        stream = await trio.open_tcp_stream(HOST, port)
    except OSError:
        return False
    await stream.aclose()
    return True


# --- servers -----------------------------------------------------------------------------


class Server:
    """One server under test: how to start it, where to publish and to watch."""

    name = ""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.http_port = free_port()
        self.rtmp_port = free_port()

    def command(self) -> list[str]:
        raise NotImplementedError

    async def wait_ready(self) -> None:
        for _ in range(POLLS):
            if await port_open(self.http_port) and await port_open(self.rtmp_port):
                return
            await trio.sleep(POLL_INTERVAL_S)
        raise TimeoutError(f"{self.name} does not accept connections")

    def stream_key(self, index: int) -> str:
        """The publishing name after ``rtmp://HOST:PORT/live/``."""
        raise NotImplementedError

    def play_path(self, index: int) -> str:
        raise NotImplementedError

    def publish_url(self, index: int) -> str:
        return f"rtmp://{HOST}:{self.rtmp_port}/live/{self.stream_key(index)}"

    async def watch(self, index: int, result: ViewerResult, **options: Any) -> None:
        """Watch channel ``index`` over HTTP-FLV (``options``: those of :func:`watch`)."""
        await watch(HOST, self.http_port, self.play_path(index), result, **options)

    def viewer_options(self, index: int) -> list[str]:
        """How a ``bench._flv_viewers`` process watches channel ``index``."""
        return ["--port", str(self.http_port), "--path", self.play_path(index)]

    def describe(self) -> str:
        raise NotImplementedError


class Trioflix(Server):
    """``trioflix serve`` with live HLS off: RTMP in, FLV out.

    ``read_interval_ms`` None runs the server's default read clock; a number sets
    ``--rtmp-read-interval-ms`` (0: each publisher read as soon as its bytes arrive).
    """

    def __init__(self, workdir: Path, read_interval_ms: int | None = None) -> None:
        super().__init__(workdir)
        self.read_interval_ms = read_interval_ms
        self.name = "trioflix" if read_interval_ms is None else f"trioflix-{read_interval_ms}ms"
        self.data_dir = workdir / f"{self.name}-data"
        self.keys: list[str] = []

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "trioflix",
            "serve",
            "--http",
            f"{HOST}:{self.http_port}",
            "--rtmp",
            f"{HOST}:{self.rtmp_port}",
            "--data-dir",
            str(self.data_dir),
            # node-media-server 4 has no HLS: compare the same work (RTMP in, FLV out).
            "--hls",
            "off",
            "--log-level",
            "WARNING",
            "--jwt-secret",
            "bench-only-secret-0123456789abcdefghijklmnop",
        ] + (
            []
            if self.read_interval_ms is None
            else ["--rtmp-read-interval-ms", str(self.read_interval_ms)]
        )

    async def wait_ready(self) -> None:
        async with httpx.AsyncClient(base_url=f"http://{HOST}:{self.http_port}") as client:
            for _ in range(POLLS):
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await trio.sleep(POLL_INTERVAL_S)
        await super().wait_ready()

    async def create_channels(self, count: int) -> None:
        """Register ``bench00``... and give each a stream key (the server is running)."""
        async with httpx.AsyncClient(base_url=f"http://{HOST}:{self.http_port}") as client:
            for index in range(len(self.keys), count):
                answer = await client.post(
                    "/api/auth/register",
                    json={"username": self.channel(index), "password": PASSWORD},
                )
                answer.raise_for_status()
                token = answer.json()["token"]
                answer = await client.post(
                    "/api/streaming/keys",
                    headers={"Authorization": f"Bearer {token}"},
                    json={"name": "bench", "record": False},
                )
                answer.raise_for_status()
                self.keys.append(answer.json()["key"]["key"])

    @staticmethod
    def channel(index: int) -> str:
        return f"bench{index:02d}"

    def stream_key(self, index: int) -> str:
        return self.keys[index]

    def play_path(self, index: int) -> str:
        return f"/live/{self.channel(index)}.flv"

    def describe(self) -> str:
        reads = (
            "the default read clock"
            if self.read_interval_ms is None
            else f"`--rtmp-read-interval-ms {self.read_interval_ms}`"
        )
        return (
            f"trioflix (this tree), `trioflix serve --hls off` with {reads} (node-media-server"
            " 4 has no HLS, so both do RTMP in, FLV out), SQLite; stream keys with"
            " `record: false`. Still on: ingest statistics, the status API"
        )


class NodeMediaServer(Server):
    """node-media-server, installed with npm into the work folder, admin console off."""

    name = "nms"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.root = workdir / "nms"

    async def install(self) -> None:
        self.root.mkdir(exist_ok=True)
        with trio.fail_after(NPM_TIMEOUT_S):
            await trio.run_process(
                [
                    "npm",
                    "install",
                    "--no-save",
                    "--no-audit",
                    "--no-fund",
                    "--loglevel=error",
                    f"node-media-server@{NMS_VERSION}",
                ],
                cwd=self.root,
                stdout=subprocess.DEVNULL,
            )

    def command(self) -> list[str]:
        config = {
            "bind": HOST,
            "notify": {"url": ""},
            "store": {"path": str(self.root / "data"), "maxHistory": 100},
            "auth": {
                "play": False,
                "publish": False,
                "secret": "bench-only",
                "jwt": {
                    "secret": "bench-only-secret-0123456789abcdefghijklmnop",
                    "expiresIn": "1h",
                    "refreshExpiresIn": "1h",
                    "algorithm": "HS256",
                    "users": [],
                },
            },
            "rtmp": {"port": self.rtmp_port},
            "http": {"port": self.http_port},
            "webadmin": {"enable": False},
            "record": {"auto": False, "path": str(self.root / "record")},
        }
        path = self.root / "config.json"
        path.write_text(json.dumps(config, indent=2))
        app = self.root / "node_modules" / "node-media-server" / "bin" / "app.js"
        return ["node", str(app), "-c", str(path)]

    def stream_key(self, index: int) -> str:
        return f"bench{index:02d}"

    def play_path(self, index: int) -> str:
        return f"/live/{self.stream_key(index)}.flv"

    def describe(self) -> str:
        return (
            f"node-media-server {NMS_VERSION} (npm), Node {node_version()}, default"
            " config with the web admin off, recording off, no auth"
        )


class NginxLive(Server):
    """nginx with Debian's libnginx-mod-rtmp, ``live on``, RTMP in and out only (no HLS,
    no HTTP: the module has no HTTP-FLV, so its viewers play over RTMP); with
    ``pull_from``, an edge that pulls every stream it is asked for from that origin's
    RTMP port. Its own prefix, config and logs; loopback ports only."""

    def __init__(self, workdir: Path, name: str = NGINX_RTMP, pull_from: int | None = None) -> None:
        super().__init__(workdir)
        self.name = name
        self.root = workdir / name
        self.root.mkdir()
        pull = f"      pull rtmp://{HOST}:{pull_from}/live;\n" if pull_from else ""
        self.config = self.root / "nginx.conf"
        self.config.write_text(
            f"load_module {NGINX_RTMP_MODULE};\n"
            # One worker: nginx-rtmp's live streams are per worker process.
            "daemon off;\nworker_processes 1;\n"
            f"pid {self.root / 'nginx.pid'};\nerror_log {self.root / 'error.log'} warn;\n"
            # The fan-out's 1000 players, its publisher and probes.
            "events { worker_connections 4096; }\n"
            "rtmp {\n  server {\n"
            f"    listen {HOST}:{self.rtmp_port};\n"
            f"    application live {{\n      live on;\n      record off;\n{pull}    }}\n"
            "  }\n}\n"
        )

    def command(self) -> list[str]:
        return [NGINX, "-p", str(self.root), "-c", str(self.config), "-e", "stderr"]

    async def wait_ready(self) -> None:
        for _ in range(POLLS):
            if await port_open(self.rtmp_port):
                return
            await trio.sleep(POLL_INTERVAL_S)
        raise TimeoutError(f"{self.name} does not accept connections")

    def stream_key(self, index: int) -> str:
        return f"bench{index:02d}"

    async def watch(self, index: int, result: ViewerResult, **options: Any) -> None:
        """Play channel ``index`` over RTMP (``options``: those of :func:`watch_rtmp`)."""
        await watch_rtmp(HOST, self.rtmp_port, self.stream_key(index), result, **options)

    def viewer_options(self, index: int) -> list[str]:
        return ["--rtmp", "--port", str(self.rtmp_port), "--path", self.stream_key(index)]

    def describe(self) -> str:
        return (
            f"{nginx_version()} + libnginx-mod-rtmp {nginx_rtmp_version()}, one worker,"
            " `live on`, no HLS, no recording"
        )


def nginx_version() -> str:
    out = subprocess.run([NGINX, "-v"], capture_output=True, text=True, check=True).stderr
    return out.strip().removeprefix("nginx version: ")


def nginx_rtmp_version() -> str:
    out = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Version}", "libnginx-mod-rtmp"],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() or "unknown"


@dataclass
class Running:
    pid: int
    log: Path

    def errors_logged(self) -> int:
        """Lines at level ERROR (trioflix JSON lines, node-media-server's ``[ERROR]``,
        nginx's ``[error]``)."""
        text = self.log.read_text(errors="replace")
        return sum(
            '"level": "ERROR"' in line or "[ERROR]" in line or "[error]" in line
            for line in text.splitlines()
        )


@asynccontextmanager
async def running_process(command: list[str], log_path: Path, cwd: Path) -> AsyncIterator[int]:
    """Run ``command`` with its output in ``log_path``; yield its pid.

    Resource handling:
        On exit (and on cancellation, e.g. Ctrl-C) the process gets SIGTERM, then
        SIGKILL if it has not exited within :data:`STOP_TIMEOUT_S`.
    """
    with log_path.open("ab") as log:
        process = await trio.lowlevel.open_process(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=cwd
        )
        try:
            yield process.pid
        finally:
            with trio.move_on_after(STOP_TIMEOUT_S, shield=True):
                if process.returncode is None:
                    process.send_signal(signal.SIGTERM)
                await process.wait()
            if process.returncode is None:
                process.kill()
                with trio.move_on_after(STOP_TIMEOUT_S, shield=True):
                    await process.wait()


@asynccontextmanager
async def serving(server: Server, label: str) -> AsyncIterator[Running]:
    """Run ``server`` fresh, logging to its own file; yield once it accepts on both ports."""
    path = server.workdir / f"{server.name}-{label}.log"
    async with running_process(server.command(), path, server.workdir) as pid:
        with trio.fail_after(STARTUP_TIMEOUT_S):
            await server.wait_ready()
        yield Running(pid, path)


# --- clients -----------------------------------------------------------------------------


@dataclass
class PublisherRun:
    returncode: int | None = None
    seconds: float = 0.0
    live: bool = False

    def dropped(self, expected_s: float) -> bool:
        return self.returncode != 0 or self.seconds < expected_s - 1.0 or not self.live


async def run_ffmpeg(sample: Path, url: str, seconds: float, log: Path, run: PublisherRun) -> None:
    started = time.monotonic()
    with log.open("ab") as errors:
        completed = await trio.run_process(
            [
                "ffmpeg",
                "-hide_banner",
                "-nostdin",
                "-loglevel",
                "error",
                "-re",
                "-i",
                str(sample),
                "-c",
                "copy",
                "-t",
                f"{seconds:g}",
                "-f",
                "flv",
                url,
            ],
            check=False,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
    run.returncode = completed.returncode
    run.seconds = time.monotonic() - started


async def probe(server: Server, index: int) -> ViewerResult:
    """Watch until the first keyframe (or :data:`PROBE_TIMEOUT_S`)."""
    result = ViewerResult()
    with trio.move_on_after(PROBE_TIMEOUT_S):
        await server.watch(index, result, until_keyframe=True)
    return result


async def wait_live(server: Server, index: int) -> None:
    with trio.fail_after(LIVE_WAIT_S):
        for _ in range(POLLS):
            if (await probe(server, index)).first_keyframe_s is not None:
                return
            await trio.sleep(POLL_INTERVAL_S)
    raise TimeoutError(f"{server.play_path(index)} on {server.name} did not go live")


# --- workloads ---------------------------------------------------------------------------


async def ingest(
    servers: Sequence[Server], sample: Path, count: int, plan: Plan
) -> list[dict[str, Any]]:
    """``count`` publishers to each of ``servers``, all running at once: the figures
    of each, their CPU read over the same window."""
    runs = {server.name: [PublisherRun() for _ in range(count)] for server in servers}
    async with AsyncExitStack() as stack:
        running = [
            await stack.enter_async_context(serving(server, f"ingest-{count}"))
            for server in servers
        ]
        async with trio.open_nursery() as nursery:
            started = time.monotonic()
            for index in range(count):
                for server in servers:
                    log = server.workdir / f"ffmpeg-{server.name}-{count}-{index}.log"
                    nursery.start_soon(
                        run_ffmpeg,
                        sample,
                        server.publish_url(index),
                        plan.ingest_s,
                        log,
                        runs[server.name][index],
                    )
                await trio.sleep(PUBLISHER_STAGGER_S)
            await sleep_until(time.monotonic() + WARMUP_S)
            cpu0, t0 = [cpu_seconds(r.pid) for r in running], time.monotonic()
            # Leave time to check every stream while all publishers are still sending.
            await sleep_until(started + plan.ingest_s - PROBE_TIMEOUT_S - 1.0)
            cpu1, t1 = [cpu_seconds(r.pid) for r in running], time.monotonic()

            async def check(server: Server, index: int) -> None:
                live = (await probe(server, index)).first_keyframe_s is not None
                runs[server.name][index].live = live

            async with trio.open_nursery() as probes:
                for server in servers:
                    for index in range(count):
                        probes.start_soon(check, server, index)
            rss = [peak_rss_mib(r.pid) for r in running]
            # Publishers end by themselves after -t; this only bounds a stuck one.
            nursery.cancel_scope.deadline = trio.current_time() + plan.ingest_s + STOP_TIMEOUT_S
    return [
        {
            "publishers": count,
            "window_s": t1 - t0,
            "cpu_s": cpu1[i] - cpu0[i],
            "cpu_per_stream_s": (cpu1[i] - cpu0[i]) / (count * (t1 - t0)),
            "peak_rss_mib": rss[i],
            "dropped": sum(run.dropped(plan.ingest_s) for run in runs[server.name]),
            "errors_logged": running[i].errors_logged(),
            "runs": [asdict(run) for run in runs[server.name]],
        }
        for i, server in enumerate(servers)
    ]


async def paired_ingest(
    servers: Sequence[Server], peers: Sequence[Server], sample: Path, count: int, plan: Plan
) -> dict[str, Any]:
    """:data:`Plan.paired_rounds` paired ingest runs of ``servers`` and ``peers`` all at
    once: per round, each server's CPU per stream-second over the same window, and the
    ratio of each of ``servers`` to each of ``peers`` (``ratio[peer][server]``)."""
    everyone = (*servers, *peers)
    rounds = []
    for number in range(plan.paired_rounds):
        print(f"paired ingest: {count} publishers each, round {number + 1}", file=sys.stderr)
        figures = await ingest(everyone, sample, count, plan)
        cpu = {
            server.name: result["cpu_per_stream_s"]
            for server, result in zip(everyone, figures, strict=True)
        }
        rounds.append(
            {
                "cpu_per_stream_s": cpu,
                # None: the peer used less than a clock tick (nginx-rtmp in a --quick run).
                "ratio": {
                    peer.name: {
                        server.name: cpu[server.name] / cpu[peer.name] if cpu[peer.name] else None
                        for server in servers
                    }
                    for peer in peers
                },
                "dropped": sum(result["dropped"] for result in figures),
                "errors_logged": sum(result["errors_logged"] for result in figures),
                "load": load_average(),
            }
        )
    return {
        "publishers": count,
        "servers": [server.name for server in everyone],
        "rounds": rounds,
        "median_ratio": {
            peer.name: {server.name: _median_ratio(rounds, peer, server) for server in servers}
            for peer in peers
        },
    }


def _median_ratio(rounds: list[dict[str, Any]], peer: Server, server: Server) -> float | None:
    ratios = [r["ratio"][peer.name][server.name] for r in rounds]
    known = [ratio for ratio in ratios if ratio is not None]
    return statistics.median(known) if known else None


async def run_viewer_process(
    server: Server,
    count: int,
    start_at: float,
    ramp_s: float,
    window: tuple[float, float],
    stop_at: float,
    out: list[dict[str, Any]],
) -> None:
    completed = await trio.run_process(
        [
            sys.executable,
            "-m",
            "bench._flv_viewers",
            *server.viewer_options(0),
            "--light",
            "--count",
            str(count),
            "--start-at",
            repr(start_at),
            "--ramp-s",
            repr(ramp_s),
            "--window",
            repr(window[0]),
            repr(window[1]),
            "--stop-at",
            repr(stop_at),
        ],
        capture_stdout=True,
        cwd=REPOSITORY,
    )
    out.append(json.loads(completed.stdout))


async def fanout(
    server: Server, sample: Path, count: int, plan: Plan, source_bps: float
) -> dict[str, Any]:
    outputs: list[dict[str, Any]] = []
    publisher = PublisherRun()
    async with serving(server, f"fanout-{count}") as running, trio.open_nursery() as nursery:
        pid = running.pid
        log = server.workdir / f"ffmpeg-{server.name}-fanout-{count}.log"
        nursery.start_soon(
            run_ffmpeg, sample, server.publish_url(0), SAMPLE_SECONDS, log, publisher
        )
        await wait_live(server, 0)
        processes = math.ceil(count / LIGHT_VIEWERS_PER_PROCESS)
        ramp_s = max(plan.ramp_s, count / CONNECTS_PER_S)
        start_at = time.monotonic() + VIEWER_PROCESS_START_S
        window_start = start_at + ramp_s + WARMUP_S
        window = (window_start, window_start + plan.fanout_window_s)
        stop_at = window[1] + 0.3
        async with trio.open_nursery() as viewers:
            for part in range(processes):
                share = count // processes + (part < count % processes)
                viewers.start_soon(
                    partial(
                        run_viewer_process,
                        server,
                        share,
                        start_at,
                        ramp_s,
                        window,
                        stop_at,
                        outputs,
                    )
                )
            await sleep_until(window[0])
            cpu0, t0 = cpu_seconds(pid), time.monotonic()
            await sleep_until(window[1])
            cpu1, t1 = cpu_seconds(pid), time.monotonic()
            rss = peak_rss_mib(pid)
        nursery.cancel_scope.cancel()
    results = [ViewerResult(**v) for out in outputs for v in out["viewers"]]
    window_s = window[1] - window[0]
    rates = [r.window_bytes * 8 / window_s for r in results]
    cores = (cpu1 - cpu0) / (t1 - t0)
    return {
        "viewers": count,
        "window_s": t1 - t0,
        "cpu_s": cpu1 - cpu0,
        "cpu_cores": cores,
        "viewers_per_core": count / cores if cores else None,
        "peak_rss_mib": rss,
        "bitrate_min_bps": min(rates),
        "bitrate_median_bps": statistics.median(rates),
        "full_rate": sum(rate >= FULL_RATE * source_bps for rate in rates),
        "errors": sum(r.error is not None or r.ended_early for r in results),
        "viewer_errors": Counter(
            r.error or "ended early" for r in results if r.error is not None or r.ended_early
        ).most_common(5),
        "no_keyframe": sum(r.first_keyframe_s is None for r in results),
        "viewer_cpu_s": sum(out["cpu_s"] for out in outputs),
        "errors_logged": running.errors_logged(),
        "load": load_average(),
    }


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def latency(
    server: Server, sample: Path, tags: list[flv.FLVTag], plan: Plan
) -> dict[str, Any]:
    sent_at: dict[tuple[int, int], float] = {}
    arrivals: list[tuple[float, int, int, float]] = []  # viewer start, type, ts, arrival
    keyframes: list[float | None] = []
    async with serving(server, "latency") as running, trio.open_nursery() as nursery:
        # A second channel live alongside, as on any busy server (for trioflix it is what
        # makes the read clock pace: it runs with two publishers or more).
        nursery.start_soon(
            run_ffmpeg,
            sample,
            server.publish_url(1),
            SAMPLE_SECONDS,  # longer than the phase, which ends it
            server.workdir / "ffmpeg-latency-background.log",
            PublisherRun(),
        )
        await nursery.start(
            partial(
                publish_paced, HOST, server.rtmp_port, server.stream_key(0), tags, sent_at=sent_at
            )
        )
        await wait_live(server, 0)
        await wait_live(server, 1)
        await trio.sleep(1.0)
        with trio.move_on_after(plan.latency_s):
            async with trio.open_nursery() as viewers:
                for _ in range(2):
                    result = ViewerResult()

                    def note(tag: flv.FLVTag, now: float, result: ViewerResult = result) -> None:
                        arrivals.append((result.started_at, tag.tag_type, tag.timestamp_ms, now))

                    viewers.start_soon(partial(server.watch, 0, result, on_tag=note))
        for _ in range(plan.keyframe_probes):
            keyframes.append((await probe(server, 0)).first_keyframe_s)
            await trio.sleep(0.25)
        nursery.cancel_scope.cancel()
    delays, unmatched = [], 0
    for viewer_start, tag_type, timestamp, arrival in arrivals:
        sent = sent_at.get((tag_type, timestamp))
        if sent is None:
            unmatched += 1
        elif sent >= viewer_start:  # sent live, not replayed from the GOP cache
            delays.append((arrival - sent) * 1000)
    found = [k * 1000 for k in keyframes if k is not None]
    return {
        "errors_logged": running.errors_logged(),
        "tags": len(delays),
        "unmatched_tags": unmatched,
        "delay_ms": {
            "p50": percentile(delays, 0.5),
            "p95": percentile(delays, 0.95),
            "p99": percentile(delays, 0.99),
            "max": max(delays),
        },
        "first_keyframe_ms": {
            "median": statistics.median(found) if found else None,
            "max": max(found) if found else None,
            "missing": len(keyframes) - len(found),
        },
    }


# --- setup -------------------------------------------------------------------------------


async def make_sample(cache_dir: Path) -> Path:
    """The 3 Mbit/s H.264/AAC FLV sample, made by ffmpeg once and cached."""
    path = cache_dir / SAMPLE_NAME
    if path.exists():
        return path
    await trio.Path(cache_dir).mkdir(parents=True, exist_ok=True)
    partial_path = path.with_suffix(".partial.flv")
    kbps = SAMPLE_VIDEO_KBPS
    print(f"making the sample {path} (once)", file=sys.stderr)
    with trio.fail_after(SAMPLE_TIMEOUT_S):
        await trio.run_process(
            [
                "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
                # Noise keeps x264 busy enough that CBR is real bits, not filler.
                "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30,noise=alls=12:allf=t",
                "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
                "-t", str(SAMPLE_SECONDS),
                "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency",
                "-profile:v", "high", "-pix_fmt", "yuv420p",
                "-b:v", f"{kbps}k", "-maxrate", f"{kbps}k", "-bufsize", f"{kbps}k",
                "-x264-params", "nal-hrd=cbr:keyint=60:min-keyint=60:scenecut=0",
                "-c:a", "aac", "-b:a", f"{SAMPLE_AUDIO_KBPS}k", "-ac", "2",
                "-f", "flv", str(partial_path),
            ]
        )  # fmt: skip
    partial_path.replace(path)
    return path


# --- report ------------------------------------------------------------------------------


def _ratio(ours: float | None, theirs: float | None) -> str:
    if ours is None or theirs is None or theirs == 0:
        return "n/a"
    return f"{ours / theirs:.2f}"


def _figure(ratio: float | None) -> str:
    return "n/a" if ratio is None else f"{ratio:.2f}"


def _mbps(bps: float) -> str:
    return f"{bps / 1e6:.2f}"


FANOUT_SERVERS = ("trioflix", "nms", NGINX_RTMP)


def render_fanout(report: dict[str, Any], names: Sequence[str] = FANOUT_SERVERS) -> list[str]:
    """The fan-out table: a row per audience and server (``names``, the last the one
    CPU is compared to)."""
    lines = [
        f"Fan-out (one publisher; HTTP-FLV viewers, RTMP players for {names[-1]}; source"
        f" {_mbps(report['source_bps'])} Mbit/s; full rate = at least {FULL_RATE:.0%} of it;"
        " viewers per core = viewers / server CPU in cores):",
        "",
        "| viewers | server | Mbit/s per viewer min / median | at full rate | server CPU"
        f" (cores) | viewers per core | CPU / {names[-1]} | peak RSS MiB | viewer-client CPU"
        " (cores) | load average after |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    levels = zip(*(report[name]["fanout"] for name in names), strict=True)
    errors = []
    for figures in levels:
        peer = figures[-1]["cpu_cores"]
        for row, (name, level) in enumerate(zip(names, figures, strict=True)):
            n = level["viewers"]
            per_core = level["viewers_per_core"]
            lines.append(
                f"| {n if row == 0 else ''} | {name}"
                f" | {_mbps(level['bitrate_min_bps'])} / {_mbps(level['bitrate_median_bps'])}"
                f" | {level['full_rate']}/{n} | {level['cpu_cores']:.3f}"
                f" | {per_core or float('nan'):.0f} | {_ratio(level['cpu_cores'], peer)}"
                f" | {level['peak_rss_mib']:.0f}"
                f" | {level['viewer_cpu_s'] / level['window_s']:.2f}"
                f" | {level['load'].split()[0]} |"
            )
            if level["errors_logged"]:
                errors.append(f"{name} fanout-{n}: {level['errors_logged']}")
    lines += ["", "Errors in the server logs, fan-out: " + ("; ".join(errors) or "none") + "."]
    return lines


def render(report: dict[str, Any]) -> str:
    """The markdown tables of ``docs/benchmarks.md`` for this run."""
    tf, nms = report["trioflix"], report["nms"]
    lines = [
        "Ingest (ffmpeg `-re -c copy` publishers of the 3 Mbit/s sample):",
        "",
        "| publishers | CPU s per stream-s, trioflix | nms | ratio | peak RSS MiB, trioflix"
        " | nms | ratio | dropped, trioflix | nms |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for ours, theirs in zip(tf["ingest"], nms["ingest"], strict=True):
        lines.append(
            f"| {ours['publishers']} | {ours['cpu_per_stream_s']:.4f}"
            f" | {theirs['cpu_per_stream_s']:.4f}"
            f" | {_ratio(ours['cpu_per_stream_s'], theirs['cpu_per_stream_s'])}"
            f" | {ours['peak_rss_mib']:.0f} | {theirs['peak_rss_mib']:.0f}"
            f" | {_ratio(ours['peak_rss_mib'], theirs['peak_rss_mib'])}"
            f" | {ours['dropped']} | {theirs['dropped']} |"
        )
    lines += [
        "",
        "Paired ingest (all servers at once, each with its own publishers, CPU over the"
        " same window):",
        "",
    ]
    peers = list(report["paired_ingest"][0]["median_ratio"]) if report["paired_ingest"] else []
    lines += [
        "| publishers each | server | CPU s per stream-s, per round"
        + "".join(f" | ratio to {peer}, per round" for peer in peers)
        + "".join(f" | median ratio to {peer}" for peer in peers)
        + " | dropped (all) | load average per round |",
        "|---:|---|---|" + "---|" * len(peers) + "---:|" * len(peers) + "---:|---|",
    ]
    for level in report["paired_ingest"]:
        rounds = level["rounds"]
        loads = ", ".join(r["load"].split()[0] for r in rounds)
        dropped = sum(r["dropped"] for r in rounds)
        for row, name in enumerate(level["servers"]):
            cpu = ", ".join(f"{r['cpu_per_stream_s'][name]:.4f}" for r in rounds)
            ratios = [
                ", ".join(_figure(r["ratio"][peer][name]) for r in rounds)
                if name in level["median_ratio"][peer]
                else ""
                for peer in peers
            ]
            medians = [
                _figure(level["median_ratio"][peer][name])
                if name in level["median_ratio"][peer]
                else ""
                for peer in peers
            ]
            first = row == 0
            lines.append(
                f"| {level['publishers'] if first else ''} | {name} | {cpu}"
                + "".join(f" | {cell}" for cell in (*ratios, *medians))
                + f" | {dropped if first else ''} | {loads if first else ''} |"
            )
    lines += ["", *render_fanout(report)]
    names = ["trioflix", UNPACED, "nms", NGINX_RTMP]
    figures = [report[name]["latency"] for name in names]
    lines += [
        "",
        "Latency (paced RTMP publisher to HTTP-FLV viewer, same process; per tag sent after"
        f" the viewer connected); {UNPACED} reads each publisher as its bytes arrive;"
        f" {NGINX_RTMP}'s viewer plays over RTMP (it has no HTTP-FLV):",
        "",
        "| | " + " | ".join(names) + " | ratio trioflix / nms |",
        "|---|" + "---:|" * (len(names) + 1),
    ]
    for key in ("p50", "p95", "p99", "max"):
        cells = [x["delay_ms"][key] for x in figures]
        lines.append(
            f"| added delay {key}, ms | "
            + " | ".join(f"{ms:.1f}" for ms in cells)
            + f" | {_ratio(cells[0], cells[2])} |"
        )
    for key in ("median", "max"):
        found = [x["first_keyframe_ms"][key] for x in figures]
        lines.append(
            f"| connect to first keyframe {key}, ms | "
            + " | ".join(f"{ms or float('nan'):.1f}" for ms in found)
            + f" | {_ratio(found[0], found[2])} |"
        )
    lines.append(
        "| tags measured (unmatched) | "
        + " | ".join(f"{x['tags']} ({x['unmatched_tags']})" for x in figures)
        + " | |"
    )
    errors = (
        [
            f"{name} {phase}-{figures.get('publishers') or figures.get('viewers')}:"
            f" {figures['errors_logged']}"
            for name in ("trioflix", "nms")
            for phase in ("ingest",)
            for figures in report[name][phase]
            if figures["errors_logged"]
        ]
        + [
            f"{name} latency: {report[name]['latency']['errors_logged']}"
            for name in names
            if report[name]["latency"]["errors_logged"]
        ]
        + [
            f"paired ingest-{level['publishers']}: {r['errors_logged']}"
            for level in report["paired_ingest"]
            for r in level["rounds"]
            if r["errors_logged"]
        ]
    )
    lines += ["", "Errors in the server logs: " + ("; ".join(errors) or "none") + "."]
    return "\n".join(lines)


# --- main --------------------------------------------------------------------------------


async def run(
    plan: Plan, workdir: Path, cache_dir: Path, meta: dict[str, Any], *, fanout_only: bool = False
) -> dict[str, Any]:
    sample = await make_sample(cache_dir)
    source_bps = sample.stat().st_size * 8 / SAMPLE_SECONDS
    tags = await trio.to_thread.run_sync(read_media_tags, sample)
    trioflix, nms, nginx = Trioflix(workdir), NodeMediaServer(workdir), NginxLive(workdir)
    unpaced = Trioflix(workdir, read_interval_ms=0)  # the read clock's trade, measured
    assert unpaced.name == UNPACED
    print(f"installing node-media-server@{NMS_VERSION} into {nms.root}", file=sys.stderr)
    await nms.install()
    for ours in (trioflix, unpaced):
        async with serving(ours, "setup"):
            await ours.create_channels(max(plan.ingest_levels))
    meta["servers"] = {server.name: server.describe() for server in (trioflix, unpaced, nms, nginx)}
    results: dict[str, dict[str, Any]] = {
        server.name: {"ingest": [], "fanout": [], "latency": None}
        for server in (trioflix, unpaced, nms, nginx)
    }
    fanout_order: tuple[Server, ...] = (trioflix, nms, nginx)
    for count in plan.fanout_levels:
        for server in fanout_order:
            print(f"fan-out: {count} viewers <- {server.name}", file=sys.stderr)
            figures = await fanout(server, sample, count, plan, source_bps)
            results[server.name]["fanout"].append(figures)
        fanout_order = fanout_order[1:] + fanout_order[:1]
    if fanout_only:
        return {"meta": meta, "source_bps": source_bps, **results}
    order: tuple[Server, ...] = (trioflix, nms)
    for count in plan.ingest_levels:
        for server in order:
            print(f"ingest: {count} publishers -> {server.name}", file=sys.stderr)
            (figures,) = await ingest((server,), sample, count, plan)
            results[server.name]["ingest"].append(figures)
        order = order[::-1]
    paired = [
        await paired_ingest((trioflix, unpaced), (nms, nginx), sample, n, plan)
        for n in plan.paired_levels
    ]
    for server in (*order, unpaced, nginx):
        print(f"latency: {server.name}", file=sys.stderr)
        results[server.name]["latency"] = await latency(server, sample, tags, plan)
    return {"meta": meta, "source_bps": source_bps, "paired_ingest": paired, **results}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.live", description=__doc__.split("\n\n")[0]
    )
    add_run_options(parser, quick="a short smoke run (~2 min)", sample_cache=True)
    parser.add_argument(
        "--fanout",
        type=int,
        nargs="+",
        metavar="VIEWERS",
        help="the fan-out phase only, at these audiences",
    )
    args = parser.parse_args(argv)
    for tool in ("ffmpeg", "node", "npm", NGINX):
        if shutil.which(tool) is None:
            parser.error(f"{tool} is not on PATH")
    if not NGINX_RTMP_MODULE.exists():
        parser.error(f"{NGINX_RTMP_MODULE} not found (apt-get install libnginx-mod-rtmp)")
    plan = QUICK if args.quick else FULL
    if args.fanout:
        plan = replace(plan, fanout_levels=tuple(args.fanout))
    command = (
        "nox -s bench -- live"
        + (" --quick" if args.quick else "")
        + (" --fanout " + " ".join(map(str, args.fanout)) if args.fanout else "")
    )
    meta = run_meta(command, plan)
    report = run_in_workdir(
        lambda workdir: trio.run(
            partial(_bounded, plan, workdir, args.cache_dir, meta, bool(args.fanout))
        ),
        prefix="trioflix-bench-live-",
        keep=args.keep,
        json_path=args.json,
    )
    m = report["meta"]
    print(report_header(m, versions=m["machine"]["ffmpeg"], servers=m["servers"]))
    print()
    print("\n".join(render_fanout(report)) if args.fanout else render(report))
    return 0


async def _bounded(
    plan: Plan, workdir: Path, cache_dir: Path, meta: dict[str, Any], fanout_only: bool
) -> Any:
    with trio.fail_after(RUN_BUDGET_S):
        return await run(plan, workdir, cache_dir, meta, fanout_only=fanout_only)


if __name__ == "__main__":
    raise SystemExit(main())
