"""Two trioflix processes and one real redis-server: one room, spread over both.

With ``REDIS_URL`` the processes are hosts of one cluster, so they share a
PostgreSQL database and a data directory, and each advertises its own URL.
"""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import trio

from tests.ports import free_port

from .helpers import auth, chat

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.conftest import RedisServer
    from trioflix.config import Settings

pytestmark = pytest.mark.slow


@pytest.fixture
def backend() -> str:
    return "postgresql"  # Redis with SQLite is refused: each host would keep its own


@contextmanager
def _process(settings: Settings, redis_url: str, log: Path) -> Iterator[str]:
    """``trioflix serve`` as its own process; yields its base URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(
        {
            "TRIOFLIX_DATA_DIR": str(settings.data_dir),
            "JWT_SECRET": str(settings.jwt_secret),
            "DATABASE_URL": str(settings.database_url),
            "TRIOFLIX_HTTP": f"127.0.0.1:{port}",
            "TRIOFLIX_RTMP": f"127.0.0.1:{free_port()}",
            "REDIS_URL": redis_url,
            "TRIOFLIX_ADVERTISE_URL": f"http://127.0.0.1:{port}",
        }
    )
    with log.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "trioflix", "serve"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            proc.wait(timeout=20)


async def _healthy(url: str) -> None:
    with trio.fail_after(30):
        async with httpx.AsyncClient() as client:
            while True:
                try:
                    if (await client.get(f"{url}/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await trio.sleep(0.1)


@pytest.fixture
async def two_hosts(settings: Settings, redis_server: RedisServer, tmp_path: Path) -> Any:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # One after the other: B picks its free ports only once A has bound its own, so
    # the two can never be handed the same port.
    with _process(settings, redis_server.url, tmp_path / "a.log") as a:
        await _healthy(a)
        with _process(settings, redis_server.url, tmp_path / "b.log") as b:
            await _healthy(b)
            yield a, b


async def _register(url: str, name: str) -> str:
    async with httpx.AsyncClient(base_url=url) as client:
        response = await client.post(
            "/api/auth/register", json={"username": name, "password": "correct horse"}
        )
        assert response.status_code == 201, response.text
        return str(response.json()["token"])


async def test_one_room_over_two_processes(two_hosts: tuple[str, str]) -> None:
    a, b = two_hosts
    owner = await _register(a, "streamer")
    fan = await _register(b, "fan")
    with trio.fail_after(60):
        async with (
            chat(a, "streamer", owner) as (on_a, _),
            chat(b, "streamer", fan) as (on_b, _),
            chat(b, "streamer") as (watcher_b, _),
            chat(a, "streamer") as (watcher_a, _),
        ):
            # Both sides send at once; everyone sees one order.
            async def burst(client: Any, who: str) -> None:
                for i in range(15):
                    await client.say(f"{who} {i}")

            async with trio.open_nursery() as nursery:
                nursery.start_soon(burst, on_a, "a")
                nursery.start_soon(burst, on_b, "b")
            seen = []
            for client in (on_a, on_b, watcher_a, watcher_b):
                frames = [await client.until("message") for _ in range(30)]
                seen.append([(f["id"], f["text"]) for f in frames])
            assert seen[0] == seen[1] == seen[2] == seen[3]
            ids = [i for i, _ in seen[0]]
            assert ids == sorted(ids) and len(set(ids)) == 30

            # A ban through process A stops the fan's connection on process B at once.
            async with httpx.AsyncClient(base_url=a) as http:
                banned = await http.post(
                    "/api/chat/streamer/bans", json={"user": "fan"}, headers=auth(owner)
                )
                assert banned.status_code == 201
            await on_b.until("ban")
            assert (await on_b.request({"type": "send", "text": "hey"}))["code"] == "banned"

            # Viewer counts add up over both processes.
            while (await watcher_a.until("viewers"))["count"] != 4:
                pass

    # Resume on the other process: what was missed comes back, in order.
    with trio.fail_after(30):
        async with chat(a, "streamer", owner) as (on_a, _):
            last = await on_a.say("before the break")
            missed = [await on_a.say(f"missed {i}") for i in range(3)]
        async with chat(b, "streamer", since=last) as (_, welcome):
            assert [m["id"] for m in welcome["history"]] == missed
            assert welcome["truncated"] is False


async def test_chat_survives_redis_going_away(
    two_hosts: tuple[str, str], redis_server: RedisServer
) -> None:
    a, b = two_hosts
    owner = await _register(a, "streamer")
    viewer = await _register(b, "viewer")
    with trio.fail_after(90):
        async with (
            chat(a, "streamer", owner) as (on_a, _),
            chat(b, "streamer", viewer) as (on_b, _),
        ):
            first = await on_a.say("linked")
            assert (await on_b.until("message"))["id"] == first
            assert (await on_a.until("message"))["id"] == first

            redis_server.stop()
            local = await on_a.say("redis is gone")  # still served, by process A alone
            assert local > first
            echoed = await on_a.until("message")
            assert echoed["id"] == local
            local_b = await on_b.say("and B too")  # and by process B alone
            assert local_b > first
            assert (await on_b.until("message"))["id"] == local_b

            redis_server.start()
            # The link comes back by itself: keep talking until process B hears A again.
            while True:
                sent = await on_a.say("anyone there?")
                with trio.move_on_after(1):
                    while True:
                        frame = await on_b.until("message")
                        if frame["id"] == sent:
                            break
                    break
            assert sent > local  # ids never went backwards for A's clients
            answer = await on_b.say("relinked")
            while (await on_a.until("message"))["id"] != answer:
                pass
            assert answer > max(local_b, sent)  # nor for B's
