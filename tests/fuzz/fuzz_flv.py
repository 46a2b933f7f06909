"""atheris target: the FLV reader, tag body parsers and codec record parsers.

Run through ``nox -s fuzz`` (tests/fuzz/run.py sets up the corpus), or by hand
with libFuzzer flags, e.g. to replay a crash artifact::

    python tests/fuzz/fuzz_flv.py CRASH_FILE

The checks live in :func:`tests.fuzz.harness.flv_one_input`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

# Run as a script or with -m: either way the repository root must be importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

with atheris.instrument_imports(include=["protocols", "tests.fuzz.harness"]):
    from tests.fuzz.harness import flv_one_input


def main() -> None:
    atheris.Setup(sys.argv, flv_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
