"""The soak's samples as one picture: a panel per resource, faults and quiet minutes marked."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

from bench.soak.goals import LAG_LIMIT_S, lag_quantile

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

__all__ = ["plot"]


def _interval_p99_ms(rows: Sequence[dict[str, Any]]) -> list[float | None]:
    out: list[float | None] = [None]
    for before, after in itertools.pairwise(rows):
        if not before["lag_buckets"] or not after["lag_buckets"]:
            out.append(None)
            continue
        delta = {le: n - before["lag_buckets"].get(le, 0) for le, n in after["lag_buckets"].items()}
        out.append(min(lag_quantile(delta) * 1000, 5000.0))
    return out


def plot(rows: Sequence[dict[str, Any]], path: Path, title: str) -> None:
    """Draw ``rows`` into the PNG ``path``."""
    import matplotlib

    matplotlib.use("Agg")  # no display: a file only
    import matplotlib.pyplot as plt

    minutes = [r["t"] / 60 for r in rows]

    def series(name: str) -> list[float | None]:
        return [r.get(name) for r in rows]

    panels: list[tuple[str, list[tuple[str, list[Any]]]]] = [
        (
            "memory (MiB)",
            [("server RSS", series("rss_mib")), ("with children", series("tree_rss_mib"))],
        ),
        ("open fds", [("fds", series("fds")), ("less the pools", series("fds_own"))]),
        ("Trio tasks", [("tasks", series("tasks")), ("less the pools", series("tasks_own"))]),
        (
            "threads, children",
            [("threads", series("threads")), ("child processes", series("children"))],
        ),
        ("event-loop lag p99 per 10 s (ms)", [("p99", _interval_p99_ms(rows))]),
        ("CPU (% of one core)", [("server tree", series("cpu_percent"))]),
        (
            "database pool, Redis, jobs",
            [
                ("pool in use", series("db_in_use")),
                ("pool open", series("db_open")),
                ("Redis connections", series("redis_open")),
                ("jobs queued", series("jobs_queued")),
                ("jobs running", series("jobs_running")),
            ],
        ),
        (
            "clients",
            [
                ("chat connections", series("chat_connections")),
                ("live viewers", series("live_viewers")),
                (
                    "live channels x10",
                    [None if v is None else 10 * v for v in series("live_channels")],
                ),
            ],
        ),
    ]
    figure, axes = plt.subplots(4, 2, figsize=(14, 13), sharex=True)
    for axis, (label, lines) in zip(axes.flat, panels, strict=True):
        for name, values in lines:
            axis.plot(minutes, [float("nan") if v is None else v for v in values], label=name, lw=1)
        axis.set_title(label, fontsize=10)
        axis.grid(alpha=0.3)
        if len(lines) > 1:
            axis.legend(fontsize=7, loc="upper left")
        for row, minute in zip(rows, minutes, strict=True):
            if row["event"]:
                axis.axvline(minute, color="red", lw=0.8, alpha=0.6)
            if row["phase"] in ("quiet", "baseline"):
                axis.axvspan(minute - 1 / 6, minute, color="green", alpha=0.08, lw=0)
    axes.flat[4].axhline(LAG_LIMIT_S * 1000, color="black", ls="--", lw=0.8)
    for axis in axes[-1]:
        axis.set_xlabel("minutes")
    figure.suptitle(
        title + "\nred: faults injected; green: no load (baseline, quiet minutes)", fontsize=10
    )
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)
