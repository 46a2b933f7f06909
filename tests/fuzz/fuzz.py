"""atheris entry point for every target: ``python tests/fuzz/fuzz.py TARGET [libFuzzer args]``.

Run through ``nox -s fuzz`` (tests/fuzz/run.py sets up the corpus), or by hand with
libFuzzer flags, e.g. to replay a crash artifact::

    python tests/fuzz/fuzz.py rtmp CRASH_FILE

The targets and their checks live in :mod:`tests.fuzz.harness`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

# Run as a script or with -m: either way the repository root must be importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

with atheris.instrument_imports(include=["protocols", "trioflix.chat", "tests.fuzz.harness"]):
    from tests.fuzz.harness import TARGETS


def main(argv: list[str]) -> None:
    if len(argv) < 2 or argv[1] not in TARGETS:
        sys.exit(f"usage: {argv[0]} {{{','.join(TARGETS)}}} [libFuzzer args]")
    # libFuzzer reads the rest of the command line as its own flags and corpus paths.
    atheris.Setup([argv[0], *argv[2:]], TARGETS[argv[1]])
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
