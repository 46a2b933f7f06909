"""Run the atheris targets for a time budget: ``python tests/fuzz/run.py [SECONDS] [TARGET ...]``.

``nox -s fuzz -- 600`` calls this: SECONDS (default 180) is the wall-clock budget
for the whole run, shared equally by the targets (default: all of rtmp, amf0, flv),
which run one after another. Each target starts from its seed corpus (real ffmpeg
sessions and FLV files from tests/protocols/*/vectors, see harness.py) plus what
earlier runs found, kept in ``WORKDIR/corpus/TARGET`` (``--workdir``, default
``.nox/fuzz-data``, so the corpus grows run after run).

A crash leaves ``WORKDIR/artifacts/TARGET-crash-*``; replay one with
``python tests/fuzz/fuzz_TARGET.py FILE``. The exit status is 1 if any target crashed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
# Run as a script or with -m: either way the repository root must be importable.
sys.path.insert(0, str(ROOT))

from tests.fuzz import harness  # noqa: E402

# Longest input libFuzzer builds per target: the largest seed fits, with room to grow.
MAX_LEN_BYTES = {"rtmp": 40_000, "amf0": 8_000, "flv": 16_000}
# Under .nox/ (ignored by git) but outside the session's virtualenv folder
# (.nox/fuzz), so that the corpus outlives a rebuilt virtualenv and a --no-venv run
# leaves no half-made .nox/fuzz for a later venv run to "reuse".
DEFAULT_WORKDIR = Path(".nox/fuzz-data")
# A single input taking this long is a hang (every seed runs in well under 1 s).
INPUT_TIMEOUT_S = 10


def _write_seeds(target: str, directory: Path) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.iterdir():
        old.unlink()
    found = harness.seeds(target)
    for name, data in found.items():
        (directory / name).write_bytes(data)
    return len(found)


def run(target: str, seconds: int, workdir: Path) -> int:
    corpus = workdir / "corpus" / target
    corpus.mkdir(parents=True, exist_ok=True)
    seed_dir = workdir / "seeds" / target
    count = _write_seeds(target, seed_dir)
    artifacts = workdir / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    print(f"== fuzz {target}: {seconds} s, {count} seeds, corpus {corpus}", flush=True)
    # New interesting inputs go to the first directory; the seeds are only read.
    command = [
        sys.executable,
        str(HERE / f"fuzz_{target}.py"),
        f"-max_total_time={seconds}",
        f"-max_len={MAX_LEN_BYTES[target]}",
        f"-timeout={INPUT_TIMEOUT_S}",
        f"-artifact_prefix={artifacts}/{target}-",
        "-print_final_stats=1",
        str(corpus),
        str(seed_dir),
    ]
    return subprocess.run(command, check=False).returncode


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("seconds", nargs="?", type=int, default=180)
    parser.add_argument("targets", nargs="*", metavar=f"{{{','.join(harness.TARGETS)}}}")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    args = parser.parse_args(argv)
    targets: list[str] = args.targets or list(harness.TARGETS)
    unknown = sorted(set(targets) - set(harness.TARGETS))
    if unknown:
        parser.error(f"unknown targets {unknown}; choose from {list(harness.TARGETS)}")
    share = max(1, args.seconds // len(targets))
    started = time.time()
    failed = [t for t in targets if run(t, share, args.workdir) != 0]
    crashes = sorted(
        p for p in (args.workdir / "artifacts").glob("*") if p.stat().st_mtime >= started
    )
    print(f"== fuzz done: {len(targets) - len(failed)}/{len(targets)} targets clean", flush=True)
    for crash in crashes:
        print(f"   artifact: {crash}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
