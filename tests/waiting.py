"""Waiting in tests for a condition that has no event to wait on.

A test that sleeps a fixed time and then asserts is a guess about how busy the
machine is. Where the thing awaited is another process, a file, a worker thread
or the server's state, poll for it instead: the test goes on as soon as it
holds, and fails only when it never does.
"""

from __future__ import annotations

import time
from contextlib import suppress
from typing import TYPE_CHECKING

import httpx
import trio

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Callable
    from pathlib import Path

__all__ = ["WAIT_LIMIT_S", "wait_healthy", "wait_until"]

# Generous: the suite shares a few cores with other runs. A condition that never
# comes true still fails the test, just later.
WAIT_LIMIT_S = 30.0
POLL_INTERVAL_S = 0.02


async def wait_until(predicate: Callable[[], bool]) -> None:
    """Return once ``predicate()`` is true.

    Raises:
        trio.TooSlowError: It was still false after :data:`WAIT_LIMIT_S`.
    """
    with trio.fail_after(WAIT_LIMIT_S):
        while not predicate():  # noqa: ASYNC110 (nothing to wait on: see above)
            await trio.sleep(POLL_INTERVAL_S)


def wait_healthy(
    url: str, process: subprocess.Popen[bytes], *, log: Path | None = None, limit_s: float = 20.0
) -> None:
    """Return once ``trioflix serve`` at ``url`` answers ``GET /healthz`` with 200.

    Blocking (the tests that start servers as subprocesses poll from plain code).

    Raises:
        AssertionError: ``process`` exited first, or ``limit_s`` passed; the
            message carries the end of ``log``, the server's output, if given.
    """

    def output() -> str:
        return f"\n{log.read_text()[-4000:]}" if log is not None else ""

    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{url}: exited with {process.returncode}{output()}"
        with suppress(httpx.TransportError):
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise AssertionError(f"{url} did not become healthy{output()}")
