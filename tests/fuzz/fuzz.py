#!/usr/bin/env python3
"""atheris entry point for every target: ``python tests/fuzz/fuzz.py TARGET [libFuzzer args]``.

Run through ``nox -s fuzz`` (tests/fuzz/run.py sets up the corpus), or by hand with
libFuzzer flags, e.g. to replay a crash artifact::

    python tests/fuzz/fuzz.py rtmp CRASH_FILE

The targets and their checks live in :mod:`tests.fuzz.harness`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import atheris

# Run as a script or with -m: either way the repository root must be importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

with atheris.instrument_imports(include=["protocols", "trioflix.chat", "tests.fuzz.harness"]):
    from tests.fuzz.harness import TARGETS


# libFuzzer's -merge re-runs argv[0] with its own flags only: the target name reaches
# that inner process through the environment.
TARGET_ENV = "TRIOFLIX_FUZZ_TARGET"


def main(argv: list[str]) -> None:
    if len(argv) > 1 and argv[1] in TARGETS:
        os.environ[TARGET_ENV] = argv.pop(1)
    target = os.environ.get(TARGET_ENV)
    if target not in TARGETS:
        sys.exit(f"usage: {argv[0]} {{{','.join(TARGETS)}}} [libFuzzer args]")
    # libFuzzer reads the rest of the command line as its own flags and corpus paths.
    atheris.Setup(argv, TARGETS[target])
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
