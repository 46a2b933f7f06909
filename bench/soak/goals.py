"""The soak's goals, checked against its samples: each one PASS or FAIL with its figures.

Pure functions over the sample rows (:class:`bench.soak.samples.Sample` as dicts),
so the checks are tested without a run (``tests/bench/test_soak_goals.py``).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    Row = Mapping[str, Any]

__all__ = [
    "LAG_LIMIT_S",
    "RSS_GROWTH_LIMIT_MIB",
    "Goal",
    "check_goals",
    "lag_quantile",
    "quiet_windows",
    "rss_slope",
]

RSS_GROWTH_LIMIT_MIB = 1.0  # per 10 minutes, after the warm-up
LAG_LIMIT_S = 0.050  # event-loop lag p99
LAG_QUANTILE = 0.99
TEN_MINUTES_S = 600.0
# What must come back to the baseline once load is zero; fds and tasks are counted
# without the database's and Redis' pooled connections (a pool keeps up to its size
# open once it grew: bounded by design, not a leak; bench/soak/samples.py).
RETURNING = ("fds_own", "tasks_own", "children")
# Shown beside them, so that what the pools keep is seen too.
POOLED = ("tasks", "db_open", "redis_open")


@dataclass(frozen=True)
class Goal:
    name: str
    passed: bool
    detail: str

    def line(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'}  {self.name}: {self.detail}"


def rss_slope(rows: Sequence[Row], after_s: float) -> float | None:
    """Least-squares slope of the server's RSS, MiB per 10 minutes, over the samples
    taken ``after_s`` seconds or more into the run (None with fewer than 3)."""
    points = [
        (float(r["t"]), float(r["rss_mib"])) for r in rows if r["t"] >= after_s and r["rss_mib"]
    ]
    if len(points) < 3:
        return None
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_r = sum(r for _, r in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return None
    cov = sum((t - mean_t) * (r - mean_r) for t, r in points)
    return cov / var * TEN_MINUTES_S


def lag_quantile(buckets: Mapping[str, float], q: float = LAG_QUANTILE) -> float:
    """The upper bound (seconds) of the histogram bucket holding quantile ``q``.

    ``buckets`` maps each ``le`` bound (as Prometheus writes it, ``"+Inf"`` last) to
    its cumulative count; the answer is ``inf`` when the quantile is past the last
    finite bound, 0.0 when nothing was observed.
    """
    bounds = sorted((float(le), count) for le, count in buckets.items())
    total = bounds[-1][1] if bounds else 0
    if not total:
        return 0.0
    for bound, count in bounds:
        if count >= q * total:
            return bound
    return math.inf


def _lag_delta(first: Row, last: Row) -> dict[str, float]:
    """The lag histogram of the observations between two samples."""
    before = first.get("lag_buckets") or {}
    return {le: count - before.get(le, 0) for le, count in (last.get("lag_buckets") or {}).items()}


def quiet_windows(rows: Sequence[Row]) -> list[list[Row]]:
    """Each run of consecutive quiet samples (load at zero, queue drained)."""
    windows: list[list[Row]] = []
    previous = None
    for row in rows:
        if row["phase"] == "quiet":
            if previous != "quiet":
                windows.append([])
            windows[-1].append(row)
        previous = row["phase"]
    return windows


def _lowest(rows: Sequence[Row], name: str) -> Any:
    """The lowest ``name`` of ``rows`` (``None``: not sampled, as in a run made before
    the soak sampled it)."""
    return min((r[name] for r in rows if r.get(name) is not None), default=None)


def _returned(baseline: Sequence[Row], window: Sequence[Row]) -> tuple[bool, str]:
    # The lowest of each window: a sample can straddle a phase change (its /metrics is
    # read a moment after its phase), and what leaked stays in every sample anyway.
    figures, worse, pooled = [], [], []
    for name in RETURNING:
        before, after = _lowest(baseline, name), _lowest(window, name)
        figures.append(f"{name} {after}/{before}")
        if after is None or before is None or after > before:
            worse.append(name)
    for name in POOLED:
        pooled.append(f"{name} {_lowest(window, name)}/{_lowest(baseline, name)}")
    return (
        not worse,
        f"at {window[-1]['t'] / 60:.1f} min: {', '.join(figures)} (quiet/baseline;"
        f" with the pools: {', '.join(pooled)})"
        + (f"; not back: {', '.join(worse)}" if worse else ""),
    )


def check_goals(
    rows: Sequence[Row],
    *,
    warmup_s: float,
    error_lines: Sequence[str],
    uploads: Sequence[Row],
    recordings: Sequence[Row],
) -> list[Goal]:
    """Every goal of the soak over its samples and outcomes.

    Args:
        rows: The samples, in order; ``phase`` ``baseline`` before any load.
        warmup_s: RSS growth is judged on the samples after this.
        error_lines: The ERROR lines of the server's log.
        uploads: One row per finished upload: ``sha256_ok``, ``playable``.
        recordings: One row per recording: ``playable``.
    """
    goals = []
    slope = rss_slope(rows, warmup_s)
    goals.append(
        Goal(
            "RSS growth after the warm-up",
            slope is not None and slope < RSS_GROWTH_LIMIT_MIB,
            "not enough samples"
            if slope is None
            else f"{slope:+.2f} MiB per 10 min after {warmup_s / 60:.0f} min"
            f" (limit {RSS_GROWTH_LIMIT_MIB}); RSS"
            f" {min(r['rss_mib'] for r in rows):.0f}-{max(r['rss_mib'] for r in rows):.0f} MiB",
        )
    )
    baselines = [r for r in rows if r["phase"] == "baseline"]
    windows = quiet_windows(rows)
    if not baselines or not windows:
        goals.append(Goal("back to baseline at zero load", False, "no baseline or quiet window"))
    else:
        for window in windows:
            ok, detail = _returned(baselines, window)
            goals.append(Goal("back to baseline at zero load", ok, detail))
    measured = [r for r in rows if r.get("lag_buckets")]
    if measured:
        loaded = _lag_delta(baselines[-1] if baselines else measured[0], measured[-1])
        p99 = lag_quantile(loaded)
        total = loaded.get("+Inf", 0)
        worst = max(
            (lag_quantile(_lag_delta(a, b)) for a, b in itertools.pairwise(measured)),
            default=0.0,
        )
        goals.append(
            Goal(
                "event-loop lag p99",
                p99 <= LAG_LIMIT_S,
                f"p99 <= {p99 * 1000:g} ms over {total:.0f} probes (limit"
                f" {LAG_LIMIT_S * 1000:g} ms); worst 10 s interval p99 <= {worst * 1000:g} ms",
            )
        )
    else:
        goals.append(Goal("event-loop lag p99", False, "no lag samples"))
    goals.append(
        Goal(
            "no ERROR line in the log",
            not error_lines,
            f"{len(error_lines)} ERROR lines"
            + (f", first: {error_lines[0][:300]}" if error_lines else ""),
        )
    )
    matched = sum(bool(u["sha256_ok"]) for u in uploads)
    goals.append(
        Goal(
            "finished uploads' sha256 match",
            bool(uploads) and matched == len(uploads),
            f"{matched} of {len(uploads)}",
        )
    )
    playable = [*uploads, *recordings]
    fine = sum(bool(p["playable"]) for p in playable)
    problems = [p["detail"] for p in playable if not p["playable"] and p.get("detail")]
    goals.append(
        Goal(
            "every recording and upload playable",
            bool(recordings) and bool(uploads) and fine == len(playable),
            f"{fine} of {len(playable)} ({len(recordings)} recordings, {len(uploads)} uploads)"
            + (f"; first problem: {problems[0]}" if problems else ""),
        )
    )
    return goals
