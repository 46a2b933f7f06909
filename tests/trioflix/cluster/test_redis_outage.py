"""Redis restarted, then stopped for a few seconds, under chat load on a served host:
chat goes on and relinks, ids go forward, nothing is logged at ERROR, and once the load
is gone the host is back to the Trio tasks and open fds it had before."""

from __future__ import annotations

import json
import os
import re
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

import psutil
import pytest
import trio

from tests.ports import free_port
from tests.trioflix.chat.helpers import chat
from tests.trioflix.live_hls.helpers import serve_env, serve_process
from tests.waiting import WAIT_LIMIT_S

if TYPE_CHECKING:
    from pathlib import Path

    import coredis
    import httpx

    from tests.conftest import PostgresCluster, RedisServer
    from tests.trioflix.chat.helpers import ChatClient

pytestmark = pytest.mark.slow

ROOMS = ("alpha", "beta")
TALKERS = 8  # over the rooms, each its own user
TALK_EVERY_S = 1.5  # a user may send 20 messages per 30 s, and as many at once
STOPPED_S = 3.0
# A coredis connection is a socket and three tasks (its runner, reader and writer). Its
# pool opens as many as commands were in flight at once and keeps them, so how many
# there are after a relink under load is the load's doing, not a leak: they are
# counted out, as the database pool's connections are.
TASKS_PER_REDIS_CONNECTION = 3


async def _register(client: httpx.AsyncClient, name: str) -> str:
    response = await client.post(
        "/api/auth/register", json={"username": name, "password": "correct horse"}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["token"])


async def _talk(talker: ChatClient) -> None:
    last = 0
    while True:
        said = await talker.say("hello")  # acknowledged, Redis or not
        assert said > last  # ids never go back
        last = said
        await trio.sleep(TALK_EVERY_S)


async def _relinked(redis: coredis.Redis[bytes]) -> None:
    """Wait until the host has subscribed to its rooms again."""
    channels = [f"trioflix:chat:{room}:events" for room in ROOMS]
    with trio.fail_after(WAIT_LIMIT_S):
        while set((await redis.pubsub_numsub(*channels)).values()) != {1}:  # noqa: ASYNC110
            await trio.sleep(0.1)


async def test_a_redis_outage_leaves_nothing_behind(
    pg_cluster: PostgresCluster,
    redis_server: RedisServer,
    redis: coredis.Redis[bytes],
    tmp_path: Path,
) -> None:
    env, _ = serve_env(tmp_path / "data")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env.update(
        DATABASE_URL=pg_cluster.url(pg_cluster.create_database()),
        JWT_SECRET="s" * 64,
        REDIS_URL=redis_server.url,
        TRIOFLIX_ADVERTISE_URL=base,
    )
    log = tmp_path / "serve.log"
    async with serve_process(env, port, log) as (process, client):
        server = psutil.Process(process.pid)

        async def footprint() -> tuple[int, int]:
            """Trio tasks and open fds, less the database's and Redis' pooled connections."""
            text = (await client.get("/metrics")).text
            tasks = re.search(r"^trioflix_trio_tasks (\S+)$", text, re.MULTILINE)
            pool = re.findall(r"^trioflix_db_pool_connections\{.*\} (\S+)$", text, re.MULTILINE)
            assert tasks is not None and len(pool) == 2, "the services are not running"
            to_redis = sum(
                1
                for c in server.net_connections("tcp")
                if c.raddr and c.raddr.port == redis_server.port
            )
            fds = len(os.listdir(f"/proc/{process.pid}/fd")) - to_redis
            return int(float(tasks[1])) - TASKS_PER_REDIS_CONNECTION * to_redis, fds - sum(
                int(float(n)) for n in pool
            )

        owner, _ = [await _register(client, room) for room in ROOMS]  # one channel each
        fans = [await _register(client, f"fan{i}") for i in range(TALKERS)]
        # What the first chat connection and message load stays loaded: measure after.
        async with chat(base, ROOMS[0], owner) as (speaker, _):
            await speaker.say("warm-up")
        baseline = await footprint()
        with trio.fail_after(WAIT_LIMIT_S):
            while (again := await footprint()) != baseline:  # the warm-up's ending
                baseline = again
                await trio.sleep(0.5)

        async with AsyncExitStack() as stack:
            talkers = [
                (await stack.enter_async_context(chat(base, ROOMS[i % 2], token)))[0]
                for i, token in enumerate(fans)
            ]
            async with trio.open_nursery() as nursery:
                for talker in talkers:
                    nursery.start_soon(_talk, talker)
                await trio.to_thread.run_sync(redis_server.stop)
                await trio.to_thread.run_sync(redis_server.start)
                await _relinked(redis)
                await trio.to_thread.run_sync(redis_server.stop)
                await trio.sleep(STOPPED_S)
                await trio.to_thread.run_sync(redis_server.start)
                await _relinked(redis)
                nursery.cancel_scope.cancel()

        # Once a failed publish's back-off is over, what is said goes through Redis.
        async with chat(base, ROOMS[0], owner) as (speaker, _):
            with trio.fail_after(WAIT_LIMIT_S):
                while True:
                    said = await speaker.say("relinked")
                    newest = await redis.xrevrange(f"trioflix:chat:{ROOMS[0]}:log", count=1)
                    if newest and newest[0].identifier == f"0-{said}".encode():
                        break
                    await trio.sleep(0.5)

        seen = []
        with trio.move_on_after(WAIT_LIMIT_S):
            while (now := await footprint()) != baseline:
                seen.append(now)
                await trio.sleep(0.2)
        assert now == baseline, (baseline, seen[-5:])

    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r for r in records if r["level"] in ("ERROR", "CRITICAL")] == []
    # The chat bus reports each outage once, and its end.
    reports = [
        r["level"]
        for r in records
        if r["logger"] == "trioflix.chat.redis_bus"
        and (r["level"] == "WARNING" or r["msg"].startswith("redis answers again"))
    ]
    assert reports == ["WARNING", "INFO"] * 2
