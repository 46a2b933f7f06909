"""An asyncio loop on Trio for the asyncio libraries trioflix runs (asyncpg, aiortc).

trio-asyncio's own exception handler raises whatever an asyncio library reports to
``loop.call_exception_handler`` into the loop's nursery. That ends the loop and the
service task that owns it, while the rest of the server goes on without them. asyncpg
reports that way while PostgreSQL restarts under load (a connection released with
its transaction still open, an unexpected ``connection_lost()``, a future nobody
read): each such report used to stop the server's database for good, its pool's
cleanup tasks cancelled halfway and every later query waiting until it timed out
(docs/reliability.md, "Soak"). aiortc reports a task's exception nobody retrieved when
a viewer's connection closes before its connecting task ran, which a loaded server
makes happen: each such report ended every WebRTC session. A report is about one
connection, which the library has already dealt with; here it is logged, and the
loop goes on.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio
    import logging
    from collections.abc import AsyncIterator

    from trio_asyncio import TrioEventLoop

__all__ = ["open_asyncio_loop"]


@asynccontextmanager
async def open_asyncio_loop(logger: logging.Logger) -> AsyncIterator[TrioEventLoop]:
    """trio-asyncio's loop, whose libraries' error reports go to ``logger`` as warnings.

    Resource handling:
        The loop runs until the context exits, as with ``trio_asyncio.open_loop``.
    """
    import trio_asyncio  # loaded only on a host that runs an asyncio library

    async with trio_asyncio.open_loop() as loop:
        loop.set_exception_handler(partial(_report, logger))
        yield loop


def _report(
    logger: logging.Logger, loop: asyncio.AbstractEventLoop, context: dict[str, Any]
) -> None:
    del loop  # the handler's signature; the context says everything
    exception = context.get("exception")
    message = context.get("message") or "unhandled error in an asyncio library"
    if exception is None:
        logger.warning("asyncio: %s", message)
    else:
        logger.warning("asyncio: %s: %r", message, exception, exc_info=exception)
