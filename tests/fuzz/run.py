"""Run the atheris targets in parallel for a time budget.

``python tests/fuzz/run.py [SECONDS | --hours H] [--jobs N] [TARGET ...]``; ``nox -s fuzz``
calls this. The budget (default 180 s) is wall-clock time for the whole run. The targets
(default: all of :data:`tests.fuzz.harness.TARGETS`) share ``--jobs`` processes (default:
the CPU count): each target runs in slices of at most ``--slice`` seconds (default 600),
round-robin, one libFuzzer process per slice, so every target gets an equal share of CPU
time, a long run checkpoints its corpus between slices, and a crash (which ends its
libFuzzer process) costs that target only the rest of one slice.

Each target reads its corpus from, in this order:

* ``WORKDIR/corpus/TARGET``: what this and earlier runs found (libFuzzer writes here);
* ``tests/fuzz/corpus/TARGET``: the corpus kept in the repository;
* ``tests/fuzz/regressions/TARGET``: every crash found and fixed, kept as a vector;
* ``WORKDIR/seeds/TARGET``: seeds built from the test vectors (see harness.py).

``WORKDIR`` is ``--workdir`` (default ``.nox/fuzz-data``). At the end, unless
``--no-save``, the new inputs of at most ``SAVE_MAX_BYTES`` that add coverage are merged
into ``tests/fuzz/corpus/TARGET`` (libFuzzer ``-merge=1``), so the repository corpus grows
only by what is new and small. A crash leaves ``WORKDIR/artifacts/TARGET-crash-*``; replay
one with ``python tests/fuzz/fuzz.py TARGET FILE``, and once fixed, move it to
``tests/fuzz/regressions/TARGET/``. The summary gives executions per target; the exit
status is 1 if any target crashed.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
# Run as a script or with -m: either way the repository root must be importable.
sys.path.insert(0, str(ROOT))

from tests.fuzz import harness  # noqa: E402

FUZZ = HERE / "fuzz.py"
CORPUS = HERE / "corpus"
REGRESSIONS = HERE / "regressions"
# Longest input libFuzzer builds per target: the largest seed fits, with room to grow.
MAX_LEN_BYTES = {
    "rtmp": 40_000,
    "amf0": 8_000,
    "amf3": 8_000,
    "flv": 16_000,
    "flvconfig": 4_000,
    "hls": 16_000,
    "fmp4": 16_000,
    "tus": 4_000,
    "chat": 4_000,
    "resumable": 4_000,
    "proxy": 256,  # a line is at most 107 bytes; the client's bytes follow it
    "llhls": 1_000,
}
# Under .nox/ (ignored by git) but outside the session's virtualenv folder
# (.nox/fuzz), so that the corpus outlives a rebuilt virtualenv and a --no-venv run
# leaves no half-made .nox/fuzz for a later venv run to "reuse".
DEFAULT_WORKDIR = Path(".nox/fuzz-data")
# A single input taking this long is a hang (every seed runs in well under 1 s).
INPUT_TIMEOUT_S = 10
# Inputs larger than this stay in WORKDIR: the repository corpus must stay small.
SAVE_MAX_BYTES = 2048
_EXECUTED = re.compile(rb"stat::number_of_executed_units:\s*(\d+)")


@dataclass(slots=True)
class Slice:
    """One libFuzzer process: ``seconds`` of ``target``; the result fields are filled in."""

    target: str
    round: int
    seconds: int
    executions: int = 0
    crashed: bool = False


def _write_seeds(target: str, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.iterdir():
        old.unlink()
    for name, data in harness.seeds(target).items():
        (directory / name).write_bytes(data)


def _corpus_dirs(target: str, workdir: Path) -> list[Path]:
    dirs = [
        workdir / "corpus" / target,
        CORPUS / target,
        REGRESSIONS / target,
        workdir / "seeds" / target,
    ]
    for directory in dirs:
        directory.mkdir(parents=True, exist_ok=True)
    return dirs


def _run_slice(job: Slice, workdir: Path) -> Slice:
    log = workdir / "logs" / f"{job.target}-{job.round}.log"
    command = [
        sys.executable,
        str(FUZZ),
        job.target,
        f"-max_total_time={job.seconds}",
        f"-max_len={MAX_LEN_BYTES[job.target]}",
        f"-timeout={INPUT_TIMEOUT_S}",
        f"-artifact_prefix={workdir / 'artifacts'}/{job.target}-",
        "-print_final_stats=1",
        # New interesting inputs go to the first directory; the others are only read.
        *map(str, _corpus_dirs(job.target, workdir)),
    ]
    with log.open("wb") as out:
        code = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=False)
    found = _EXECUTED.findall(log.read_bytes())
    job.executions = int(found[-1]) if found else 0
    job.crashed = code.returncode != 0
    status = f"CRASH (exit {code.returncode}, see {log})" if job.crashed else "ok"
    print(f"   {job.target} round {job.round}: {job.executions} executions, {status}", flush=True)
    return job


def _save_corpus(target: str, workdir: Path) -> int:
    """Merge the new small inputs that add coverage into the repository corpus."""
    kept = CORPUS / target
    before = len(list(kept.iterdir()))
    with tempfile.TemporaryDirectory() as small:
        for path in (workdir / "corpus" / target).iterdir():
            if path.stat().st_size <= SAVE_MAX_BYTES:
                shutil.copy(path, small)
        # libFuzzer's merge re-runs its argv[0] (fuzz.py, through its #! line): the
        # python3 found first on PATH must be this one, with atheris.
        search = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        subprocess.run(
            [sys.executable, str(FUZZ), target, "-merge=1", str(kept), small],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=True,
            env={**os.environ, "PATH": search},
        )
    return len(list(kept.iterdir())) - before


def plan(targets: list[str], seconds: int, jobs: int, max_slice: int = 600) -> list[Slice]:
    """Slices for ``jobs`` processes to run ``targets`` for ``seconds`` of wall time in all,
    none longer than ``max_slice`` seconds."""
    share = max(1, seconds * jobs // len(targets))  # CPU seconds per target
    rounds = -(-share // max_slice)
    return [Slice(target, r, max(1, share // rounds)) for r in range(rounds) for target in targets]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("seconds", nargs="?", type=int, default=180)
    parser.add_argument("targets", nargs="*", metavar=f"{{{','.join(harness.TARGETS)}}}")
    parser.add_argument("--hours", type=float, help="the budget in hours (instead of SECONDS)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--slice", type=int, default=600, help="longest libFuzzer run (s)")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--no-save", action="store_true", help="leave tests/fuzz/corpus alone")
    args = parser.parse_args(argv)
    targets: list[str] = args.targets or list(harness.TARGETS)
    unknown = sorted(set(targets) - set(harness.TARGETS))
    if unknown:
        parser.error(f"unknown targets {unknown}; choose from {list(harness.TARGETS)}")
    if importlib.util.find_spec("atheris") is None:
        # Every slice would exit at once, read as a crash with no execution.
        parser.error(
            f"atheris is not installed for {sys.executable}: run `nox -s fuzz`, or "
            "`pip install -e '.[fuzz]'` into a virtualenv of its own"
        )
    seconds = round(args.hours * 3600) if args.hours is not None else args.seconds
    jobs = max(1, min(args.jobs, len(targets)))
    for sub in ("logs", "artifacts"):
        (args.workdir / sub).mkdir(parents=True, exist_ok=True)
    for target in targets:
        _write_seeds(target, args.workdir / "seeds" / target)
    slices = plan(targets, seconds, jobs, args.slice)
    print(
        f"== fuzz {', '.join(targets)}: {seconds} s wall, {jobs} processes, "
        f"{len(slices)} slices of {slices[0].seconds} s",
        flush=True,
    )
    started = time.time()
    with ThreadPoolExecutor(jobs) as pool:
        done = list(pool.map(lambda job: _run_slice(job, args.workdir), slices))
    elapsed = time.time() - started
    print(f"== fuzz done in {elapsed:.0f} s", flush=True)
    total = 0
    for target in targets:
        ran = [job for job in done if job.target == target]
        executions = sum(job.executions for job in ran)
        total += executions
        crashes = sum(job.crashed for job in ran)
        saved = 0 if args.no_save else _save_corpus(target, args.workdir)
        print(f"   {target:10} {executions:>12} executions  {crashes} crashed  +{saved} corpus")
    print(f"   {'total':10} {total:>12} executions  ({total / max(elapsed, 1):.0f}/s)")
    artifacts = (args.workdir / "artifacts").glob("*")
    for crash in sorted(p for p in artifacts if p.stat().st_mtime >= started):
        print(f"   artifact: {crash}")
    return 1 if any(job.crashed for job in done) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
