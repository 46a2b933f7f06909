"""The embedded backend: one SQLite file, one connection, driven from worker threads.

Every call runs in ``trio.to_thread.run_sync`` so the Trio thread never blocks on
the disk. One connection and a :class:`trio.Lock` serialise access: SQLite allows
a single writer anyway, and WAL mode keeps readers of *other* processes (for
example ``trioflix db migrate``) unblocked.
"""

from __future__ import annotations

import re
import sqlite3
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import trio

from trioflix.store._database import Conflict, Database, Row, StoreUnavailable, Transaction

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from pathlib import Path

__all__ = ["SQLiteDatabase", "open_sqlite"]

# "$1" (asyncpg's placeholder) -> "?1" (SQLite's numbered placeholder).
_PLACEHOLDER = re.compile(r"\$(\d+)")
BUSY_TIMEOUT_MS = 5000  # another process (a migration) may hold the write lock briefly
# The write-ahead log is copied into the database (a checkpoint) every this many
# pages of it (4 KiB each; SQLite's default is 1,000) and cut back to
# WAL_LIMIT_BYTES after a larger transaction (a migration): what it holds is the
# few rows written since, so the disk it takes stays well under a MiB instead
# of growing to 4 MiB beside the spool of every upload. A checkpoint costs two
# fsyncs per 512 KiB of log; commits stay as durable as before (checkpoints
# only move what is committed already).
WAL_CHECKPOINT_PAGES = 128
WAL_LIMIT_BYTES = WAL_CHECKPOINT_PAGES * 4096


def _run(conn: sqlite3.Connection, sql: str, args: tuple[Any, ...]) -> tuple[list[Row], int]:
    try:
        cursor = conn.execute(_PLACEHOLDER.sub(r"?\1", sql), args)
        names = [d[0] for d in cursor.description or ()]
        rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
        return rows, cursor.rowcount
    except sqlite3.IntegrityError as exc:
        raise Conflict(str(exc)) from exc
    except sqlite3.OperationalError as exc:
        # "database is locked", "disk I/O error", "database or disk is full"...
        if "syntax error" in str(exc) or "no such" in str(exc):
            raise
        raise StoreUnavailable(f"sqlite: {exc}") from exc


class _SQLiteTransaction(Transaction):
    def __init__(self, db: SQLiteDatabase) -> None:
        self._db = db

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return (await self._db._run(sql, args))[0]

    async def execute(self, sql: str, *args: Any) -> int:
        return (await self._db._run(sql, args))[1]


class SQLiteDatabase(Database):
    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._lock = trio.Lock()
        self._limiter = trio.CapacityLimiter(1)

    async def _in_thread(self, fn: Callable[..., Any], *args: Any) -> Any:
        # Not abandoned on cancel: the statement finishes, so the connection's state stays known.
        return await trio.to_thread.run_sync(fn, *args, limiter=self._limiter)

    async def _run(self, sql: str, args: tuple[Any, ...]) -> tuple[list[Row], int]:
        result: tuple[list[Row], int] = await self._in_thread(_run, self._conn, sql, args)
        return result

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        async with self._lock:
            return (await self._run(sql, args))[0]

    async def execute(self, sql: str, *args: Any) -> int:
        async with self._lock:
            return (await self._run(sql, args))[1]

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self._lock:
            await self._run("BEGIN IMMEDIATE", ())
            try:
                yield _SQLiteTransaction(self)
            except BaseException:
                with trio.CancelScope(shield=True):
                    await self._in_thread(self._conn.rollback)
                raise
            else:
                with trio.CancelScope(shield=True):
                    await self._run("COMMIT", ())


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: durable across app crashes
    conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
    conn.execute(f"PRAGMA journal_size_limit = {WAL_LIMIT_BYTES}")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


@asynccontextmanager
async def open_sqlite(path: Path) -> AsyncIterator[SQLiteDatabase]:
    """Open (creating if needed) the database file at ``path``."""
    try:
        conn = await trio.to_thread.run_sync(_connect, path)
    except (sqlite3.Error, OSError) as exc:
        raise StoreUnavailable(f"cannot open {path}: {exc}") from exc
    try:
        yield SQLiteDatabase(conn)
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(conn.close)
