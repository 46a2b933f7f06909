"""A chat client when the server fails: close 1011 for a bug, 1013 for a database outage."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pytest
import trio

from tests.trioflix.test_internal_errors import drop_table

from .helpers import chat

if TYPE_CHECKING:
    from tests.conftest import PostgresCluster, Server
    from trioflix.config import Settings

pytestmark = pytest.mark.parametrize("server", ["direct", "asgi"], indirect=True)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_a_bug_closes_only_that_connection_with_1011(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    alice, _ = await server.register("alice")
    bob, _ = await server.register("bob")
    with trio.fail_after(20):
        async with (
            chat(server.url, "alice", alice) as (owner, _),
            chat(server.url, "alice", bob) as (viewer, _),
        ):
            message_id = await viewer.say("hello")
            # Deleting writes an audit row: without its table, that write is a bug.
            await trio.to_thread.run_sync(drop_table, server.settings.sqlite_path, "chat_audit")
            caplog.set_level(logging.ERROR, logger="trioflix")
            await owner.send({"type": "delete", "message_id": message_id})
            assert await owner.closed() == 1011
            # The room goes on for everyone else.
            assert (await viewer.until("message"))["id"] == message_id
            await viewer.say("still here")
    logged = [r for r in caplog.records if r.exc_info]
    assert len(logged) == 1
    assert "sqlite3.OperationalError: no such table: chat_audit" in caplog.text  # the traceback


class TestDatabaseOutage:
    @pytest.fixture
    def settings(self, settings: Settings, private_pg_cluster: PostgresCluster) -> Settings:
        """The served instance on a PostgreSQL server of the test's own, which it stops."""
        cluster = private_pg_cluster
        return settings.replace(database_url=cluster.url(cluster.create_database()))

    @pytest.mark.slow
    # SQLite's settings, pointed at the private cluster above: no shared cluster to start.
    @pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
    async def test_joining_while_the_database_is_down_closes_with_1013(
        self, server: Server, private_pg_cluster: PostgresCluster
    ) -> None:
        alice, _ = await server.register("alice")
        await trio.to_thread.run_sync(private_pg_cluster.stop, "immediate")
        with trio.fail_after(20):
            async with chat(server.url, "alice", alice) as (client, first):
                assert first["type"] == "error" and first["code"] == "unavailable"
                assert await client.closed() == 1013
