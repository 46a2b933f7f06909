"""The storage interface, run against both backends."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import pytest
import trio

from trioflix.config import Settings
from trioflix.store import MIGRATIONS, Conflict, migrate, open_database
from trioflix.store._sqlite import WAL_LIMIT_BYTES
from trioflix.store.users import create_user, get_user, get_user_by_name

if TYPE_CHECKING:
    from pathlib import Path


async def test_migrations_are_recorded_and_idempotent(settings: Settings) -> None:
    async with open_database(settings) as db:
        versions = [
            row["version"]
            for row in await db.fetch("SELECT version FROM schema_migrations ORDER BY version")
        ]
        assert versions == [m[0] for m in MIGRATIONS]
        assert await migrate(db) == []


async def test_unique_violation_is_conflict(settings: Settings) -> None:
    async with open_database(settings) as db:
        await create_user(db, name="alice", display_name="A", password_hash="h")
        with pytest.raises(Conflict):
            await create_user(db, name="alice", display_name="B", password_hash="h")


async def test_transaction_rolls_back_on_error(settings: Settings) -> None:
    async with open_database(settings) as db:

        async def fail_midway() -> None:
            async with db.transaction() as tx:
                await create_user(tx, name="bob", display_name="B", password_hash="h")
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            await fail_midway()
        assert await get_user_by_name(db, "bob") is None

        async with db.transaction() as tx:
            user = await create_user(tx, name="bob", display_name="B", password_hash="h")
        assert await get_user(db, user.id) == user


async def test_cancelled_transaction_rolls_back_and_db_stays_usable(settings: Settings) -> None:
    async with open_database(settings) as db:
        with trio.move_on_after(0.5):
            async with db.transaction() as tx:
                await create_user(tx, name="carol", display_name="C", password_hash="h")
                await trio.sleep_forever()
        assert await get_user_by_name(db, "carol") is None
        await create_user(db, name="carol", display_name="C", password_hash="h")
        assert await get_user_by_name(db, "carol") is not None


async def test_concurrent_writers(settings: Settings) -> None:
    async with open_database(settings) as db:
        async with trio.open_nursery() as nursery:
            for i in range(20):
                insert = partial(
                    create_user, db, name=f"user{i}", display_name="x", password_hash="h"
                )
                nursery.start_soon(insert)
        assert await db.fetchval("SELECT COUNT(*) AS n FROM users") == 20


async def test_sqlite_does_not_block_the_trio_thread(tmp_path: Path) -> None:
    """While a long query runs in the worker thread, other Trio tasks keep running."""
    settings = Settings(data_dir=tmp_path)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await trio.sleep(0.01)

    async with open_database(settings) as db, trio.open_nursery() as nursery:
        nursery.start_soon(ticker)
        # A recursive CTE that takes a noticeable time to count.
        await db.fetch(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000)"
            " SELECT COUNT(*) AS n FROM c"
        )
        nursery.cancel_scope.cancel()
    assert ticks > 5


async def test_sqlite_write_ahead_log_stays_small(tmp_path: Path) -> None:
    """Many small commits (an upload's offsets) keep the log near WAL_LIMIT_BYTES, not 4 MiB."""
    async with open_database(Settings(data_dir=tmp_path)) as db:
        wal = tmp_path / "trioflix.sqlite3-wal"
        largest = 0
        for i in range(400):  # about 3 MiB of log frames with SQLite's default checkpoints
            await create_user(db, name=f"user{i}", display_name="x" * 2000, password_hash="h")
            largest = max(largest, wal.stat().st_size)
    # One transaction's frames may pass the checkpoint size before it runs.
    assert largest <= WAL_LIMIT_BYTES + 64 * 1024, largest
