"""Chat benchmark: trioflix against socket.io, side by side, same workload, same run.

    nox -s bench -- chat              # full run, about 8 minutes
    nox -s bench -- chat --quick      # smoke run, about 2 minutes
    .venv/bin/python -m bench.chat    # the same without nox

Workload (both servers): one room; N read-only receivers (N = 100, 500, 1000,
2000 by default) added step by step; at each N a sender posts ``rate x duration``
messages at a fixed rate (10, 50, 100 per second). Each message embeds its send
time (``CLOCK_MONOTONIC``); receivers record delivery latency. Measured per
step: delivered messages/s over all receivers, delivered share, latency
percentiles, the server's CPU seconds (``/proc/PID/stat``), the time its event
loop waited for a CPU held by other processes (``/proc/PID/schedstat``), peak RSS
(VmRSS sampled every 100 ms), and the load clients' own CPU (to show when the
client, not the server, was the limit). Then a slow-consumer scenario: healthy receivers
plus some that never read (4 KiB receive buffer), larger messages, compared with
the same load without them.

Rate limits: trioflix keeps its production limits (docs/chat-protocol.md: 20
messages per 30 s per user, 100 for moderators and the owner, 10 frames/s per
connection). The documented way to post faster is more senders: the "sender" is
``SENDERS`` moderator accounts named by the channel owner, posting round-robin,
each at most ~3 messages/s (under the moderators' 100 per 30 s and the 10 frames/s
connection limit). socket.io gets the same sender connections. Senders are
members of the room on both servers; only receivers are measured.

Everything listens on 127.0.0.1; every wait is bounded; ``--budget`` skips the
steps that would not fit.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import trio

from bench._chat_client import bucket_value
from bench._chat_servers import (
    SOCKETIO_VERSION,
    ServerProcess,
    install_socketio,
    start_socketio,
    start_trioflix,
)
from bench._machine import load_average, machine

REPO = Path(__file__).resolve().parent.parent
RECEIVER_PROCESSES = 2  # one per core of the reference machine; the server has its own
SENDER_RATE_MAX = 3.0  # messages/s per sender account: under 100 per 30 s (moderators)
DRAIN_MAX_S = 5.0  # after the last send; longer means the server fell behind for good
DRAIN_IDLE_S = 1.5  # no delivery for this long: what is missing is not coming
SAMPLE_EVERY_S = 0.1
REQUEST_TIMEOUT_S = 120.0  # one worker command (connecting 1000 clients included)
RUN_SLACK_S = 180.0  # npm install, start-up and the last step beyond the budget
OWNER = "benchowner"
PASSWORD = "bench-password-1"


@dataclass
class Row:
    server: str
    scenario: str
    clients: int
    rate: float
    sent: int = 0
    expected: int = 0
    delivered: int = 0
    throughput: float = 0.0  # delivered messages/s across all receivers
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    server_cpu_s: float = 0.0
    server_wait_s: float = 0.0  # runnable but not running: other processes had the CPUs
    wall_s: float = 0.0
    rss_start_mib: float = 0.0
    rss_peak_mib: float = 0.0
    rss_end_mib: float = 0.0
    client_cpu_s: float = 0.0
    bytes_per_message: float = 0.0
    acks: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    closed: dict[str, int] = field(default_factory=dict)
    sender_late_ms: float = 0.0
    notes: str = ""

    @property
    def delivered_pct(self) -> float:
        return 100.0 * self.delivered / self.expected if self.expected else 0.0


class Worker:
    """A ``bench/_chat_client.py`` process, driven by JSON lines."""

    def __init__(self, process: trio.Process) -> None:
        self.process = process
        self._pending = b""
        self._lock = trio.Lock()

    @classmethod
    async def spawn(cls) -> Worker:
        process = await trio.lowlevel.open_process(
            [sys.executable, "-m", "bench._chat_client"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=REPO,
        )
        return cls(process)

    async def request(self, cmd: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        async with self._lock:
            await self.process.stdin.send_all(json.dumps(cmd).encode() + b"\n")
            with trio.fail_after(REQUEST_TIMEOUT_S):
                while b"\n" not in self._pending:
                    data = await self.process.stdout.receive_some(1 << 20)
                    if not data:
                        raise RuntimeError(f"load client exited ({self.process.returncode})")
                    self._pending += data
            line, self._pending = self._pending.split(b"\n", 1)
            answer: dict[str, Any] = json.loads(line)
            return answer

    async def close(self) -> None:
        if self.process.returncode is None:
            assert self.process.stdin is not None
            try:
                await self.process.stdin.send_all(b'{"op": "exit"}\n')
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
            with trio.move_on_after(10):
                await self.process.wait()
            if self.process.returncode is None:
                self.process.kill()
                await self.process.wait()


async def gather(workers: list[Worker], cmds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    answers: list[dict[str, Any]] = [{} for _ in workers]

    async def one(i: int) -> None:
        answers[i] = await workers[i].request(cmds[i])

    async with trio.open_nursery() as nursery:
        for i in range(len(workers)):
            nursery.start_soon(one, i)
    return answers


def percentile(hist: dict[int, int], q: float) -> float:
    total = sum(hist.values())
    if not total:
        return math.nan
    rank = q * total
    seen = 0
    for key in sorted(hist):
        seen += hist[key]
        if seen >= rank:
            return bucket_value(key)
    return bucket_value(max(hist))


@dataclass
class Target:
    """One server under test, its connection details and its load clients."""

    server: ServerProcess
    kind: str  # "trioflix" or "socketio"
    resource: str
    sender_tokens: list[str | None]
    receivers: list[Worker] = field(default_factory=list)
    sender: Worker | None = None
    connected: int = 0
    phase: int = 0

    def connect_cmd(self, count: int, **extra: Any) -> dict[str, Any]:
        return {
            "op": "connect",
            "kind": self.kind,
            "host": "127.0.0.1",
            "port": self.server.port,
            "resource": self.resource,
            "count": count,
            **extra,
        }

    async def start_clients(self) -> None:
        self.receivers = [await Worker.spawn() for _ in range(RECEIVER_PROCESSES)]
        self.sender = await Worker.spawn()
        answer = await self.sender.request(
            self.connect_cmd(len(self.sender_tokens), tokens=self.sender_tokens, role="sender")
        )
        if answer["failed"]:
            raise RuntimeError(f"{self.kind}: senders could not connect: {answer}")

    async def grow(self, total: int, **extra: Any) -> int:
        """Connect receivers until ``total`` are connected; returns how many failed."""
        missing = total - self.connected
        if missing <= 0:
            return 0
        shares = [missing // len(self.receivers)] * len(self.receivers)
        shares[0] += missing - sum(shares)
        answers = await gather(self.receivers, [self.connect_cmd(s, **extra) for s in shares])
        ok: int = sum(a["ok"] for a in answers)
        self.connected += ok
        failed: int = sum(a["failed"] for a in answers)
        if failed:
            print(f"  {failed} connections failed: {answers[0]['failures']}", flush=True)
        return failed

    async def close_clients(self) -> None:
        for worker in [*self.receivers, *([self.sender] if self.sender else [])]:
            await worker.close()
        self.receivers, self.sender, self.connected = [], None, 0


async def sample_memory(server: ServerProcess, peak: list[int], stop: trio.Event) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], server.memory_kib().get("VmRSS", 0))
        with trio.move_on_after(SAMPLE_EVERY_S):
            await stop.wait()


async def run_phase(
    target: Target,
    scenario: str,
    receivers: int,
    rate: float,
    duration: float,
    pad: int = 0,
) -> Row:
    """Post ``rate x duration`` messages and measure what ``receivers`` readers got."""
    assert target.sender is not None
    target.phase += 1
    phase = target.phase
    workers = [*target.receivers, target.sender]
    await gather(workers, [{"op": "phase", "phase": phase}] * len(workers))
    before = await gather(target.receivers, [{"op": "report"}] * len(target.receivers))
    server = target.server
    count = max(1, round(rate * duration))
    row = Row(server.name, scenario, receivers, rate, sent=count, expected=count * receivers)
    peak = [0]
    stop = trio.Event()
    row.rss_start_mib = server.memory_kib()["VmRSS"] / 1024
    cpu0 = server.cpu_s()
    wait0 = server.runqueue_wait_s()
    wall0 = time.monotonic()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(sample_memory, server, peak, stop)
        sent = await target.sender.request(
            {"op": "send", "kind": target.kind, "phase": phase, "rate": rate, "count": count}
            | {"pad": pad}
        )
        # Drain: until everything arrived, nothing arrives any more, or DRAIN_MAX_S.
        drained_at = time.monotonic()
        last_total, last_change = -1, drained_at
        while True:
            reports = await gather(target.receivers, [{"op": "report"}] * len(target.receivers))
            total = sum(r["received"] for r in reports)
            now = time.monotonic()
            if total != last_total:
                last_total, last_change = total, now
            if (
                total >= row.expected
                or now - last_change > DRAIN_IDLE_S
                or now - drained_at > DRAIN_MAX_S
            ):
                break
            await trio.sleep(0.1)
        row.server_cpu_s = server.cpu_s() - cpu0
        row.server_wait_s = server.runqueue_wait_s() - wait0
        row.wall_s = time.monotonic() - wall0
        stop.set()
    row.rss_peak_mib = max(peak[0], server.memory_kib()["VmRSS"]) / 1024
    row.rss_end_mib = server.memory_kib()["VmRSS"] / 1024
    sender_report = await target.sender.request({"op": "report"})
    hist: dict[int, int] = {}
    for report in reports:
        for key, n in report["hist"].items():
            hist[int(key)] = hist.get(int(key), 0) + n
    row.delivered = sum(r["received"] for r in reports)
    last_ns = max((r["last_ns"] for r in reports), default=0)
    span = (last_ns - sent["first_ns"]) / 1e9
    row.throughput = row.delivered / span if span > 0 else 0.0
    row.p50_ms, row.p90_ms, row.p99_ms = (percentile(hist, q) for q in (0.5, 0.9, 0.99))
    row.max_ms = bucket_value(max(hist)) if hist else math.nan
    row.client_cpu_s = sum(r["cpu_s"] for r in reports) - sum(b["cpu_s"] for b in before)
    row.bytes_per_message = sum(r["bytes"] for r in reports) / max(row.delivered, 1)
    row.acks = sender_report["acks"]
    row.errors = sender_report["errors"]
    row.sender_late_ms = sent["late_max_ms"]
    for r, b in zip(reports, before, strict=True):
        for code, n in r["closed"].items():
            delta = n - b["closed"].get(code, 0)
            if delta:
                row.closed[code] = row.closed.get(code, 0) + delta
    print("  " + line_of(row), flush=True)
    return row


def line_of(row: Row) -> str:
    extra = ""
    if row.errors:
        extra += f" errors={row.errors}"
    if row.closed:
        extra += f" closed={row.closed}"
    if row.notes:
        extra += f" {row.notes}"
    return (
        f"{row.server:9} {row.scenario:8} N={row.clients:<5} {row.rate:>4.0f}/s "
        f"{row.throughput:>9.0f} msg/s {row.delivered_pct:5.1f}% "
        f"p50 {row.p50_ms:7.1f} p99 {row.p99_ms:7.1f} ms "
        f"cpu {row.server_cpu_s:5.2f}s wait {row.server_wait_s:5.2f}s "
        f"rss {row.rss_peak_mib:6.1f}MiB "
        f"client cpu {row.client_cpu_s:5.2f}s" + extra
    )


async def setup_trioflix(server: ServerProcess, senders: int) -> list[str | None]:
    """Register the channel owner and the sender accounts; the owner names them moderators."""
    base = f"http://127.0.0.1:{server.port}"
    tokens: list[str | None] = [None] * senders
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:

        async def register(name: str) -> str:
            body = {"username": name, "password": PASSWORD}
            response = await client.post("/api/auth/register", json=body)
            response.raise_for_status()
            return str(response.json()["token"])

        owner = await register(OWNER)
        limiter = trio.CapacityLimiter(4)  # Argon2id hashing runs in worker threads

        async def sender(i: int) -> None:
            async with limiter:
                name = f"benchsender{i:02d}"
                tokens[i] = await register(name)
                response = await client.put(
                    f"/api/chat/{OWNER}/moderators/{name}",
                    headers={"Authorization": f"Bearer {owner}"},
                )
                response.raise_for_status()

        async with trio.open_nursery() as nursery:
            for i in range(senders):
                nursery.start_soon(sender, i)
    return tokens


async def trioflix_chat_metrics(server: ServerProcess) -> dict[str, float]:
    """trioflix's own view of the room (trioflix.chat.metrics) from ``/metrics``."""
    async with httpx.AsyncClient(timeout=10) as client:
        text = (await client.get(f"http://127.0.0.1:{server.port}/metrics")).text
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("trioflix_chat_") and " " in line:
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


@dataclass
class Plan:
    clients: list[int]
    rates: list[float]
    duration: float
    slow_healthy: int
    slow_count: int
    slow_rate: float
    slow_duration: float
    slow_pad: int
    budget_s: float


async def bench_server(
    target: Target, plan: Plan, rows: list[Row], started: float, share: float
) -> None:
    """The matrix, then the slow-consumer scenario, on one server within its ``share``."""
    deadline = started + share
    await target.start_clients()
    try:
        for n in plan.clients:
            print(f"{target.kind}: connecting {n} receivers", flush=True)
            t0 = time.monotonic()
            failed = await target.grow(n)
            print(f"  connected {target.connected} in {time.monotonic() - t0:.1f}s", flush=True)
            for rate in plan.rates:
                if time.monotonic() + plan.duration + DRAIN_MAX_S > deadline:
                    print(f"  budget: skipping N={n} {rate}/s", flush=True)
                    continue
                row = await run_phase(target, "fanout", target.connected, rate, plan.duration)
                if failed:
                    row.notes = f"{failed} connections failed"
                rows.append(row)
    finally:
        await target.close_clients()
    # Slow consumers: fresh connections, the same load with and without them.
    await target.start_clients()
    try:
        await target.grow(plan.slow_healthy)
        args = (plan.slow_rate, plan.slow_duration, plan.slow_pad)
        control = await run_phase(target, "control", target.connected, *args)
        rows.append(control)
        healthy = target.connected
        slow_share = [plan.slow_count // len(target.receivers)] * len(target.receivers)
        slow_share[0] += plan.slow_count - sum(slow_share)
        answers = await gather(
            target.receivers,
            [target.connect_cmd(s, slow=True, rcvbuf=4096) for s in slow_share],
        )
        slow_failed = sum(a["failed"] for a in answers)
        if slow_failed:
            print(f"  {slow_failed} slow connections failed: {answers[0]['failures']}")
        row = await run_phase(target, "slow", healthy, *args)
        row.notes = f"+{plan.slow_count} clients that never read"
        if target.kind == "trioflix":
            metrics = await trioflix_chat_metrics(target.server)
            dropped = metrics.get('trioflix_chat_dropped_connections_total{reason="too_slow"}', 0)
            connections = metrics.get("trioflix_chat_connections", 0)
            row.notes += f"; server dropped {dropped:.0f} as too slow, {connections:.0f} left"
        rows.append(row)
        print("  " + row.notes, flush=True)
    finally:
        await target.close_clients()


def machine_info() -> dict[str, str]:
    return {**machine(), "socket.io": SOCKETIO_VERSION}


def fmt(value: float, digits: int = 1) -> str:
    return "n/a" if math.isnan(value) else f"{value:,.{digits}f}"


def ratio(a: float, b: float) -> str:
    if not b or math.isnan(a) or math.isnan(b):
        return "n/a"
    return f"{a / b:.2f}"


def markdown(rows: list[Row]) -> str:
    head = (
        "| server | scenario | clients | msg/s sent | delivered msg/s | delivered | "
        "p50 ms | p99 ms | server CPU s (% core) | server run-queue wait s | peak RSS MiB "
        "| load-client CPU s |\n"
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n"
    )
    body = ""
    for r in rows:
        pct = 100 * r.server_cpu_s / r.wall_s if r.wall_s else 0
        body += (
            f"| {r.server} | {r.scenario} | {r.clients} | {r.rate:.0f} | {fmt(r.throughput, 0)} "
            f"| {fmt(r.delivered_pct)}% | {fmt(r.p50_ms)} | {fmt(r.p99_ms)} "
            f"| {r.server_cpu_s:.2f} ({pct:.0f}%) | {r.server_wait_s:.2f} "
            f"| {r.rss_peak_mib:.0f} | {r.client_cpu_s:.2f} |\n"
        )
    keyed: dict[tuple[str, int, float], dict[str, Row]] = {}
    for r in rows:
        keyed.setdefault((r.scenario, r.clients, r.rate), {})[r.server] = r
    ratios = (
        "\nRatios, trioflix / socket.io (throughput: higher is better for trioflix; "
        "latency, CPU, RSS: lower is better):\n\n"
        "| scenario | clients | msg/s | delivered msg/s | p50 | p99 | server CPU | peak RSS |\n"
        "|---|--:|--:|--:|--:|--:|--:|--:|\n"
    )
    for (scenario, n, rate), pair in keyed.items():
        t, s = pair.get("trioflix"), pair.get("socket.io")
        if t is None or s is None:
            continue
        ratios += (
            f"| {scenario} | {n} | {rate:.0f} | {ratio(t.throughput, s.throughput)} "
            f"| {ratio(t.p50_ms, s.p50_ms)} | {ratio(t.p99_ms, s.p99_ms)} "
            f"| {ratio(t.server_cpu_s, s.server_cpu_s)} "
            f"| {ratio(t.rss_peak_mib, s.rss_peak_mib)} |\n"
        )
    for r in rows:
        if r.scenario in ("control", "slow"):
            rss = f"RSS {r.rss_start_mib:.0f} -> peak {r.rss_peak_mib:.0f}"
            rss += f" -> {r.rss_end_mib:.0f} MiB"
            r.notes = f"{r.notes}; {rss}" if r.notes else rss
    notes = "".join(
        f"\n- {r.server} {r.scenario} N={r.clients} {r.rate:.0f}/s: {r.notes}"
        + (f"; sender errors {r.errors}" if r.errors else "")
        + (f"; receivers closed {r.closed}" if r.closed else "")
        for r in rows
        if r.notes or r.errors or r.closed
    )
    return head + body + ratios + (("\nNotes:\n" + notes + "\n") if notes else "")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run (~2 minutes)")
    parser.add_argument("--clients", help="receiver counts, e.g. 100,500,1000,2000")
    parser.add_argument("--rates", help="messages per second, e.g. 10,50,100")
    parser.add_argument("--duration", type=float, help="seconds of sending per step")
    parser.add_argument("--only", choices=["trioflix", "socketio"], help="one server only")
    parser.add_argument("--budget", type=float, help="seconds for the measurements (default 420)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    return parser.parse_args(argv)


def make_plan(args: argparse.Namespace) -> Plan:
    if args.quick:
        plan = Plan([100, 500], [10, 50], 3.0, 100, 20, 50, 6.0, 400, 100.0)
    else:
        plan = Plan([100, 500, 1000, 2000], [10, 50, 100], 6.0, 200, 50, 50, 10.0, 400, 420.0)
    if args.clients:
        plan.clients = [int(x) for x in args.clients.split(",")]
    if args.rates:
        plan.rates = [float(x) for x in args.rates.split(",")]
    if args.duration:
        plan.duration = args.duration
    if args.budget:
        plan.budget_s = args.budget
    return plan


async def run(args: argparse.Namespace) -> None:
    plan = make_plan(args)
    started = time.monotonic()
    load_before = load_average()
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    senders = math.ceil(max([*plan.rates, plan.slow_rate]) / SENDER_RATE_MAX)
    rows: list[Row] = []
    kinds = [args.only] if args.only else ["trioflix", "socketio"]
    with tempfile.TemporaryDirectory(prefix="trioflix-bench-chat-") as tmp:
        workdir = Path(tmp)
        folder = None
        if "socketio" in kinds:
            print(f"npm install socket.io@{SOCKETIO_VERSION} into {workdir}", flush=True)
            folder = await install_socketio(workdir)
        for i, kind in enumerate(kinds):
            share = (plan.budget_s - (time.monotonic() - started)) / (len(kinds) - i)
            async with trio.open_nursery() as nursery:
                if kind == "trioflix":
                    server = await start_trioflix(nursery, workdir)
                    tokens = await setup_trioflix(server, senders)
                    target = Target(server, kind, f"/ws/chat/{OWNER}", tokens)
                else:
                    assert folder is not None
                    server = await start_socketio(nursery, folder)
                    resource = "/socket.io/?EIO=4&transport=websocket"
                    target = Target(server, kind, resource, [None] * senders)
                print(f"{server.name} pid {server.pid} on 127.0.0.1:{server.port}", flush=True)
                try:
                    await bench_server(target, plan, rows, time.monotonic(), share)
                finally:
                    await server.stop()
    info = machine_info()
    command = "nox -s bench -- chat" + "".join(f" {a}" for a in args.argv)
    print()
    print(f"Machine: {info['cpu']}, {info['memory']}, Linux {info['kernel']}")
    print(f"Software: Python {info['python']}, node {info['node']}, socket.io {info['socket.io']}")
    print(f"Command: {command}")
    print(f"Date: {date}; {senders} sender accounts; took {time.monotonic() - started:.0f} s")
    print(f"Load average (1, 5, 15 min) before: {load_before}; after: {load_average()}")
    print()
    print(markdown(rows))
    if args.json:
        payload: dict[str, Any] = {"machine": info, "command": command, "date": date}
        payload |= {"senders": senders, "loadavg": [load_before, load_average()]}
        payload["rows"] = [asdict(r) for r in rows]
        args.json.write_text(json.dumps(payload, indent=1))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else argv
    trio.run(_bounded, args)
    return 0


async def _bounded(args: argparse.Namespace) -> None:
    # The budget skips steps; this is the backstop if a server or client hangs.
    with trio.fail_after(make_plan(args).budget_s + RUN_SLACK_S):
        await run(args)


if __name__ == "__main__":
    raise SystemExit(main())
