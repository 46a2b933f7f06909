"""Same-run A/B of two edges of one origin, side by side: two edge read intervals, or
two source trees.

``python -m bench._edge_read_ab [--intervals 0 20] [--viewers 30 100] [--rounds 2]``
``python -m bench._edge_read_ab --trees BEFORE AFTER [--viewers 30 100] [--rounds 2]``

One site (:mod:`bench._site`: PostgreSQL, redis-server), its origin with the paced
3 Mbit/s publisher of :mod:`bench.cluster`, and two edges that differ only in
``--edge-read-interval-ms`` (the two ``--intervals``) or, with ``--trees``, in the
checkout they run from (``PYTHONPATH``; the origin runs from the first, both edges at
the server's default interval unless ``--intervals`` is given). At each audience the same
number of HTTP-FLV viewers (:mod:`bench._flv_viewers`) watch each edge at once, one
more on the origin in this process for the delays, and each host's process tree's
CPU is read over the same window (:func:`bench.cluster.measure`), so a shared,
noisy machine loads both edges alike. It prints each round's CPU of both edges,
their ratio, the edge hops' p50 / p99, each edge's wake-ups per second (voluntary
context switches, from the viewers' ramp to the window's end) and the viewers at full
rate; docs/benchmarks.md ("Cluster") quotes it.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from contextlib import AsyncExitStack
from functools import partial
from pathlib import Path
from typing import Any

import trio

from bench import live
from bench._machine import load_average, run_in_workdir
from bench._rtmp_publisher import publish_paced, read_media_tags
from bench._site import SiteHost, site_services
from bench.cluster import (
    CHANNEL,
    HOST,
    Configuration,
    Endpoint,
    Plan,
    System,
    looped,
    measure,
    wait_playing,
)
from protocols import flv

WINDOW_S = 20.0  # the window of the 15:48 runs
RUN_BUDGET_S = 20 * 60  # past this something is stuck
RAMP_S = 3.0


async def run(
    intervals: tuple[int | None, int | None],
    trees: tuple[Path | None, Path | None],
    audiences: list[int],
    rounds: int,
    workdir: Path,
    cache_dir: Path,
) -> list[dict[str, Any]]:
    sample = await live.make_sample(cache_dir)
    source_bps = sample.stat().st_size * 8 / live.SAMPLE_SECONDS
    tags = await trio.to_thread.run_sync(read_media_tags, sample)
    tags = looped(tags, live.SAMPLE_SECONDS * 1000, math.ceil(RUN_BUDGET_S / live.SAMPLE_SECONDS))
    video = {(t.tag_type, t.timestamp_ms): t.data for t in tags if t.tag_type == flv.TagType.VIDEO}
    results = []
    async with AsyncExitStack() as stack:
        services = await stack.enter_async_context(site_services(workdir))
        hosts = [SiteHost(workdir, "trioflix-origin", services, source_tree=trees[0])]
        hosts += [
            SiteHost(workdir, f"trioflix-edge{n}", services, ms, tree)
            for n, (ms, tree) in enumerate(zip(intervals, trees, strict=True), 1)
        ]
        pids = []
        for host in hosts:  # one by one: each binds before the next
            pids.append((await stack.enter_async_context(live.serving(host, "run"))).pid)
        origin = hosts[0]
        await origin.create_channels(1)
        system = System(
            "trioflix HTTP-FLV",
            [
                Endpoint(pid, h.http_port, h.play_path(CHANNEL), False)
                for pid, h in zip(pids, hosts, strict=True)
            ],
            services.pids,
        )
        nursery = await stack.enter_async_context(trio.open_nursery())
        await nursery.start(
            partial(
                publish_paced,
                HOST,
                origin.rtmp_port,
                origin.stream_key(CHANNEL),
                tags,
                sent_at=system.sent_at,
            )
        )
        for endpoint in system.hosts:
            await wait_playing(endpoint)
        for number in range(rounds):
            for viewers in audiences:
                print(f"round {number + 1}, {viewers} per edge", file=sys.stderr)
                plan = Plan(
                    viewers=viewers,
                    window_s=WINDOW_S,
                    light_window_s=WINDOW_S,
                    ramp_s=RAMP_S,
                    rounds=1,
                )
                config = Configuration(f"{viewers} per edge", (1, viewers, viewers))
                before = [(time.monotonic(), wakeups(pid)) for pid in pids]
                figures = await measure(system, config, plan, source_bps, video)
                rates = [
                    (wakeups(pid) - n) / (time.monotonic() - t)
                    for pid, (t, n) in zip(pids, before, strict=True)
                ]
                results.append(
                    {"round": number + 1, "viewers": viewers, "wakeups_per_s": rates, **figures}
                )
        nursery.cancel_scope.cancel()
    return results


def wakeups(pid: int) -> int:
    """How many times the threads of process ``pid`` have gone to sleep waiting (for a
    socket, a timer): its voluntary context switches, one per wake-up."""
    total = 0
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        for line in status.read_text().splitlines():
            if line.startswith("voluntary_ctxt_switches:"):
                total += int(line.split()[1])
    return total


def render(labels: tuple[str, str], results: list[dict[str, Any]]) -> str:
    a, b = labels
    lines = [
        f"| viewers on each edge | round | edge {a}, cores | edge {b}, cores"
        f" | {b} / {a} | hop p50 / p99 at {a} | hop p50 / p99 at {b}"
        f" | wake-ups/s at {a}, {b} | at full rate | load |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results:
        cores = row["host_cores"]
        hops = [row["hop_ms"].get(edge, {}) for edge in ("edge1", "edge2")]
        lines.append(
            f"| {row['viewers']} | {row['round']} | {cores[1]:.4f} | {cores[2]:.4f}"
            f" | **{cores[2] / cores[1]:.2f}**"
            + "".join(f" | {h.get('p50', 0):.1f} / {h.get('p99', 0):.1f}" for h in hops)
            + f" | {row['wakeups_per_s'][1]:.0f}, {row['wakeups_per_s'][2]:.0f}"
            + f" | {row['full_rate']}/{sum(row['placement'])} | {row['load'].split()[0]} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench._edge_read_ab", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--intervals", type=int, nargs=2, metavar="MS")
    parser.add_argument(
        "--trees", type=Path, nargs=2, metavar="DIR", help="the checkouts the edges run from"
    )
    parser.add_argument("--viewers", type=int, nargs="+", default=[30, 100])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "trioflix-bench")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    args = parser.parse_args(argv)
    trees: tuple[Path | None, Path | None] = (None, None)
    intervals: tuple[int | None, int | None] = (None, None) if args.trees else (0, 20)
    if args.intervals:
        intervals = (args.intervals[0], args.intervals[1])
    if args.trees:
        trees = (args.trees[0].resolve(), args.trees[1].resolve())
        labels = (str(args.trees[0]), str(args.trees[1]))
    else:
        labels = (f"{intervals[0]} ms", f"{intervals[1]} ms")
    load_start = load_average()

    async def bounded(workdir: Path) -> dict[str, Any]:
        with trio.fail_after(RUN_BUDGET_S):
            results = await run(
                intervals, trees, args.viewers, args.rounds, workdir, args.cache_dir
            )
        return {"meta": {}, "results": results}

    def in_workdir(workdir: Path) -> dict[str, Any]:
        return trio.run(bounded, workdir)

    report = run_in_workdir(
        in_workdir, prefix="trioflix-bench-edge-ab-", keep=args.keep, json_path=None
    )
    print(f"load {load_start} before, {report['meta']['load_end']} after")
    print(render(labels, report["results"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
