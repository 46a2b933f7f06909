"""Waiting for Redis-backed state without fixed sleeps, and restarting Redis under Trio."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import trio

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from tests.conftest import RedisServer

# coredis creates each connection with anyio memory streams that it never closes when
# the connection cannot be made (Redis stopped): the garbage collector closes them,
# with a ResourceWarning. Tests that stop Redis accept those warnings, and only those.
REDIS_STOPS = pytest.mark.filterwarnings(
    "ignore:Unclosed <MemoryObject(Send|Receive)Stream:ResourceWarning"
)


async def restart(redis_server: RedisServer) -> None:
    """Stop redis-server and start it again (empty: it keeps nothing) without blocking Trio."""
    await trio.to_thread.run_sync(redis_server.stop)
    await trio.to_thread.run_sync(redis_server.start)


async def wait_until(condition: Callable[[], Awaitable[bool]], poll_s: float = 0.02) -> float:
    """Wait until ``condition()`` holds (the caller bounds the wait); return how long it took.

    Redis tells nobody when a key expires, so this polls.
    """
    start = trio.current_time()
    while True:
        if await condition():
            return trio.current_time() - start
        await trio.sleep(poll_s)
