"""Paired ingest of this checkout's trioflix against another checkout's, with nms and
nginx-rtmp beside them.

``python -m bench._paired_baseline /path/to/other/checkout [--publishers 10] [--rounds 3]
[--read-interval-ms MS] [--peers nms,nginx-rtmp]``
``python -m bench._paired_baseline /path/to/other/checkout --fanout 200 500 1000
[--read-interval-ms MS]``

A refactoring should not cost ingest CPU. This runs :func:`bench.live.paired_ingest`
with two trioflix servers, this checkout's and the one in ``SRC`` (its ``trioflix``
package imported through ``PYTHONPATH``), node-media-server and nginx-rtmp, all at
once with their own publishers and their CPU read over the same window, so a shared,
noisy machine loads them alike. It prints each round's CPU per stream-second and the
ratios to each peer; the two trioflix ratios are the comparison.

With ``--fanout``, the fan-out phase of :mod:`bench.live` instead: at each audience,
this checkout's trioflix, the other's and nginx-rtmp one after the other (the first
of them changing from level to level), and the fan-out table.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import trio

from bench import live
from bench._machine import load_average

BASELINE = "trioflix-baseline"


class BaselineTrioflix(live.Trioflix):
    """``trioflix serve`` from another checkout, otherwise run exactly as this one's."""

    def __init__(self, workdir: Path, source: Path, read_interval_ms: int | None) -> None:
        super().__init__(workdir, read_interval_ms)
        self.name = BASELINE
        self.data_dir = workdir / f"{self.name}-data"
        self.source = source

    def command(self) -> list[str]:
        return ["env", f"PYTHONPATH={self.source}", *super().command()]


async def run(
    source: Path,
    publishers: int,
    rounds: int,
    read_interval_ms: int | None,
    peer_names: list[str],
    workdir: Path,
) -> dict[str, Any]:
    sample = await live.make_sample(Path.home() / ".cache" / "trioflix-bench")
    ours = live.Trioflix(workdir, read_interval_ms)
    theirs = BaselineTrioflix(workdir, source, read_interval_ms)
    peers: list[live.Server] = []
    if "nms" in peer_names:
        nms = live.NodeMediaServer(workdir)
        await nms.install()
        peers.append(nms)
    if live.NGINX_RTMP in peer_names:
        peers.append(live.NginxLive(workdir))
    for server in (ours, theirs):
        async with live.serving(server, "setup"):
            await server.create_channels(publishers)
    plan = replace(live.FULL, paired_rounds=rounds)
    return await live.paired_ingest((ours, theirs), peers, sample, publishers, plan)


async def run_fanout(
    source: Path, levels: list[int], read_interval_ms: int | None, workdir: Path
) -> dict[str, Any]:
    sample = await live.make_sample(Path.home() / ".cache" / "trioflix-bench")
    source_bps = sample.stat().st_size * 8 / live.SAMPLE_SECONDS
    servers: tuple[live.Server, ...] = (
        live.Trioflix(workdir, read_interval_ms),
        BaselineTrioflix(workdir, source, read_interval_ms),
        live.NginxLive(workdir),
    )
    for server in servers[:2]:
        assert isinstance(server, live.Trioflix)
        async with live.serving(server, "setup"):
            await server.create_channels(1)
    # The servers' names, as paired_ingest's: "trioflix-0ms" with --read-interval-ms 0.
    report: dict[str, Any] = {
        "source_bps": source_bps,
        "servers": [server.name for server in servers],
    }
    report |= {server.name: {"fanout": []} for server in servers}
    order = servers
    for count in levels:
        for server in order:
            print(f"fan-out: {count} viewers <- {server.name}", file=sys.stderr)
            figures = await live.fanout(server, sample, count, live.FULL, source_bps)
            report[server.name]["fanout"].append(figures)
        order = order[1:] + order[:1]
    return report


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench._paired_baseline", description=__doc__)
    parser.add_argument("source", type=Path, help="the other checkout (its root folder)")
    parser.add_argument("--publishers", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--fanout", type=int, nargs="+", metavar="VIEWERS")
    parser.add_argument(
        "--read-interval-ms",
        type=int,
        help="both servers' --rtmp-read-interval-ms (default: the server's own default)",
    )
    parser.add_argument(
        "--peers",
        default=f"nms,{live.NGINX_RTMP}",
        help="the servers the ratios are to, comma-separated (fewer: a lighter run)",
    )
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="trioflix-bench-baseline-"))
    if args.fanout:
        try:
            report = trio.run(
                partial(
                    run_fanout, args.source.resolve(), args.fanout, args.read_interval_ms, workdir
                )
            )
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        print(json.dumps(report))
        print("\n".join(live.render_fanout(report, report["servers"])))
        return
    try:
        report = trio.run(
            partial(
                run,
                args.source.resolve(),
                args.publishers,
                args.rounds,
                args.read_interval_ms,
                args.peers.split(","),
                workdir,
            )
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    for number, round_ in enumerate(report["rounds"], 1):
        print(f"round {number}: {json.dumps(round_)}")
    print(f"median ratios: {json.dumps(report['median_ratio'])}; load {load_average()}")


if __name__ == "__main__":
    main()
