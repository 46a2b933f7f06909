from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from trioflix.store._migrations import migrate

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from trioflix.config import Settings
    from trioflix.store._database import Database

__all__ = ["open_database"]


@asynccontextmanager
async def open_database(
    settings: Settings, *, apply_migrations: bool = True
) -> AsyncIterator[Database]:
    """Open the configured backend and bring its schema up to date.

    ``DATABASE_URL`` selects PostgreSQL; otherwise SQLite in the data directory.
    """
    if settings.database_url:
        from trioflix.store._postgres import open_postgres

        async with open_postgres(settings.database_url) as db:
            if apply_migrations:
                await migrate(db)
            yield db
    else:
        from trioflix.store._sqlite import open_sqlite

        async with open_sqlite(settings.sqlite_path) as sdb:
            if apply_migrations:
                await migrate(sdb)
            yield sdb
