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


class RedisLink:
    """A TCP relay in front of redis-server that a test can cut and restore, as a
    network partition cuts one host off Redis while the others still reach it.

    Attributes:
        url: The Redis URL that goes through the relay.
    """

    def __init__(self, redis_server: RedisServer) -> None:
        self._target = redis_server.port
        self._cut = False
        self._open: set[trio.CancelScope] = set()
        self.url = ""

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Relay connections until cancelled."""
        (listener,) = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.url = f"redis://127.0.0.1:{listener.socket.getsockname()[1]}/0"
        task_status.started()
        await trio.serve_listeners(self._relay, [listener])

    def cut(self) -> None:
        """Close every relayed connection and refuse new ones."""
        self._cut = True
        for scope in self._open:
            scope.cancel()

    def restore(self) -> None:
        self._cut = False

    async def _relay(self, client: trio.SocketStream) -> None:
        async with client:
            if self._cut:
                return
            with trio.CancelScope() as scope:
                self._open.add(scope)
                try:
                    async with await trio.open_tcp_stream("127.0.0.1", self._target) as server:
                        async with trio.open_nursery() as nursery:
                            nursery.start_soon(_pump, client, server, nursery.cancel_scope)
                            nursery.start_soon(_pump, server, client, nursery.cancel_scope)
                finally:
                    self._open.discard(scope)


async def _pump(source: trio.SocketStream, sink: trio.SocketStream, done: trio.CancelScope) -> None:
    try:
        while data := await source.receive_some(65536):
            await sink.send_all(data)
    except trio.BrokenResourceError:
        pass
    done.cancel()
