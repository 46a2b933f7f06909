"""atheris target: an RTMP server session (and a playing client) fed arbitrary bytes.

Run through ``nox -s fuzz`` (tests/fuzz/run.py sets up the corpus), or by hand
with libFuzzer flags, e.g. to replay a crash artifact::

    python tests/fuzz/fuzz_rtmp.py CRASH_FILE

The checks live in :func:`tests.fuzz.harness.rtmp_one_input`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

# Run as a script or with -m: either way the repository root must be importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

with atheris.instrument_imports(include=["protocols", "tests.fuzz.harness"]):
    from tests.fuzz.harness import rtmp_one_input


def main() -> None:
    atheris.Setup(sys.argv, rtmp_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
