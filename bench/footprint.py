"""Footprint benchmark: trioflix's resident memory idle, and with publishers and viewers.

    nox -s bench -- footprint            # full run, about 90 s (2 min on a busy machine)
    nox -s bench -- footprint --quick    # smoke run, under a minute
    python -m bench.footprint --help     # from the repository root, in .venv

Phases, each with a server started fresh in a fresh data folder (so ``VmHWM`` is that
phase's peak):

- imports: a fresh ``python -c "import trioflix.server"``, its peak resident size;
- idle: ``trioflix serve`` on the embedded defaults (SQLite, media in the data folder,
  live HLS on), two pages fetched (``/``, ``/api/videos``); ``VmRSS`` and ``VmHWM`` once
  it answers, and again after :attr:`Plan.idle_s` idle, with where the idle memory is
  (``/proc/PID/smaps``, by mapping);
- load: ``trioflix serve --hls off`` with :attr:`Plan.publishers` ffmpeg ``-re -c copy``
  publishers of the 3 Mbit/s sample of ``bench/live.py`` and :attr:`Plan.viewers` light
  HTTP-FLV viewers (``bench/_flv_viewers.py``) spread over the channels: ``VmRSS`` once
  started, once every publisher is live, its median over the window with everyone
  connected (steady), and ``VmHWM`` at the window's end (peak), with the smaps split.

The channels and stream keys are made by an earlier run of the server on the same data
folder: registering hashes passwords with Argon2id (64 MiB each), which is a sign-up's
footprint, not a stream's. Everything talks to 127.0.0.1 only, every wait is bounded,
and every process is stopped on the way out.

The servers and the import run in the work folder, so they load the trioflix that is
installed (nox's session installs this tree) or the one ``PYTHONPATH`` names: from
.venv, ``PYTHONPATH=TREE python -m bench.footprint`` measures ``TREE``.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import trio

from bench._machine import (
    add_run_options,
    report_header,
    run_in_workdir,
    run_meta,
)
from bench._proc import status_kib
from bench.live import (
    HOST,
    PUBLISHER_STAGGER_S,
    REPOSITORY,
    SAMPLE_SECONDS,
    VIEWER_PROCESS_START_S,
    WARMUP_S,
    PublisherRun,
    Trioflix,
    make_sample,
    run_ffmpeg,
    serving,
    wait_live,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

RUN_BUDGET_S = 10 * 60  # the full run takes ~90 s; past this something is stuck
IMPORT_TIMEOUT_S = 60.0
SAMPLE_EVERY_S = 1.0  # VmRSS during the load window
VIEWERS_PER_PROCESS = 250  # light viewers: a few hundredths of a core per hundred
# A mapping of its own in the smaps split when it holds at least this much; the rest of
# the files are summed as "other files".
SMAPS_OWN_ROW_KIB = 1024
KIB_PER_MIB = 1024


@dataclass(frozen=True)
class Plan:
    idle_s: float  # the idle server is read again after this long
    publishers: int
    viewers: int
    window_s: float  # everyone connected: the steady RSS is sampled over it
    ramp_s: float  # viewers connect spread over this


FULL = Plan(30.0, 25, 200, 12.0, 4.0)
QUICK = Plan(5.0, 3, 20, 4.0, 1.0)


class EmbeddedDefaults(Trioflix):
    """``trioflix serve`` as a host that set only its ports and data folder: live HLS on."""

    def command(self) -> list[str]:
        command = super().command()
        at = command.index("--hls")
        return command[:at] + command[at + 2 :]

    def describe(self) -> str:
        return (
            "trioflix (this tree), `trioflix serve` on the embedded defaults (SQLite, live HLS on)"
        )


def _mib(kib: float) -> float:
    return round(kib / KIB_PER_MIB, 1)


def memory(pid: int) -> dict[str, float]:
    """``VmRSS`` and ``VmHWM`` of ``pid`` in MiB."""
    return {"rss_mib": _mib(status_kib(pid, "VmRSS")), "hwm_mib": _mib(status_kib(pid, "VmHWM"))}


def _mapping_name(path: str) -> str:
    if not path:
        return "anonymous (Python's arenas, threads' arenas and stacks, blocks >= 128 KiB)"
    if path == "[heap]":
        return "glibc's main heap"
    if path.startswith("["):
        return "kernel-provided ([stack], [vdso], ...)"
    return Path(path).name


def smaps_split(pid: int) -> dict[str, float]:
    """``pid``'s resident MiB by mapping (``/proc/PID/smaps``): anonymous, the main
    heap, and each file of at least :data:`SMAPS_OWN_ROW_KIB` (the others summed)."""
    kib: dict[str, int] = {}
    name = ""
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        fields = line.split()
        if "-" in fields[0] and not fields[0].endswith(":"):  # a mapping's header line
            name = _mapping_name(" ".join(fields[5:]))
        elif fields[0] == "Rss:":
            kib[name] = kib.get(name, 0) + int(fields[1])
    fixed = {_mapping_name(""), _mapping_name("[heap]"), _mapping_name("[stack]")}
    split: dict[str, float] = {}
    other = 0
    for key, size in sorted(kib.items(), key=lambda item: -item[1]):
        if size >= SMAPS_OWN_ROW_KIB or key in fixed:
            split[key] = _mib(size)
        else:
            other += size
    split["other files"] = _mib(other)
    return split


async def import_peak(workdir: Path) -> float:
    """Peak resident MiB of a fresh interpreter that imports ``trioflix.server``, from
    ``workdir`` as the servers run: the trioflix on the path, not the current folder's."""
    code = (
        "import trioflix.server, pathlib;"
        "print(next(l.split()[1] for l in pathlib.Path('/proc/self/status').read_text()"
        ".splitlines() if l.startswith('VmHWM:')))"
    )
    with trio.fail_after(IMPORT_TIMEOUT_S):
        done = await trio.run_process(
            [sys.executable, "-c", code], capture_stdout=True, cwd=workdir
        )
    return _mib(int(done.stdout))


async def idle(workdir: Path, plan: Plan) -> dict[str, Any]:
    await trio.Path(workdir).mkdir()
    server = EmbeddedDefaults(workdir)
    async with serving(server, "idle") as running:
        async with httpx.AsyncClient(base_url=f"http://{HOST}:{server.http_port}") as client:
            for page in ("/", "/api/videos"):
                (await client.get(page)).raise_for_status()
        started = memory(running.pid)
        await trio.sleep(plan.idle_s)
        return {
            "started": started,
            "idle": memory(running.pid),
            "smaps": smaps_split(running.pid),
            "errors_logged": running.errors_logged(),
        }


async def run_viewers(
    server: Trioflix,
    channels: int,
    count: int,
    start_at: float,
    plan: Plan,
    window: tuple[float, float],
    out: list[dict[str, Any]],
) -> None:
    paths = [server.play_path(index) for index in range(channels)]
    done = await trio.run_process(
        [
            sys.executable,
            "-m",
            "bench._flv_viewers",
            "--port",
            str(server.http_port),
            "--path",
            *paths,
            "--light",
            "--count",
            str(count),
            "--start-at",
            repr(start_at),
            "--ramp-s",
            repr(plan.ramp_s),
            "--window",
            repr(window[0]),
            repr(window[1]),
            "--stop-at",
            repr(window[1] + 0.3),
        ],
        capture_stdout=True,
        cwd=REPOSITORY,
    )
    out.append(json.loads(done.stdout))


async def loaded(workdir: Path, sample: Path, plan: Plan) -> dict[str, Any]:
    await trio.Path(workdir).mkdir()
    server = Trioflix(workdir)
    async with serving(server, "setup"):
        await server.create_channels(plan.publishers)
    publishers = [PublisherRun() for _ in range(plan.publishers)]
    outputs: list[dict[str, Any]] = []
    samples: list[int] = []
    async with serving(server, "load") as running, trio.open_nursery() as nursery:
        started = memory(running.pid)
        first = time.monotonic()
        for index in range(plan.publishers):
            log = workdir / f"ffmpeg-{index}.log"
            url = server.publish_url(index)
            nursery.start_soon(run_ffmpeg, sample, url, SAMPLE_SECONDS, log, publishers[index])
            await trio.sleep(PUBLISHER_STAGGER_S)
        for index in range(plan.publishers):
            await wait_live(server, index)
        publishing = memory(running.pid)
        start_at = time.monotonic() + VIEWER_PROCESS_START_S
        window_start = start_at + plan.ramp_s + WARMUP_S
        window = (window_start, window_start + plan.window_s)
        if window[1] > first + SAMPLE_SECONDS - 1.0:
            raise RuntimeError("the publishers' sample ends before the window: shorten it")
        async with trio.open_nursery() as viewers:
            processes = math.ceil(plan.viewers / VIEWERS_PER_PROCESS)
            for part in range(processes):
                share = plan.viewers // processes + (part < plan.viewers % processes)
                viewers.start_soon(
                    run_viewers, server, plan.publishers, share, start_at, plan, window, outputs
                )
            await trio.sleep(max(0.0, window[0] - time.monotonic()))
            while time.monotonic() < window[1]:
                samples.append(status_kib(running.pid, "VmRSS"))
                await trio.sleep(SAMPLE_EVERY_S)
            peak = memory(running.pid)
            split = smaps_split(running.pid)
        nursery.cancel_scope.cancel()
    results = [viewer for out in outputs for viewer in out["viewers"]]
    return {
        "started": started,
        "publishing": publishing,
        "steady_rss_mib": _mib(statistics.median(samples)),
        "peak": peak,
        "smaps": split,
        "viewers_with_keyframe": sum(r["first_keyframe_s"] is not None for r in results),
        "viewer_errors": sum(r["error"] is not None for r in results),
        "errors_logged": running.errors_logged(),
    }


async def run(plan: Plan, workdir: Path, cache_dir: Path, meta: dict[str, Any]) -> dict[str, Any]:
    sample = await make_sample(cache_dir)
    meta["servers"] = {
        "idle": EmbeddedDefaults(workdir).describe(),
        "load": Trioflix(workdir).describe(),
    }
    print("imports", file=sys.stderr)
    imports = await import_peak(workdir)
    print("idle server", file=sys.stderr)
    idle_figures = await idle(workdir / "idle", plan)
    print(f"{plan.publishers} publishers, {plan.viewers} viewers", file=sys.stderr)
    load_figures = await loaded(workdir / "load", sample, plan)
    return {"meta": meta, "import_peak_mib": imports, "idle": idle_figures, "load": load_figures}


def render(report: dict[str, Any]) -> str:
    """The tables of ``docs/benchmarks.md``'s "Footprint" section for this run."""
    plan = report["meta"]["plan"]
    idle_figures, load = report["idle"], report["load"]
    lines = [
        "| phase | VmRSS MiB | VmHWM (peak) MiB |",
        "|---|---:|---:|",
        f"| `import trioflix.server` | | {report['import_peak_mib']:.1f} |",
        f"| idle, defaults: started, two pages served | {idle_figures['started']['rss_mib']:.1f}"
        f" | {idle_figures['started']['hwm_mib']:.1f} |",
        f"| idle, defaults: after {plan['idle_s']:g} s | {idle_figures['idle']['rss_mib']:.1f}"
        f" | {idle_figures['idle']['hwm_mib']:.1f} |",
        f"| `--hls off`: started | {load['started']['rss_mib']:.1f}"
        f" | {load['started']['hwm_mib']:.1f} |",
        f"| {plan['publishers']} publishers live | {load['publishing']['rss_mib']:.1f}"
        f" | {load['publishing']['hwm_mib']:.1f} |",
        f"| {plan['publishers']} publishers, {plan['viewers']} viewers: steady (median) / peak"
        f" | {load['steady_rss_mib']:.1f} | {load['peak']['hwm_mib']:.1f} |",
        "",
        f"Viewers with a keyframe: {load['viewers_with_keyframe']}/{plan['viewers']}, viewer"
        f" errors: {load['viewer_errors']}; errors in the server logs: idle"
        f" {idle_figures['errors_logged']}, load {load['errors_logged']}.",
        "",
        "Resident MiB by mapping (`/proc/PID/smaps`):",
        "",
        "| mapping | idle, defaults | under load |",
        "|---|---:|---:|",
    ]
    names = list(dict.fromkeys([*idle_figures["smaps"], *load["smaps"]]))
    for name in names:
        lines.append(
            f"| {name} | {idle_figures['smaps'].get(name, 0.0):.1f}"
            f" | {load['smaps'].get(name, 0.0):.1f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.footprint", description=__doc__.split("\n\n")[0]
    )
    add_run_options(parser, quick="a short smoke run", sample_cache=True)
    args = parser.parse_args(argv)
    if shutil.which("ffmpeg") is None:
        parser.error("ffmpeg is not on PATH")
    plan = QUICK if args.quick else FULL
    meta = run_meta("nox -s bench -- footprint" + (" --quick" if args.quick else ""), plan)
    report = run_in_workdir(
        lambda workdir: trio.run(partial(_bounded, plan, workdir, args.cache_dir, meta)),
        prefix="trioflix-bench-footprint-",
        keep=args.keep,
        json_path=args.json,
    )
    m = report["meta"]
    print(report_header(m, versions=m["machine"]["ffmpeg"], servers=m["servers"]))
    print()
    print(render(report))
    return 0


async def _bounded(plan: Plan, workdir: Path, cache_dir: Path, meta: dict[str, Any]) -> Any:
    with trio.fail_after(RUN_BUDGET_S):
        return await run(plan, workdir, cache_dir, meta)


if __name__ == "__main__":
    raise SystemExit(main())
