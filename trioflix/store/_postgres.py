"""The production backend: PostgreSQL through asyncpg, run under trio-asyncio.

asyncpg is an asyncio library. :func:`open_postgres` opens a trio-asyncio loop in
the task that owns the database (a service task) and keeps a reference to it;
request tasks, which hypercorn spawns outside that task's context, call into the
loop with ``aio_as_trio(fn, loop=...)``. A Trio cancel scope around a call
cancels the query, and the pool stays usable.

A lost connection, a restarting server or a full pool surfaces as
:class:`StoreUnavailable` (HTTP 503) for that request; asyncpg's pool replaces
broken connections on the next acquire, so service recovers by itself.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import asyncpg
import trio
import trio_asyncio

from trioflix.asyncio_loop import open_asyncio_loop
from trioflix.store._database import Conflict, Database, Row, StoreUnavailable, Transaction

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

__all__ = ["PostgresDatabase", "open_postgres"]

logger = logging.getLogger(__name__)

QUERY_TIMEOUT_S = 15.0  # longer than any query we run; past it the database is in trouble
CONNECT_TIMEOUT_S = 5.0  # per connection attempt inside asyncpg
CLEANUP_TIMEOUT_S = 5.0
POOL_MAX_SIZE = 10

_UNAVAILABLE = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,  # includes ConnectionDoesNotExistError
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, cannot connect now
    asyncpg.exceptions.InsufficientResourcesError,  # too many connections, disk full
    asyncpg.exceptions.InterfaceError,  # "connection is closed" after a server restart
    # "cannot switch to state 12; another operation (2) is in progress": a query met a
    # connection still reading the error of a fast shutdown (seen in the soak, under
    # load). The connection is unusable: the query's caller terminates it, and the pool
    # opens a new one at the next acquire.
    asyncpg.exceptions.InternalClientError,
)


def _status_count(status: str) -> int:
    # asyncpg's command tags: "INSERT 0 1", "UPDATE 3", "DELETE 0", "CREATE TABLE".
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


async def _pool_fetch(pool: asyncpg.Pool, sql: str, args: tuple[Any, ...]) -> list[Row]:
    async with pool.acquire() as conn:
        return await _conn_fetch(conn, sql, args)


async def _pool_execute(pool: asyncpg.Pool, sql: str, args: tuple[Any, ...]) -> int:
    async with pool.acquire() as conn:
        return await _conn_execute(conn, sql, args)


async def _conn_fetch(conn: asyncpg.Connection, sql: str, args: tuple[Any, ...]) -> list[Row]:
    try:
        return [dict(record) for record in await conn.fetch(sql, *args)]
    except asyncpg.exceptions.InternalClientError:
        conn.terminate()  # see _UNAVAILABLE
        raise


async def _conn_execute(conn: asyncpg.Connection, sql: str, args: tuple[Any, ...]) -> int:
    try:
        return _status_count(await conn.execute(sql, *args))
    except asyncpg.exceptions.InternalClientError:
        conn.terminate()  # see _UNAVAILABLE
        raise


async def _acquire(pool: asyncpg.Pool) -> asyncpg.Connection:
    return await pool.acquire()


async def _release(pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
    await pool.release(conn)


class _PostgresTransaction(Transaction):
    def __init__(self, db: PostgresDatabase, conn: asyncpg.Connection) -> None:
        self._db = db
        self._conn = conn

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        rows: list[Row] = await self._db._call(_conn_fetch, self._conn, sql, args)
        return rows

    async def execute(self, sql: str, *args: Any) -> int:
        count: int = await self._db._call(_conn_execute, self._conn, sql, args)
        return count


class PostgresDatabase(Database):
    dialect = "postgresql"

    def __init__(self, loop: asyncio.AbstractEventLoop, pool: asyncpg.Pool) -> None:
        self._loop = loop
        self._pool = pool

    async def _call(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        try:
            with trio.fail_after(QUERY_TIMEOUT_S):
                return await trio_asyncio.aio_as_trio(fn, loop=self._loop)(*args)
        except trio.TooSlowError:
            raise StoreUnavailable("postgresql: query timed out") from None
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise Conflict(str(exc)) from exc
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"postgresql: {exc.__class__.__name__}: {exc}") from exc

    def pool_use(self) -> tuple[int, int]:
        size = self._pool.get_size()
        return size - self._pool.get_idle_size(), size

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        rows: list[Row] = await self._call(_pool_fetch, self._pool, sql, args)
        return rows

    async def execute(self, sql: str, *args: Any) -> int:
        count: int = await self._call(_pool_execute, self._pool, sql, args)
        return count

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        conn = await self._call(_acquire, self._pool)
        try:
            await self._call(_conn_execute, conn, "BEGIN", ())
            try:
                yield _PostgresTransaction(self, conn)
            except BaseException:
                with trio.move_on_after(CLEANUP_TIMEOUT_S, shield=True):
                    try:
                        await self._call(_conn_execute, conn, "ROLLBACK", ())
                    except StoreUnavailable:
                        pass  # the connection is gone, and the transaction with it
                raise
            else:
                with trio.move_on_after(CLEANUP_TIMEOUT_S, shield=True) as scope:
                    await self._call(_conn_execute, conn, "COMMIT", ())
                if scope.cancelled_caught:
                    raise StoreUnavailable("postgresql: COMMIT timed out")
        finally:
            with trio.move_on_after(CLEANUP_TIMEOUT_S, shield=True):
                try:
                    await self._call(_release, self._pool, conn)
                except StoreUnavailable:
                    pass  # asyncpg has already dropped the broken connection


@asynccontextmanager
async def open_postgres(
    url: str, *, max_size: int = POOL_MAX_SIZE
) -> AsyncIterator[PostgresDatabase]:
    """Open a connection pool to ``url`` inside a trio-asyncio loop owned by this task.

    Resource handling:
        The loop and the pool live until the context exits. Enter it in a task
        that outlives every caller (the service nursery does).

    Raises:
        StoreUnavailable: the server cannot be reached at start.
    """
    async with open_asyncio_loop(logger) as loop:
        create = trio_asyncio.aio_as_trio(asyncpg.create_pool, loop=loop)
        try:
            pool = await create(url, min_size=1, max_size=max_size, timeout=CONNECT_TIMEOUT_S)
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"cannot connect to PostgreSQL: {exc}") from exc
        try:
            yield PostgresDatabase(loop, pool)
        finally:
            with trio.move_on_after(CLEANUP_TIMEOUT_S, shield=True) as scope:
                await trio_asyncio.aio_as_trio(pool.close, loop=loop)()
            if scope.cancelled_caught:
                pool.terminate()
