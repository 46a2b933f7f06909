"""Cluster benchmark: one channel's viewers on one host, against origin + two edges.

    nox -s bench -- cluster            # full run, about 17 minutes
    nox -s bench -- cluster --quick    # smoke run, about 3 minutes
    python -m bench.cluster --help     # from the repository root, in .venv

Two systems run side by side for the whole run, each with one 3 Mbit/s H.264/AAC
publisher (``bench/_rtmp_publisher.py``, real time, the sample of ``bench/live.py``
played in a loop) to its origin:

- trioflix: three ``trioflix serve`` hosts of one site (``bench/_site.py``:
  PostgreSQL, redis-server, shared data directory), the publisher on the first, the
  other two edges that pull from it. Its viewers watch over HTTP-FLV, and, in turns of
  their own, over RTMP play;
- nginx-rtmp: Debian's ``nginx`` + ``libnginx-mod-rtmp``, an origin and two edges
  whose ``application live`` ``pull``s from it. That module has no HTTP-FLV, so its
  viewers play over RTMP: the like-for-like comparison is trioflix over RTMP.

Each configuration spreads an audience over the hosts: one publisher and two viewers
on the origin (the reference for the origin's cost with edges), one viewer on each
edge and none on the origin (the origin serving two edges' pulls, the machine as
lightly loaded as in the reference), all viewers on the origin, the same number spread
over the origin and both edges, and spread over the two edges alone. The two light
configurations are measured over a longer window (their CPU is a few hundredths of a
core, which a 10 s window of 10 ms ticks reads to a few percent only), and before a
configuration with no edge viewers every trioflix edge has closed its pull (the
origin's ``trioflix_internal_pulls`` is 0). Configurations take turns, the systems
alternating within each, so the noise of a shared machine falls on all of them, and
the whole sequence is run :attr:`Plan.rounds` times; the report gives each figure's
median over the rounds, and for the goals the ratio of every round. Per configuration:

- CPU (``utime + stime`` of each server's process tree over a window after ramp-up):
  the origin's, all hosts', per viewer-second; redis-server and PostgreSQL apart;
- peak RSS per host (``VmHWM``, reset with ``clear_refs`` before each configuration);
- delivered bitrate per viewer and how many kept up (``bench/_flv_viewers.py``
  processes, about 100 viewers each);
- delay: one viewer per host in this process notes when each tag arrived; the
  publisher, in this process too, when it sent it. The origin viewer's delay is
  arrival minus send; an edge hop's is the edge viewer's arrival minus the origin
  viewer's, video tag by video tag. Tags are matched by their bytes, not their
  timestamps: a trioflix edge starts its copy's timeline at its own zero, and the
  sample's noise makes every video frame of the window unique.

Everything talks to 127.0.0.1 only, every loop is bounded in time, and every process
started is stopped on exit, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shutil
import statistics
import sys
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import trio

from bench import live
from bench._flv_viewers import ViewerResult, watch, watch_rtmp
from bench._machine import (
    add_run_options,
    load_average,
    report_header,
    run_in_workdir,
    run_meta,
)
from bench._rtmp_publisher import publish_paced, read_media_tags
from bench._site import SiteHost, site_services
from bench.live import NGINX, NGINX_RTMP_MODULE, NginxLive, nginx_rtmp_version, nginx_version
from protocols import flv

if TYPE_CHECKING:
    from collections.abc import Callable

HOST = live.HOST
ROUND_BUDGET_S = 15 * 60  # a full round takes ~8 min; past this something is stuck
SET_UP_BUDGET_S = 5 * 60  # servers, publishers, the sample
PULLS_CLOSED_WAIT_S = 30.0  # an edge closes an unwatched pull after 10 s
PULLS_GAUGE = re.compile(rb"^trioflix_internal_pulls (\S+)$", re.MULTILINE)  # in /metrics
LIVE_WAIT_S = 15.0  # publisher start (or an edge's first viewer) to a keyframe
PROBE_TIMEOUT_S = 3.0  # a live stream's start-up cache hands out a keyframe at once
WARMUP_S = 3.0  # after the last viewer connected: GOP bursts and handshakes are over
VIEWERS_PER_PROCESS = live.VIEWERS_PER_PROCESS
HOP_GOAL_MS = 50.0  # p99 an edge hop may add
ORIGIN_GOAL = 1.10  # origin CPU with two edges, against one publisher + two viewers
CHANNEL = 0  # the one channel: trioflix's bench00, nginx's bench00
HOSTS = ("origin", "edge1", "edge2")
PEER = re.compile(r"\d+\.\d+\.\d+\.\d+:\d+")  # a client's address in a log message


@dataclass(frozen=True)
class Plan:
    viewers: int  # the audience of the big configurations
    window_s: float
    light_window_s: float  # for the configurations of a few viewers (Configuration.light)
    ramp_s: float  # viewers connect spread over this
    rounds: int


# 300 viewers joining over 6 s: each gets a start-up GOP of up to 2 s at once.
FULL = Plan(viewers=300, window_s=10.0, light_window_s=30.0, ramp_s=6.0, rounds=2)
QUICK = Plan(viewers=30, window_s=5.0, light_window_s=5.0, ramp_s=1.0, rounds=1)


def run_budget_s(plan: Plan) -> float:
    return SET_UP_BUDGET_S + plan.rounds * ROUND_BUDGET_S


@dataclass(frozen=True)
class Configuration:
    name: str
    placement: tuple[int, int, int]  # viewers on the origin, edge 1, edge 2

    @property
    def light(self) -> bool:
        """A few viewers: the origin's cost, measured over the plan's longer window."""
        return sum(self.placement) <= 2


REFERENCE = "1 publisher + 2 viewers"
TWO_EDGES = "2 edges, a viewer each"
EDGES_ONLY = "2 edges only"


def configurations(plan: Plan) -> list[Configuration]:
    n = plan.viewers
    return [
        Configuration(REFERENCE, (2, 0, 0)),
        Configuration(TWO_EDGES, (0, 1, 1)),
        Configuration("one host", (n, 0, 0)),
        Configuration("origin + 2 edges", (n // 3, n // 3, n - 2 * (n // 3))),
        Configuration(EDGES_ONLY, (0, n // 2, n - n // 2)),
    ]


@dataclass(frozen=True)
class Endpoint:
    """Where a host's viewers connect, and the process tree its CPU is read from."""

    pid: int
    port: int
    path: str  # HTTP path, or the stream name to play over RTMP
    rtmp: bool

    def watcher(self) -> Callable[..., Any]:
        return watch_rtmp if self.rtmp else watch


@dataclass
class System:
    """A server under test, one of its viewer protocols: the origin first, then edges."""

    name: str
    hosts: list[Endpoint]
    services: tuple[int, ...] = ()  # shared processes (Redis, PostgreSQL), CPU apart
    sent_at: dict[tuple[int, int], float] = field(default_factory=dict)
    metrics_url: str | None = None  # the trioflix origin's /metrics


async def wait_pulls_closed(system: System) -> None:
    """Wait until no edge pulls from the origin (trioflix; nginx-rtmp has no such figure)."""
    if system.metrics_url is None:
        return
    async with httpx.AsyncClient() as client:
        with trio.move_on_after(PULLS_CLOSED_WAIT_S):
            while True:
                found = PULLS_GAUGE.search((await client.get(system.metrics_url)).content)
                if found is not None and float(found.group(1)) == 0:
                    return
                await trio.sleep(0.5)
    raise RuntimeError(f"the edges still pull after {PULLS_CLOSED_WAIT_S:.0f} s")


# --- measuring ---------------------------------------------------------------------------


def looped(tags: list[flv.FLVTag], loop_ms: int, times: int) -> list[flv.FLVTag]:
    """``tags`` ``times`` over, each pass ``loop_ms`` later; the sequence headers once."""

    def is_header(tag: flv.FLVTag) -> bool:
        if tag.tag_type == flv.TagType.VIDEO:
            return not flv.parse_video_tag(tag.data).is_coded_frame
        return flv.parse_audio_tag(tag.data).is_sequence_header

    media = [tag for tag in tags if not is_header(tag)]
    return tags + [
        flv.FLVTag(
            tag_type=tag.tag_type, timestamp_ms=tag.timestamp_ms + n * loop_ms, data=tag.data
        )
        for n in range(1, times)
        for tag in media
    ]


def reset_peak_rss(pid: int) -> None:
    """Start ``VmHWM`` of the process tree afresh (``clear_refs`` 5, Linux 4.0+)."""
    for member in live.process_tree(pid):
        try:
            Path(f"/proc/{member}/clear_refs").write_text("5")
        except OSError:
            continue


async def wait_playing(endpoint: Endpoint) -> None:
    """Return once a viewer of ``endpoint`` gets a keyframe."""
    with trio.fail_after(LIVE_WAIT_S):
        for _ in range(live.POLLS):
            result = ViewerResult()
            with trio.move_on_after(PROBE_TIMEOUT_S):
                await endpoint.watcher()(
                    HOST, endpoint.port, endpoint.path, result, until_keyframe=True
                )
            if result.first_keyframe_s is not None:
                return
            await trio.sleep(live.POLL_INTERVAL_S)
    raise TimeoutError(f"nothing to watch on port {endpoint.port} {endpoint.path}")


async def run_viewer_process(
    endpoint: Endpoint,
    count: int,
    start_at: float,
    ramp_s: float,
    window: tuple[float, float],
    stop_at: float,
    out: list[tuple[int, dict[str, Any]]],
    host: int,
) -> None:
    completed = await trio.run_process(
        [sys.executable, "-m", "bench._flv_viewers", "--port", str(endpoint.port)]
        + ["--path", endpoint.path, "--count", str(count), "--start-at", repr(start_at)]
        + ["--ramp-s", repr(ramp_s), "--window", repr(window[0]), repr(window[1])]
        + ["--stop-at", repr(stop_at)]
        + (["--rtmp"] if endpoint.rtmp else []),
        capture_stdout=True,
        cwd=live.REPOSITORY,
    )
    out.append((host, json.loads(completed.stdout)))


def _percentiles(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"p50": None, "p99": None, "max": None, "tags": 0}
    return {
        "p50": live.percentile(values, 0.5),
        "p99": live.percentile(values, 0.99),
        "max": max(values),
        "tags": len(values),
    }


async def measure(
    system: System,
    config: Configuration,
    plan: Plan,
    source_bps: float,
    video: dict[tuple[int, int], bytes],
) -> dict[str, Any]:
    """One configuration on one system: viewers placed, then CPU over the window.

    ``video`` maps the publisher's video tags, ``(tag type, timestamp)``, to their bytes.
    """
    pids = [host.pid for host in system.hosts]
    for pid in (*pids, *system.services):
        reset_peak_rss(pid)
    start_at = time.monotonic() + live.VIEWER_PROCESS_START_S
    window_s = plan.light_window_s if config.light else plan.window_s
    window = (start_at + plan.ramp_s + WARMUP_S, start_at + plan.ramp_s + WARMUP_S + window_s)
    stop_at = window[1] + 0.3
    outputs: list[tuple[int, dict[str, Any]]] = []
    # One viewer per host that has any in this process: the delay probes.
    probes = {i: ViewerResult() for i, n in enumerate(config.placement) if n}
    arrivals: dict[int, dict[bytes, float]] = {i: {} for i in probes}
    async with trio.open_nursery() as nursery:
        for i, count in enumerate(config.placement):
            others = count - 1 if i in probes else count
            processes = math.ceil(others / VIEWERS_PER_PROCESS)
            for part in range(processes):
                share = others // processes + (part < others % processes)
                nursery.start_soon(
                    run_viewer_process,
                    system.hosts[i],
                    share,
                    start_at,
                    plan.ramp_s,
                    window,
                    stop_at,
                    outputs,
                    i,
                )

        async def probe(i: int) -> None:
            def note(tag: flv.FLVTag, now: float) -> None:
                if tag.tag_type == flv.TagType.VIDEO:
                    arrivals[i].setdefault(tag.data, now)

            host = system.hosts[i]
            await live.sleep_until(start_at)
            with trio.move_on_after(stop_at - time.monotonic()):
                await host.watcher()(
                    HOST, host.port, host.path, probes[i], window=window, on_tag=note
                )

        for i in probes:
            nursery.start_soon(probe, i)
        await live.sleep_until(window[0])
        cpu0 = [live.cpu_seconds(pid) for pid in (*pids, *system.services)]
        t0 = time.monotonic()
        await live.sleep_until(window[1])
        cpu1 = [live.cpu_seconds(pid) for pid in (*pids, *system.services)]
        t1 = time.monotonic()
        rss = [live.peak_rss_mib(pid) for pid in pids]
    seconds = t1 - t0
    cores = [(b - a) / seconds for a, b in zip(cpu0, cpu1, strict=True)]
    host_cores, service_cores = cores[: len(pids)], cores[len(pids) :]
    per_host: list[list[ViewerResult]] = [[] for _ in HOSTS]
    for i, out in outputs:
        per_host[i] += [ViewerResult(**v) for v in out["viewers"]]
    for i, result in probes.items():
        per_host[i].append(result)
    results = [r for host in per_host for r in host]
    viewers = sum(config.placement)
    rates = [r.window_bytes * 8 / window_s for r in results]
    # Delays of the tags sent inside the window, when every probe was connected.
    sent = {
        video[k]: t for k, t in system.sent_at.items() if k in video and window[0] <= t < window[1]
    }
    delay = {
        HOSTS[i]: _percentiles([(seen[k] - t) * 1000 for k, t in sent.items() if k in seen])
        for i, seen in arrivals.items()
    }
    hops = {}
    if 0 in arrivals:
        origin_seen = arrivals[0]
        for i in (1, 2):
            if i in arrivals:
                hops[HOSTS[i]] = _percentiles(
                    [
                        (arrivals[i][k] - origin_seen[k]) * 1000
                        for k in sent
                        if k in arrivals[i] and k in origin_seen
                    ]
                )
    return {
        "system": system.name,
        "configuration": config.name,
        "placement": list(config.placement),
        "window_s": seconds,
        "origin_cores": host_cores[0],
        "host_cores": host_cores,
        "hosts_cores": sum(host_cores),
        "service_cores": sum(service_cores),
        "cpu_ms_per_viewer_s": 1000 * sum(host_cores) / viewers,
        "peak_rss_mib": rss,
        "bitrate_min_bps": min(rates),
        "bitrate_median_bps": statistics.median(rates),
        "full_rate": sum(rate >= live.FULL_RATE * source_bps for rate in rates),
        "errors": sum(r.error is not None or r.ended_early for r in results),
        "errors_by_host": [sum(r.error is not None or r.ended_early for r in h) for h in per_host],
        "viewer_errors": sorted({r.error for r in results if r.error})[:3],
        "viewer_client_cores": sum(out["cpu_s"] for _, out in outputs) / seconds,
        "delay_ms": delay,
        "hop_ms": hops,
        "load": load_average(),
    }


def _log_summary(path: Path) -> dict[str, Any]:
    """What a trioflix host logged at WARNING and above (its JSON lines): how many
    lines, and each distinct message once."""
    counts: dict[str, int] = {}
    messages: dict[str, None] = {}
    for line in path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        counts[record["level"]] = counts.get(record["level"], 0) + 1
        message = PEER.sub("PEER", record["msg"])  # one line per message, not per viewer
        messages[f"{record['level']} {record['logger']}: {message}"] = None
    return {"lines": counts, "messages": list(messages)}


# --- the run -----------------------------------------------------------------------------


async def run(
    plan: Plan,
    workdir: Path,
    cache_dir: Path,
    meta: dict[str, Any],
    edge_read_interval_ms: int | None = None,
) -> dict[str, Any]:
    sample = await live.make_sample(cache_dir)
    source_bps = sample.stat().st_size * 8 / live.SAMPLE_SECONDS
    tags = await trio.to_thread.run_sync(read_media_tags, sample)
    tags = looped(
        tags, live.SAMPLE_SECONDS * 1000, math.ceil(run_budget_s(plan) / live.SAMPLE_SECONDS)
    )
    video = {(t.tag_type, t.timestamp_ms): t.data for t in tags if t.tag_type == flv.TagType.VIDEO}
    configs = configurations(plan)
    async with AsyncExitStack() as stack:
        services = await stack.enter_async_context(site_services(workdir))
        hosts: list[SiteHost] = []
        pids: list[int] = []
        logs: list[Path] = []
        for name in HOSTS:  # one by one: each binds before the next
            hosts.append(SiteHost(workdir, f"trioflix-{name}", services, edge_read_interval_ms))
            running = await stack.enter_async_context(live.serving(hosts[-1], "run"))
            pids.append(running.pid)
            logs.append(running.log)
        origin = hosts[0]
        await origin.create_channels(1)
        nginx: list[NginxLive] = []
        for name in HOSTS:
            pull = nginx[0].rtmp_port if nginx else None
            nginx.append(NginxLive(workdir, f"nginx-{name}", pull))
            pids.append((await stack.enter_async_context(live.serving(nginx[-1], "run"))).pid)
        flv_viewers = System(
            "trioflix HTTP-FLV",
            [
                Endpoint(pid, h.http_port, h.play_path(CHANNEL), False)
                for pid, h in zip(pids[:3], hosts, strict=True)
            ],
            services.pids,
            metrics_url=f"http://{HOST}:{origin.http_port}/metrics",
        )
        rtmp_viewers = System(
            "trioflix RTMP",
            [
                Endpoint(pid, h.rtmp_port, h.channel(CHANNEL), True)
                for pid, h in zip(pids[:3], hosts, strict=True)
            ],
            services.pids,
            flv_viewers.sent_at,  # one publisher
            flv_viewers.metrics_url,
        )
        peer = System(
            "nginx-rtmp RTMP",
            [
                Endpoint(pid, n.rtmp_port, n.stream_key(CHANNEL), True)
                for pid, n in zip(pids[3:], nginx, strict=True)
            ],
        )
        nursery = await stack.enter_async_context(trio.open_nursery())
        for port, key, system in (
            (origin.rtmp_port, origin.stream_key(CHANNEL), flv_viewers),
            (nginx[0].rtmp_port, nginx[0].stream_key(CHANNEL), peer),
        ):
            await nursery.start(
                partial(publish_paced, HOST, port, key, tags, sent_at=system.sent_at)
            )
        for system in (flv_viewers, peer):
            for endpoint in system.hosts:  # edges too: the first pull is not measured
                await wait_playing(endpoint)
        meta["servers"] = {
            "trioflix": origin.describe(),
            "nginx-rtmp": f"{nginx_version()} + libnginx-mod-rtmp {nginx_rtmp_version()}",
        }
        results = []
        order = [flv_viewers, rtmp_viewers, peer]
        for number in range(plan.rounds):
            for config in configs:
                for system in order:
                    print(f"round {number + 1}, {config.name}: {system.name}", file=sys.stderr)
                    if config.placement[1:] == (0, 0):
                        await wait_pulls_closed(system)
                    figures = await measure(system, config, plan, source_bps, video)
                    results.append({"round": number + 1, **figures})
                order = order[::-1]
        nursery.cancel_scope.cancel()
    meta["load_during"] = [r["load"] for r in results]
    meta["trioflix_log"] = {name: _log_summary(log) for name, log in zip(HOSTS, logs, strict=True)}
    return {"meta": meta, "source_bps": source_bps, "results": results}


# --- report ------------------------------------------------------------------------------


def _ms(figures: dict[str, Any] | None) -> str:
    if not figures or figures["p50"] is None:
        return "-"
    return f"{figures['p50']:.1f} / {figures['p99']:.1f}"


def _ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}" if theirs else "n/a"


def _median(rows: list[dict[str, Any]], get: Callable[[dict[str, Any]], Any]) -> Any:
    values = [v for v in map(get, rows) if v is not None]
    return statistics.median(values) if values else None


def _delay(rows: list[dict[str, Any]], kind: str, host: str) -> dict[str, Any] | None:
    """Median over the rounds of a delay's p50 and p99."""
    p50 = _median(rows, lambda r: r[kind].get(host, {}).get("p50"))
    p99 = _median(rows, lambda r: r[kind].get(host, {}).get("p99"))
    return None if p50 is None else {"p50": p50, "p99": p99}


SYSTEMS = ("trioflix HTTP-FLV", "trioflix RTMP", "nginx-rtmp RTMP")


def _field(name: str) -> Callable[[dict[str, Any]], Any]:
    return lambda row: row[name]


def _rss(host: int) -> Callable[[dict[str, Any]], float]:
    return lambda row: float(row["peak_rss_mib"][host])


def render(report: dict[str, Any]) -> str:
    """The markdown of ``docs/benchmarks.md`` for this run."""
    source = report["source_bps"]
    names = [c.name for c in configurations(FULL)]
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in report["results"]:
        runs.setdefault((row["system"], row["configuration"]), []).append(row)
    rounds = max(row["round"] for row in report["results"])
    lines = [
        f"Source {source / 1e6:.2f} Mbit/s; full rate = at least {live.FULL_RATE:.0%} of it."
        " CPU in cores (CPU-seconds per second); delays in ms, p50 / p99. Medians over"
        f" {rounds} round(s); viewers at full rate and errors summed over them.",
        "",
        "| configuration | system | viewers origin/edge/edge | origin CPU | all hosts CPU"
        " | CPU ms per viewer-s | Redis+PostgreSQL CPU | Mbit/s per viewer min / median"
        " | at full rate | errors | peak RSS MiB origin / edges | delay to origin viewer"
        " | edge hop 1 | edge hop 2 | load |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in names:
        for system in SYSTEMS:
            rows = runs[(system, name)]
            n = sum(rows[0]["placement"]) * len(rows)
            rss = [_median(rows, _rss(i)) for i in range(3)]
            lines.append(
                f"| {name} | {system} | {'/'.join(map(str, rows[0]['placement']))}"
                f" | {_median(rows, lambda r: r['origin_cores']):.3f}"
                f" | {_median(rows, lambda r: r['hosts_cores']):.3f}"
                f" | {_median(rows, lambda r: r['cpu_ms_per_viewer_s']):.2f}"
                f" | {_median(rows, lambda r: r['service_cores']):.3f}"
                f" | {_median(rows, lambda r: r['bitrate_min_bps']) / 1e6:.2f}"
                f" / {_median(rows, lambda r: r['bitrate_median_bps']) / 1e6:.2f}"
                f" | {sum(r['full_rate'] for r in rows)}/{n} | {sum(r['errors'] for r in rows)}"
                f" | {rss[0]:.0f} / {rss[1]:.0f}, {rss[2]:.0f}"
                f" | {_ms(_delay(rows, 'delay_ms', 'origin'))}"
                f" | {_ms(_delay(rows, 'hop_ms', 'edge1'))}"
                f" | {_ms(_delay(rows, 'hop_ms', 'edge2'))}"
                f" | {', '.join(r['load'].split()[0] for r in rows)} |"
            )
    lines += ["", "Goals (per round, then the median):", ""]
    for system in SYSTEMS:
        base, two, one, three, edges = (runs[(system, name)] for name in names)
        origin = [e["origin_cores"] / b["origin_cores"] for b, e in zip(base, two, strict=True)]
        loaded = [e["origin_cores"] / b["origin_cores"] for b, e in zip(base, edges, strict=True)]
        total = [
            t["cpu_ms_per_viewer_s"] / o["cpu_ms_per_viewer_s"]
            for o, t in zip(one, three, strict=True)
        ]
        hop_p99 = [h["p99"] for r in three for h in r["hop_ms"].values() if h["p99"] is not None]
        lines.append(
            f"- {system}: origin CPU with two edges (a viewer each) / one publisher + 2 viewers"
            f" {', '.join(f'{x:.2f}' for x in origin)}, median {statistics.median(origin):.2f}"
            f" (goal <= {ORIGIN_GOAL:.2f}), with the edges' whole audience (edges only)"
            f" {', '.join(f'{x:.2f}' for x in loaded)}; edge hop p99 per edge and round"
            f" {', '.join(f'{p:.1f}' for p in hop_p99) or '-'} ms (goal < {HOP_GOAL_MS:.0f});"
            " CPU per viewer-second, origin + 2 edges / one host"
            f" {', '.join(f'{x:.2f}' for x in total)}, median {statistics.median(total):.2f}"
            " (goal <= 1.00)"
        )
    lines += ["", "trioflix / nginx-rtmp (medians):", ""]
    for name in names:
        peer = runs[("nginx-rtmp RTMP", name)]
        parts = []
        for system in SYSTEMS[1::-1]:
            ours = runs[(system, name)]
            origin_ratio, hosts_ratio, rss_ratio = (
                _ratio(_median(ours, get), _median(peer, get))
                for get in (_field("origin_cores"), _field("hosts_cores"), _rss(0))
            )
            parts.append(
                f"{system}: origin CPU {origin_ratio}, all hosts {hosts_ratio},"
                f" origin peak RSS {rss_ratio}"
            )
        lines.append(f"- {name}: " + "; ".join(parts))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.cluster", description=__doc__.split("\n\n")[0]
    )
    add_run_options(parser, quick="a short smoke run (~3 min)", sample_cache=True)
    parser.add_argument("--viewers", type=int, help="the audience (300; 30 with --quick)")
    parser.add_argument("--rounds", type=int, help="times the sequence runs (2; 1 with --quick)")
    parser.add_argument(
        "--edge-read-interval-ms",
        type=int,
        help="the hosts' --edge-read-interval-ms (default: the server's own default)",
    )
    args = parser.parse_args(argv)
    if shutil.which("ffmpeg") is None or shutil.which(NGINX) is None:
        parser.error("ffmpeg and nginx must be on PATH")
    if not NGINX_RTMP_MODULE.exists():
        parser.error(f"{NGINX_RTMP_MODULE} not found (apt-get install libnginx-mod-rtmp)")
    plan = QUICK if args.quick else FULL
    plan = replace(plan, viewers=args.viewers or plan.viewers, rounds=args.rounds or plan.rounds)
    if plan.viewers < 3 or plan.rounds < 1:
        parser.error("--viewers must be at least 3 and --rounds at least 1")
    meta = run_meta("nox -s bench -- cluster " + " ".join(argv or sys.argv[1:]), plan)
    report = run_in_workdir(
        lambda workdir: trio.run(
            partial(_bounded, plan, workdir, args.cache_dir, meta, args.edge_read_interval_ms)
        ),
        prefix="trioflix-bench-cluster-",
        keep=args.keep,
        json_path=args.json,
    )
    m = report["meta"]
    print(report_header(m, versions=m["machine"]["ffmpeg"], servers=m["servers"]))
    print()
    print(render(report))
    print()
    for name, summary in m["trioflix_log"].items():
        lines = ", ".join(f"{n} {level}" for level, n in summary["lines"].items()) or "nothing"
        print(f"trioflix {name} logged {lines}" + "".join(f"\n- {x}" for x in summary["messages"]))
    return 0


async def _bounded(
    plan: Plan,
    workdir: Path,
    cache_dir: Path,
    meta: dict[str, Any],
    edge_read_interval_ms: int | None,
) -> Any:
    with trio.fail_after(run_budget_s(plan)):
        return await run(plan, workdir, cache_dir, meta, edge_read_interval_ms)


if __name__ == "__main__":
    raise SystemExit(main())
