"""The child side of a job process: ``python -m trioflix.jobs.child MODULE:FUNCTION NICE [LIMIT]``.

It lowers its own CPU priority by ``NICE``, caps its address space at ``LIMIT``
bytes when given (an allocation past the cap fails: a crash, as below), reads the
JSON payload from stdin, calls ``FUNCTION(payload, report)`` and speaks JSON lines
on stdout:

- ``{"progress": 0.42}`` each time the function calls ``report(0.42)``;
- ``{"result": {...}}`` once, with the function's return value;
- ``{"error": "why", "permanent": true}`` when it raised
  :class:`~trioflix.jobs.errors.PermanentJobError`
  (the input can never work: no retry), then exit status 3.

Any other exception is a crash: the traceback goes to stderr, the exit status
is 1, and the parent retries the job later. Stdout carries only these lines;
the function must print nothing.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import sys
from typing import Any

# Imported by its full name: run as ``-m``, this module is ``__main__``, and an
# exception class defined here would not be the one job functions raise.
from trioflix.jobs.errors import PermanentJobError

__all__ = ["EXIT_PERMANENT", "NICE_INCREMENT", "main"]

NICE_INCREMENT = 10  # media work yields the CPU to the server and to live transcoding
EXIT_PERMANENT = 3


def _emit(message: dict[str, Any], out: Any) -> None:
    out.write(json.dumps(message) + "\n")
    out.flush()


def main(argv: list[str]) -> int:
    target = argv[1]
    module_name, _, function_name = target.partition(":")
    os.nice(int(argv[2]) if len(argv) > 2 else NICE_INCREMENT)
    if len(argv) > 3:
        # Set before the job's modules load, so that the cap covers all the job does.
        limit = int(argv[3])
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    payload = json.loads(sys.stdin.read())
    function = getattr(importlib.import_module(module_name), function_name)
    out = sys.stdout
    sys.stdout = sys.stderr  # a stray print must not corrupt the protocol
    try:
        result = function(payload, lambda fraction: _emit({"progress": fraction}, out))
    except PermanentJobError as exc:
        _emit({"error": str(exc), "permanent": True}, out)
        return EXIT_PERMANENT
    _emit({"result": result}, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
