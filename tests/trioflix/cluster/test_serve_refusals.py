"""``trioflix serve`` and plain hypercorn, as an operator runs them, refuse settings
that would split the site: the message says what to set, the exit status is not 0."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import pytest
import trio

from tests.ports import free_port
from tests.trioflix.test_cli import TRIOFLIX, _env
from trioflix.cluster.keys import secret_fingerprint
from trioflix.cluster.members import Membership
from trioflix.cluster.shared_storage import storage_id

from .test_members import member

if TYPE_CHECKING:
    from pathlib import Path

    import coredis

    from tests.conftest import RedisServer

pytestmark = pytest.mark.slow

SECRET = "cluster-secret-" + "s" * 32
POSTGRES = "postgresql://trioflix:pw@127.0.0.1:1/trioflix"  # never opened: checks come first
REFUSAL_LIMIT_S = 30  # a server that started after all would run until killed


def cluster_env(data_dir: Path, redis_url: str, **changes: str) -> dict[str, str]:
    port = free_port()
    env = _env(
        data_dir,
        REDIS_URL=redis_url,
        DATABASE_URL=POSTGRES,
        JWT_SECRET=SECRET,
        TRIOFLIX_HTTP=f"127.0.0.1:{port}",
        TRIOFLIX_RTMP="127.0.0.1:0",
        TRIOFLIX_ADVERTISE_URL=f"http://127.0.0.1:{port}",
    )
    env.update(changes)
    return {name: value for name, value in env.items() if value}


async def serve(env: dict[str, str], command: list[str] | None = None) -> tuple[int, str]:
    with trio.fail_after(REFUSAL_LIMIT_S):
        result = await trio.run_process(
            command or [*TRIOFLIX, "serve"], env=env, capture_stderr=True, check=False
        )
    return result.returncode, result.stderr.decode()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"DATABASE_URL": ""}, "- DATABASE_URL is not set, so this host would keep its own SQLite"),
        ({"TRIOFLIX_ADVERTISE_URL": ""}, "- TRIOFLIX_ADVERTISE_URL (--advertise-url) is not set"),
        ({"TRIOFLIX_ADVERTISE_URL": "http://0.0.0.0:8000"}, "names no host the others can reach"),
        ({"JWT_SECRET": ""}, "- JWT_SECRET is not set, so this host would generate a secret"),
        ({"REDIS_URL": ""}, "TRIOFLIX_ADVERTISE_URL (--advertise-url) is set but REDIS_URL is not"),
    ],
    ids=["sqlite", "no-advertise-url", "wildcard-advertise-url", "no-secret", "no-redis"],
)
async def test_serve_refuses_settings_that_split_the_site(
    tmp_path: Path, redis_server: RedisServer, changes: dict[str, str], message: str
) -> None:
    data_dir = tmp_path / "data"
    code, stderr = await serve(cluster_env(data_dir, redis_server.url, **changes))
    assert code == 2, stderr
    # The command's own line, after the log lines: what is refused and what to set.
    printed = stderr[stderr.index("\ntrioflix: ") :]
    assert message in printed
    assert not data_dir.exists()  # refused before the database or the secret was written


async def test_serve_refuses_another_secret_than_the_live_hosts(
    tmp_path: Path, redis_server: RedisServer, redis: coredis.Redis[bytes]
) -> None:
    shared = storage_id(tmp_path)
    up = member("up", storage=shared, secret_fingerprint=secret_fingerprint(SECRET))
    await Membership(redis).announce(up, 60)
    env = cluster_env(tmp_path, redis_server.url, JWT_SECRET="another-secret-" + "o" * 32)
    code, stderr = await serve(env)
    assert code == 2, stderr
    assert "trioflix: JWT_SECRET differs from the one used by the hosts at http://up:8000" in stderr


async def test_serve_refuses_to_join_without_redis(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    redis_server.stop()
    code, stderr = await serve(cluster_env(tmp_path / "data", redis_server.url))
    assert code == 1, stderr
    assert "trioflix: cannot reach Redis (REDIS_URL) to join the cluster" in stderr


async def test_plain_hypercorn_refuses_redis_with_sqlite(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    env = cluster_env(tmp_path / "data", redis_server.url, DATABASE_URL="")
    hypercorn = [sys.executable, "-m", "hypercorn", "-k", "trio", "-b", "127.0.0.1:0"]
    # It stops by itself (the exit status is hypercorn's: its parent process
    # exits 0 when the worker dies), printing the refusal as the startup failure.
    _, stderr = await serve(env, [*hypercorn, "trioflix.asgi:app"])
    assert "LifespanFailureError: Lifespan failure in startup" in stderr
    assert "DATABASE_URL is not set, so this host would keep its own SQLite database" in stderr
