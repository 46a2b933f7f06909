"""The storage interface every backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

__all__ = [
    "Conflict",
    "Database",
    "Row",
    "StoreError",
    "StoreUnavailable",
    "Transaction",
    "holds_nul",
]

Row = dict[str, Any]
Dialect = Literal["sqlite", "postgresql"]


def holds_nul(value: object) -> bool:
    """Whether text in ``value`` (a string, or lists and dicts of them) holds U+0000.

    PostgreSQL cannot store U+0000 in text (SQLite can), so input that holds one is
    refused before it reaches a query, on both, so that both behave alike; no name
    or text of ours needs one.
    """
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(holds_nul(k) or holds_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(holds_nul(item) for item in value)
    return False


class StoreError(Exception):
    """Base of the storage errors the application handles."""


class StoreUnavailable(StoreError):
    """The database cannot answer right now (down, restarting, disk trouble): HTTP 503."""


class Conflict(StoreError):
    """A uniqueness or foreign-key constraint refused the write."""


class Transaction(ABC):
    """Queries that commit or roll back together. Obtained from :meth:`Database.transaction`."""

    @abstractmethod
    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...

    @abstractmethod
    async def execute(self, sql: str, *args: Any) -> int:
        """Run a statement; returns the number of rows it changed."""

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None

    async def fetchval(self, sql: str, *args: Any) -> Any:
        row = await self.fetchrow(sql, *args)
        return None if row is None else next(iter(row.values()))


class Database(Transaction):
    """A connection pool (or the single SQLite connection). Each call is its own transaction.

    Resource handling:
        Opened by :func:`trioflix.store.open_database`, an async context manager that
        closes it; for PostgreSQL it also owns the trio-asyncio loop.

    Error handling:
        Every method raises :class:`StoreUnavailable` when the database cannot be
        reached and :class:`Conflict` on a constraint violation; other driver
        errors are bugs and propagate.
    """

    dialect: Dialect

    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Transaction]: ...

    def pool_use(self) -> tuple[int, int] | None:
        """Connections ``(in_use, open)`` of the pool; None without a pool (SQLite)."""
        return None

    async def ping(self) -> None:
        """Raise :class:`StoreUnavailable` unless the database answers a trivial query."""
        await self.fetch("SELECT 1 AS one")
