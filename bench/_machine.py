"""What every benchmark reports about the machine it ran on, so figures can be compared."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Mapping

    from _typeshed import DataclassInstance

__all__ = [
    "SAMPLE_CACHE",
    "add_run_options",
    "load_average",
    "machine",
    "node_version",
    "report_header",
    "run_in_workdir",
    "run_meta",
]

# Where benchmarks keep the media ffmpeg made for them between runs.
SAMPLE_CACHE = Path.home() / ".cache" / "trioflix-bench"


def load_average() -> str:
    """1-, 5- and 15-minute load averages: how shared the machine was."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def node_version() -> str:
    node = shutil.which("node")
    if node is None:
        return "none"
    return subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()


def _ffmpeg_version() -> str:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return "none"
    out = subprocess.run([ffmpeg, "-version"], capture_output=True, text=True).stdout
    return out.split("\n", 1)[0].split(" Copyright")[0]


def machine() -> dict[str, str]:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    return {
        "cpu": f"{os.cpu_count()} x {model}",
        "memory": f"{mem_kib / 1024 / 1024:.0f} GiB",
        "kernel": platform.release(),
        "python": platform.python_version(),
        "node": node_version(),
        "ffmpeg": _ffmpeg_version(),
    }


def report_header(meta: Mapping[str, Any], *, versions: str, servers: Mapping[str, str]) -> str:
    """The lines every benchmark prints above its tables, as docs/benchmarks.md quotes them.

    Args:
        meta: The run's record: ``machine`` (from :func:`machine`), ``command``,
            ``date``, ``duration_s``, and ``load_start`` and ``load_end`` (from
            :func:`load_average`).
        versions: What follows "Python X.Y.Z, " on the versions line (ffmpeg's
            or SeaweedFS's version, say).
        servers: One line each, ``name: description``, in this order.
    """
    host = meta["machine"]
    return "\n".join(
        [
            f"Machine: {host['cpu']}, Linux {host['kernel']}",
            f"Versions: Python {host['python']}, {versions}",
            *(f"{name}: {describe}" for name, describe in servers.items()),
            f"Command: `{meta['command']}`; date: {meta['date']}; took {meta['duration_s']} s",
            f"Load average (1/5/15 min): {meta['load_start']} at the start, "
            f"{meta['load_end']} at the end",
        ]
    )


def run_in_workdir(
    run: Callable[[Path], dict[str, Any]], *, prefix: str, keep: bool, json_path: Path | None
) -> dict[str, Any]:
    """``run(workdir)`` in a fresh work folder, removed afterwards unless ``keep``.

    ``run`` returns the report; its ``meta`` gains ``duration_s`` and ``load_end``,
    and the whole report is written to ``json_path`` if one is given.
    """
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    started = time.monotonic()
    try:
        report = run(workdir)
    finally:
        if keep:
            print(f"work folder kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    report["meta"]["duration_s"] = round(time.monotonic() - started)
    report["meta"]["load_end"] = load_average()
    if json_path:
        json_path.write_text(json.dumps(report, indent=2))
    return report


def add_run_options(
    parser: argparse.ArgumentParser, *, quick: str, sample_cache: bool = False
) -> None:
    """The options of a benchmark's run, whatever it measures: ``--quick`` (``quick``
    says what the smoke run is), ``--json``, ``--keep`` and, for one that makes its
    media with ffmpeg (``sample_cache``), ``--cache-dir``."""
    parser.add_argument("--quick", action="store_true", help=quick)
    parser.add_argument("--json", type=Path, help="also write every figure here")
    if sample_cache:
        parser.add_argument(
            "--cache-dir",
            type=Path,
            default=SAMPLE_CACHE,
            help="where the ffmpeg-made sample is kept between runs",
        )
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")


def run_meta(command: str, plan: DataclassInstance) -> dict[str, Any]:
    """A report's record of its run as it starts (:func:`run_in_workdir` adds how it
    ended): when, the command that reproduces it, the plan, the machine and its load."""
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "plan": asdict(plan),
        "machine": machine(),
        "load_start": load_average(),
    }
