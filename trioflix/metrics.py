"""Prometheus metrics, one registry per application instance.

Besides the request and login counters, the registry carries the health of the
process itself, read at scrape time or sampled by :func:`probe_runtime`: how late
the Trio scheduler runs a task that is due (event-loop lag), how many Trio tasks
are alive, how many database connections are in use and how many processing jobs
wait or run. A long soak watches these for leaks and stalls (docs/reliability.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import trio
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from prometheus_client.core import Metric

__all__ = ["KEPT_REQUEST_LABELS", "LAG_PROBE_INTERVAL_S", "Metrics", "count_tasks", "probe_runtime"]

#: How often the lag probe asks to be woken up: ten samples a second cost nothing
#: and catch any stall of the scheduler longer than a few milliseconds.
LAG_PROBE_INTERVAL_S = 0.1
# Fine below 50 ms (a live segment or chat frame late by that much is noticed),
# coarse above: a stall of seconds is a bug whatever its exact length.
LAG_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# Routes x methods x statuses seen: a few dozen; the bound keeps odd methods from growing it.
KEPT_REQUEST_LABELS = 256


def count_tasks() -> int:
    """The Trio tasks alive in the current run, counted over the task tree.

    Raises:
        RuntimeError: called outside a Trio run (trio's own error).
    """
    root = trio.lowlevel.current_root_task()
    assert root is not None, "a running Trio run has its root task"
    count = 0
    todo = [root]
    while todo:
        task = todo.pop()
        count += 1
        for nursery in task.child_nurseries:
            todo.extend(nursery.child_tasks)
    return count


@dataclass
class Metrics:
    """The registry and the metrics the app updates as things happen.

    Attributes:
        pool_use: The database pool's connections ``(in_use, open)``, set while the
            services run; it answers None for SQLite's single connection.
        job_depths: Processing jobs ``(queued, running)``, set while the services run.
    """

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    pool_use: Callable[[], tuple[int, int] | None] | None = None
    job_depths: Callable[[], tuple[int, int]] | None = None

    def __post_init__(self) -> None:
        self.http_requests = Counter(
            "trioflix_http_requests",
            "HTTP requests answered, by route pattern, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.http_duration = Histogram(
            "trioflix_http_request_duration_seconds",
            "Time from request to response headers, by route pattern.",
            ["route"],
            registry=self.registry,
        )
        self.internal_pulls = Gauge(
            "trioflix_internal_pulls",
            "Internal pulls other hosts hold open on this host's live channels.",
            registry=self.registry,
        )
        self.internal_pulls_opened = Counter(
            "trioflix_internal_pulls_opened",
            "Internal pulls other hosts opened on this host's live channels.",
            registry=self.registry,
        )
        self.logins_failed = Counter(
            "trioflix_logins_failed", "Failed login attempts.", registry=self.registry
        )
        self.event_loop_lag = Histogram(
            "trioflix_event_loop_lag_seconds",
            "How late the Trio scheduler woke a task that was due (sampled every"
            f" {LAG_PROBE_INTERVAL_S} s while the services run).",
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_RuntimeCollector(self))
        self._request_metrics: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def request_metrics(self, route: str, method: str, status: int) -> tuple[Counter, Histogram]:
        """The request counter and duration histogram of one route, method and status.

        ``labels()`` takes a lock and builds its key on every call; an LL-HLS player's
        eight requests a second ask for the same few, which are kept (up to
        :data:`KEPT_REQUEST_LABELS`; past that they are looked up each time).
        """
        key = (route, method, status)
        kept = self._request_metrics.get(key)
        if kept is None:
            kept = (
                self.http_requests.labels(route, method, str(status)),
                self.http_duration.labels(route),
            )
            if len(self._request_metrics) < KEPT_REQUEST_LABELS:
                self._request_metrics[key] = kept
        return kept

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _RuntimeCollector:
    """Trio tasks, database pool and job queue, read at scrape time (``/metrics`` is
    answered inside the Trio run, so the task tree can be walked there)."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def describe(self) -> list[Metric]:
        return []  # describing would scrape; see trioflix.chat.metrics

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "trioflix_trio_tasks", "Trio tasks alive in this process.", value=count_tasks()
        )
        pool = self._metrics.pool_use() if self._metrics.pool_use is not None else None
        if pool is not None:
            connections = GaugeMetricFamily(
                "trioflix_db_pool_connections",
                "Database pool connections, by state (in_use: lent to a query now).",
                labels=["state"],
            )
            in_use, size = pool
            connections.add_metric(["in_use"], in_use)
            connections.add_metric(["idle"], size - in_use)
            yield connections
        if self._metrics.job_depths is not None:
            queued, running = self._metrics.job_depths()
            jobs = GaugeMetricFamily(
                "trioflix_jobs",
                "Processing jobs of the site queue waiting (queued, as last counted) and"
                " running in this process.",
                labels=["state"],
            )
            jobs.add_metric(["queued"], queued)
            jobs.add_metric(["running"], running)
            yield jobs


async def probe_runtime(
    metrics: Metrics, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    """Sample the event-loop lag into ``metrics`` until cancelled (a service task).

    Each round sleeps :data:`LAG_PROBE_INTERVAL_S` and records how much later than
    asked it woke up: the time the scheduler spent on other tasks' work (or a
    blocking call) while this one was due.
    """
    task_status.started()
    while True:
        asked = trio.current_time() + LAG_PROBE_INTERVAL_S
        await trio.sleep_until(asked)
        metrics.event_loop_lag.observe(max(0.0, trio.current_time() - asked))
