"""A sample of the server every 10 s: what psutil sees of its process tree, and ``/metrics``.

psutil gives the server's RSS, open file descriptors, threads, child processes,
CPU and its connections to Redis; the server's own ``/metrics``
(``trioflix/metrics.py``) gives what only the process knows: Trio tasks, event-loop
lag (a histogram, kept cumulative here so any window's quantile can be taken
later), database pool use and processing jobs. Each sample is one JSON line in
``samples.jsonl``.

The database's and Redis' client pools keep the connections a peak of load opened,
up to their sizes (asyncpg: ``POOL_MAX_SIZE``, 10; coredis: 64 per client, and the
server has two, the chat bus's and the site's): bounded by design, not a leak. So
each sample also counts its fds and Trio tasks without them (``fds_own``,
``tasks_own``): an asyncpg connection is a socket and one trio-asyncio I/O task, a
coredis connection a socket and three tasks (its runner, reader and writer).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import psutil
import trio

from bench._machine import load_average

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

__all__ = ["INTERVAL_S", "Sample", "Sampler", "parse_metrics"]

INTERVAL_S = 10.0
SCRAPE_TIMEOUT_S = 5.0  # /metrics answers in milliseconds; a stalled server is itself a finding
MIB = 1024 * 1024
TASKS_PER_DB_CONNECTION = 1  # trio-asyncio's I/O task for its socket
TASKS_PER_REDIS_CONNECTION = 3  # coredis: the pool's runner, the reader, the writer
LAG_BUCKET = "trioflix_event_loop_lag_seconds_bucket"


def parse_metrics(text: str) -> dict[str, float]:
    """Every sample line of a Prometheus text exposition: ``name{labels}`` to value."""
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


@dataclass
class Sample:
    """One row. Times in seconds since the run began; sizes in MiB."""

    t: float
    phase: str  # baseline, load, drain (clients gone, server's own work finishing), quiet
    event: str | None
    load_average: str
    rss_mib: float  # the server process
    tree_rss_mib: float  # with its children (the job child, live ladders)
    fds: int
    fds_own: int  # fds less the database's and Redis' pooled connections
    threads: int
    children: int
    cpu_percent: float  # of one core, the process tree, since the last sample
    redis_open: int | None = None  # connections to Redis (both clients' pools)
    tasks: int | None = None
    tasks_own: int | None = None  # tasks less those of the pooled connections
    lag_buckets: dict[str, float] = field(default_factory=dict)
    db_in_use: int | None = None
    db_open: int | None = None
    jobs_queued: int | None = None
    jobs_running: int | None = None
    live_channels: int | None = None
    live_viewers: int | None = None
    chat_connections: int | None = None
    clients: dict[str, int] = field(default_factory=dict)


class Sampler:
    """Samples the server ``pid`` (serving ``/metrics`` at ``base_url``, using Redis on
    ``redis_port``) into ``path``."""

    def __init__(
        self, pid: int, base_url: str, path: Path, started: float, redis_port: int
    ) -> None:
        self.process = psutil.Process(pid)
        self.base_url = base_url
        self.redis_port = redis_port
        self.path = path
        self.started = started
        self.rows: list[dict[str, Any]] = []
        self._cpu: tuple[float, dict[int, float]] | None = None

    def _cpu_by_pid(self, processes: list[psutil.Process]) -> dict[int, float]:
        seconds = {}
        for process in processes:
            try:
                times = process.cpu_times()
            except psutil.Error:
                continue  # ended between the listing and the read
            seconds[process.pid] = times.user + times.system
        return seconds

    def _processes(self) -> tuple[list[psutil.Process], float]:
        children = self.process.children(recursive=True)
        tree_rss = 0
        for process in [self.process, *children]:
            try:
                tree_rss += process.memory_info().rss
            except psutil.Error:
                continue
        return children, tree_rss / MIB

    def _redis_connections(self) -> int:
        return sum(
            1
            for connection in self.process.net_connections("tcp")
            if connection.raddr and connection.raddr.port == self.redis_port
        )

    async def sample(
        self, phase: str, event: str | None, clients: dict[str, int]
    ) -> dict[str, Any]:
        """Take one sample now, append it to the file and return it."""
        now = time.monotonic()
        children, tree_rss = await trio.to_thread.run_sync(self._processes)
        cpu = await trio.to_thread.run_sync(self._cpu_by_pid, [self.process, *children])
        cpu_percent = 0.0
        if self._cpu is not None:
            # Per process: a child that ended since the last sample takes its seconds
            # with it, which must not count as negative CPU.
            before_t, before = self._cpu
            used = sum(max(0.0, s - before.get(pid, 0.0)) for pid, s in cpu.items())
            cpu_percent = 100 * used / max(now - before_t, 1e-6)
        self._cpu = (now, cpu)
        fds = self.process.num_fds()
        redis_open = await trio.to_thread.run_sync(self._redis_connections)
        sample = Sample(
            t=now - self.started,
            phase=phase,
            event=event,
            load_average=load_average(),
            rss_mib=self.process.memory_info().rss / MIB,
            tree_rss_mib=tree_rss,
            fds=fds,
            fds_own=fds - redis_open,
            redis_open=redis_open,
            threads=self.process.num_threads(),
            children=len(children),
            cpu_percent=cpu_percent,
            clients=dict(clients),
        )
        try:
            async with httpx.AsyncClient(timeout=SCRAPE_TIMEOUT_S) as client:
                text = (await client.get(f"{self.base_url}/metrics")).text
        except httpx.HTTPError:
            pass  # a sample without the server's figures; the gap shows in the plot
        else:
            self._read_metrics(sample, parse_metrics(text))
        row = asdict(sample)
        self.rows.append(row)
        with self.path.open("a") as file:
            file.write(json.dumps(row) + "\n")
        return row

    @staticmethod
    def _read_metrics(sample: Sample, values: dict[str, float]) -> None:
        def one(name: str) -> int | None:
            value = values.get(name)
            return None if value is None else int(value)

        sample.tasks = one("trioflix_trio_tasks")
        redis_tasks = TASKS_PER_REDIS_CONNECTION * (sample.redis_open or 0)
        if sample.tasks is not None:
            sample.tasks_own = sample.tasks - redis_tasks
        sample.lag_buckets = {
            name.split('le="', 1)[1].split('"', 1)[0]: value
            for name, value in values.items()
            if name.startswith(LAG_BUCKET)
        }
        sample.db_in_use = one('trioflix_db_pool_connections{state="in_use"}')
        idle = one('trioflix_db_pool_connections{state="idle"}')
        if sample.db_in_use is not None and idle is not None:
            sample.db_open = sample.db_in_use + idle
            sample.fds_own -= sample.db_open
            if sample.tasks_own is not None:
                sample.tasks_own -= TASKS_PER_DB_CONNECTION * sample.db_open
        sample.jobs_queued = one('trioflix_jobs{state="queued"}')
        sample.jobs_running = one('trioflix_jobs{state="running"}')
        sample.live_channels = one("trioflix_live_channels")
        sample.live_viewers = int(
            sum(v for name, v in values.items() if name.startswith("trioflix_live_viewers{"))
        )
        sample.chat_connections = one("trioflix_chat_connections")


async def sample_forever(
    sampler: Sampler, state: Callable[[], tuple[str, str | None, dict[str, int]]]
) -> None:
    """A sample every :data:`INTERVAL_S` until cancelled; ``state()`` gives the phase,
    the event of the moment (a fault) and the client counts."""
    deadline = trio.current_time()
    while True:
        await sampler.sample(*state())
        deadline += INTERVAL_S
        await trio.sleep_until(deadline)
