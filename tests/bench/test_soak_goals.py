"""The soak's goal checks (``bench/soak/goals.py``) on made-up samples: each goal can fail."""

from __future__ import annotations

import math
from typing import Any

from bench.soak.goals import check_goals, lag_quantile, quiet_windows, rss_slope
from bench.soak.samples import parse_metrics


def _row(t: float, phase: str = "load", **changes: Any) -> dict[str, Any]:
    row = {
        "t": t,
        "phase": phase,
        "event": None,
        "rss_mib": 100.0,
        "fds_own": 40,
        "tasks": 60,
        "tasks_own": 40,
        "db_open": 5,
        "redis_open": 5,
        "children": 0,
        "lag_buckets": {"0.01": 100 * t, "0.05": 100 * t, "+Inf": 100 * t},
    }
    return {**row, **changes}


def _run(**quiet_changes: Any) -> list[dict[str, Any]]:
    rows = [_row(t, "baseline") for t in (10, 20)]
    rows += [_row(t, fds_own=90, tasks_own=880, children=3) for t in range(30, 1300, 10)]
    rows += [_row(t, "quiet", **quiet_changes) for t in (1300, 1310)]
    return rows


def _goals(rows: list[dict[str, Any]], **outcomes: Any) -> dict[str, bool]:
    arguments: dict[str, Any] = {
        "error_lines": [],
        "uploads": [{"sha256_ok": True, "playable": True}],
        "recordings": [{"playable": True}],
        **outcomes,
    }
    goals = check_goals(rows, warmup_s=60, **arguments)
    return {goal.name: goal.passed for goal in goals}


def test_a_steady_run_passes_every_goal() -> None:
    assert all(_goals(_run()).values())


def test_each_goal_fails_on_its_own() -> None:
    leak = _run()
    for row in leak:
        row["rss_mib"] = 100 + row["t"] / 300  # 2 MiB per 10 minutes
    assert not _goals(leak)["RSS growth after the warm-up"]
    assert not _goals(_run(tasks_own=41))["back to baseline at zero load"]
    assert not _goals(_run(children=1))["back to baseline at zero load"]
    slow = _run()
    slow[-1]["lag_buckets"] = {"0.01": 2000, "0.05": 2000, "0.1": 200_000, "+Inf": 200_000}
    assert not _goals(slow)["event-loop lag p99"]
    assert not _goals(_run(), error_lines=['{"level": "ERROR"}'])["no ERROR line in the log"]
    bad_upload = [{"sha256_ok": False, "playable": True}]
    assert not _goals(_run(), uploads=bad_upload)["finished uploads' sha256 match"]
    broken = [{"playable": False}]
    assert not _goals(_run(), recordings=broken)["every recording and upload playable"]
    assert not _goals(_run(), uploads=[])["finished uploads' sha256 match"]


def test_what_the_pools_keep_is_counted_out_and_shown() -> None:
    # Five more database and two more Redis connections than at the baseline: their
    # tasks are in "tasks", not in "tasks_own".
    kept = {"tasks": 71, "db_open": 10, "redis_open": 7}
    goals = check_goals(
        _run(**kept),
        warmup_s=60,
        error_lines=[],
        uploads=[{"sha256_ok": True, "playable": True}],
        recordings=[{"playable": True}],
    )
    (back,) = [goal for goal in goals if goal.name == "back to baseline at zero load"]
    assert back.passed
    assert "tasks_own 40/40" in back.detail
    assert "tasks 71/60, db_open 10/5, redis_open 7/5" in back.detail
    # A run sampled before tasks_own existed cannot be judged on it.
    old = _run()
    for row in old:
        del row["tasks_own"]
    assert not _goals(old)["back to baseline at zero load"]


def test_rss_slope_is_per_ten_minutes_after_the_warm_up() -> None:
    rows = [_row(t, rss_mib=500.0 if t < 600 else 100 + t / 600) for t in range(0, 3600, 10)]
    slope = rss_slope(rows, 600)
    assert slope is not None and math.isclose(slope, 1.0)
    assert rss_slope(rows[:2], 0) is None


def test_lag_quantile_is_the_bucket_bound() -> None:
    buckets = {"0.001": 90.0, "0.05": 99.0, "0.1": 100.0, "+Inf": 100.0}
    assert lag_quantile(buckets) == 0.05
    assert lag_quantile(buckets, 0.995) == 0.1
    assert lag_quantile({"0.1": 0.0, "+Inf": 10.0}) == math.inf
    assert lag_quantile({}) == 0.0


def test_quiet_windows_are_runs_of_quiet_samples() -> None:
    phases = ["baseline", "load", "quiet", "quiet", "load", "drain", "quiet"]
    windows = quiet_windows([_row(i, phase) for i, phase in enumerate(phases)])
    assert [[r["t"] for r in w] for w in windows] == [[2, 3], [6]]


def test_parse_metrics_reads_labelled_samples() -> None:
    text = (
        "# HELP trioflix_trio_tasks Trio tasks alive in this process.\n"
        "# TYPE trioflix_trio_tasks gauge\n"
        "trioflix_trio_tasks 57.0\n"
        'trioflix_event_loop_lag_seconds_bucket{le="0.05"} 12.0\n'
    )
    assert parse_metrics(text) == {
        "trioflix_trio_tasks": 57.0,
        'trioflix_event_loop_lag_seconds_bucket{le="0.05"}': 12.0,
    }
