"""Closed connections are freed at once, by reference counting, not by the collector.

A server that leaves each closed connection in a reference cycle keeps its objects
(and the buffers hanging off them) until a collection of the oldest generation,
which ``trioflix.server.tune_gc``'s policy makes rare under load and absent at zero
load (docs/reliability.md, "Reference cycles of closed connections"). Here the
collector is off while connections of one kind come and go; once the server has
let go of them, a collection must find none of their objects in cycles.
"""

from __future__ import annotations

import gc
import os
from collections import Counter
from contextlib import contextmanager
from typing import TYPE_CHECKING

import httpx
import pytest
import trio

from tests.trioflix.uploads.helpers import create, raw_patch_start
from tests.waiting import WAIT_LIMIT_S, wait_until

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.conftest import Server

pytestmark = [
    pytest.mark.slow,
    pytest.mark.backends(
        "sqlite", reason="the cycles were in the connection handling, the same on both databases"
    ),
]

CONNECTIONS = 20
UPLOADS = 5
# Objects of the kinds checked that a collection may find: none are expected, a few
# are tolerated for a connection that something outside the server keeps (none so far).
GARBAGE_BOUND = 2


def _kind(obj: object) -> str:
    return type(obj).__qualname__


def _young(kinds: frozenset[str]) -> Counter[str]:
    """Objects of ``kinds`` made since the collector was turned off (all still young)."""
    return Counter(_kind(o) for o in gc.get_objects(generation=0) if _kind(o) in kinds)


@contextmanager
def collector_off() -> Iterator[Counter[str]]:
    """The collector off for the block; then the kinds of what one collection finds
    unreachable (every object, by its class's name), in the yielded counter."""
    gc.collect()
    gc.disable()
    found: Counter[str] = Counter()
    try:
        yield found
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        found.update(_kind(o) for o in gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


async def _let_go(kinds: frozenset[str]) -> Counter[str]:
    """Wait (bounded) for the server to free its objects of ``kinds``; returns those
    still there (with a cycle they stay, and the collection finds them)."""
    with trio.move_on_after(WAIT_LIMIT_S):
        while _young(kinds):  # noqa: ASYNC110 (nothing to wait on but the objects)
            await trio.sleep(0.05)
    return _young(kinds)


async def test_closed_http_connections_leave_no_cycles(server: Server) -> None:
    kinds = frozenset(
        {
            "H11Protocol",  # hypercorn's HTTP/1.1 protocol
            "_TrailerKeepingConnection",  # its h11 connection
            "_ExtendedProtocolWrapper",
            "TrailerKeepingTCPServer",
        }
    )
    with collector_off() as garbage:
        for _ in range(CONNECTIONS):
            async with httpx.AsyncClient(base_url=server.url) as client:  # one connection each
                response = await client.get("/healthz")
            assert response.status_code == 200
        left = await _let_go(kinds)
    in_cycles = {kind: garbage[kind] for kind in kinds}
    assert all(count <= GARBAGE_BOUND for count in in_cycles.values()), in_cycles
    assert not left - garbage, left  # every connection ended and was freed


async def test_cut_uploads_leave_no_cycles(server: Server) -> None:
    token, _ = await server.register("alice")
    paths = [await create(server.tus, token, 1_000_000) for _ in range(UPLOADS)]
    kinds = frozenset(
        {
            "SocketBody",  # the direct tus route's request body
            "TusCall",
            "Holder",  # the upload's lock
            "BrokenResourceError",  # the cut, with its traceback's frames
        }
    )
    with collector_off() as garbage:
        for path in paths:
            stream = await raw_patch_start(
                server.settings.http, token, path, 0, 1_000_000, os.urandom(100_000)
            )
            await trio.aclose_forcefully(stream)  # mid-body
        await wait_until(lambda: server.app.trioflix.direct_connections == 0)
        left = await _let_go(kinds)
    in_cycles = {kind: garbage[kind] for kind in kinds}
    assert all(count <= GARBAGE_BOUND for count in in_cycles.values()), in_cycles
    assert not left - garbage, left  # every request ended and was freed
