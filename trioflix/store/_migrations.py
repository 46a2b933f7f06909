"""Versioned schema migrations, applied in order at start and by ``trioflix db migrate``.

Each migration is written once; ``{pk}``-style tokens expand to the dialect's
spelling. A migration never changes after it has shipped: add a new one.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trioflix.store._database import Database, Dialect

__all__ = ["MIGRATIONS", "migrate"]

logger = logging.getLogger(__name__)

_TOKENS: dict[str, dict[str, str]] = {
    "sqlite": {
        "{pk}": "INTEGER PRIMARY KEY AUTOINCREMENT",
        "{bigint}": "INTEGER",
        "{bool}": "INTEGER",
        "{float}": "REAL",
        "{blob}": "BLOB",
    },
    "postgresql": {
        "{pk}": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
        "{bigint}": "BIGINT",
        "{bool}": "BOOLEAN",
        "{float}": "DOUBLE PRECISION",
        "{blob}": "BYTEA",
    },
}

MIGRATIONS: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (
        1,
        "accounts and stream keys",
        (
            """CREATE TABLE users (
                id {pk},
                name TEXT NOT NULL UNIQUE,
                display_name TEXT NOT NULL,
                password_hash TEXT NOT NULL,
                created_at {float} NOT NULL
            )""",
            """CREATE TABLE stream_keys (
                id {pk},
                user_id {bigint} NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                name TEXT NOT NULL,
                key_hash TEXT NOT NULL UNIQUE,
                key_hint TEXT NOT NULL,
                enabled {bool} NOT NULL,
                record {bool} NOT NULL,
                created_at {float} NOT NULL,
                last_used_at {float}
            )""",
            "CREATE INDEX stream_keys_user ON stream_keys (user_id)",
        ),
    ),
)


def _expand(sql: str, dialect: Dialect) -> str:
    for token, spelling in _TOKENS[dialect].items():
        sql = sql.replace(token, spelling)
    return sql


async def migrate(db: Database) -> list[int]:
    """Apply every migration not yet recorded in ``schema_migrations``.

    Safe to run from several processes at once: PostgreSQL takes an advisory
    lock, SQLite an immediate (write) transaction.

    Returns:
        The versions applied by this call, in order.
    """
    await db.execute(
        _expand(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at {float} NOT NULL)",
            db.dialect,
        )
    )
    applied: list[int] = []
    for version, name, statements in MIGRATIONS:
        async with db.transaction() as tx:
            if db.dialect == "postgresql":
                await tx.execute("SELECT pg_advisory_xact_lock(7357)")
            done = await tx.fetchval(
                "SELECT version FROM schema_migrations WHERE version = $1", version
            )
            if done is not None:
                continue
            for statement in statements:
                await tx.execute(_expand(statement, db.dialect))
            await tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                version,
                name,
                time.time(),
            )
        logger.info("applied migration %d: %s", version, name)
        applied.append(version)
    return applied
