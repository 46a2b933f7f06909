"""A bug in a route: the client gets a bare JSON 500, the traceback goes to the log only."""

from __future__ import annotations

import logging
import sqlite3
from typing import TYPE_CHECKING

import pytest
import trio

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import Server


def drop_table(database: Path, table: str) -> None:
    """Drop ``table`` behind the server's back.

    The SQLite store turns "database is locked" and I/O errors into a 503, but
    re-raises "no such table": a schema the code does not expect is a bug, which
    makes it a real way to make a route fail unexpectedly.
    """
    with sqlite3.connect(database) as conn:
        conn.execute(f"DROP TABLE {table}")


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("server", ["direct", "asgi"], indirect=True)
async def test_a_bug_answers_a_bare_500_and_logs_the_traceback(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    # A table only this route reads: background tasks (upload housekeeping, job
    # workers) touch others, and would fail on them too, at a moment of their own.
    token, _ = await server.register("alice")
    keys = {"Authorization": f"Bearer {token}"}
    assert (await server.client.get("/api/streaming/keys", headers=keys)).status_code == 200
    await trio.to_thread.run_sync(drop_table, server.settings.sqlite_path, "stream_keys")
    caplog.set_level(logging.ERROR, logger="trioflix")

    response = await server.client.get("/api/streaming/keys", headers=keys)

    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "error": {"code": "internal_error", "message": "internal server error"}
    }
    for leak in ("Traceback", "sqlite3", "no such table", ".py"):
        assert leak not in response.text
    logged = [r for r in caplog.records if r.exc_info]
    assert len(logged) == 1
    assert "sqlite3.OperationalError: no such table: stream_keys" in caplog.text  # the traceback
