"""Waiting in tests for a condition that has no event to wait on.

A test that sleeps a fixed time and then asserts is a guess about how busy the
machine is. Where the thing awaited is another process, a file, a worker thread
or the server's state, poll for it instead: the test goes on as soon as it
holds, and fails only when it never does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["WAIT_LIMIT_S", "wait_until"]

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
