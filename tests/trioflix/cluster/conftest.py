"""A Redis client on the test's own redis-server, as the cluster modules are given one;
and the rig: three hosts of one site."""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import TYPE_CHECKING

import coredis
import pytest
from coredis.retry import NoRetryPolicy

from tests.conftest import REDIS_SERVER, RedisServer
from tests.ports import free_port

from .rig import Rig

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from tests.conftest import PostgresCluster


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[coredis.Redis[bytes]]:
    # No retries: the modules under test decide what a failed call means.
    client: coredis.Redis[bytes] = coredis.Redis.from_url(
        redis_server.url, decode_responses=False, retry_policy=NoRetryPolicy()
    )
    async with client:
        yield client
    del client
    # Connections that failed (Redis stopped) are garbage now: collect them while the
    # test's warning filters apply, not at some later test's expense.
    gc.collect()


@contextmanager
def running_rig(
    pg_cluster: PostgresCluster, tmp_path_factory: pytest.TempPathFactory, **site_env: str
) -> Iterator[Rig]:
    """Three hosts of one site (tests/trioflix/cluster/rig.py), each with ``site_env``,
    sharing a data directory."""
    with _running(pg_cluster, tmp_path_factory, site_env, private_data_dirs=False) as site:
        yield site


@contextmanager
def running_private_rig(
    pg_cluster: PostgresCluster, tmp_path_factory: pytest.TempPathFactory, **site_env: str
) -> Iterator[Rig]:
    """As :func:`running_rig`, but each host has a data directory of its own."""
    with _running(pg_cluster, tmp_path_factory, site_env, private_data_dirs=True) as site:
        yield site


@contextmanager
def _running(
    pg_cluster: PostgresCluster,
    tmp_path_factory: pytest.TempPathFactory,
    site_env: dict[str, str],
    *,
    private_data_dirs: bool,
) -> Iterator[Rig]:
    if not REDIS_SERVER.exists():
        pytest.skip(f"{REDIS_SERVER} not found (apt-get install redis-server)")
    workdir = tmp_path_factory.mktemp("rig")
    (workdir / "redis").mkdir()
    redis = RedisServer(port=free_port(), workdir=workdir / "redis")
    redis.start()
    site = Rig(
        database_url=pg_cluster.url(pg_cluster.create_database()),
        redis_server=redis,
        data_dir=workdir / "data",
        workdir=workdir,
        site_env=site_env,
        private_data_dirs=private_data_dirs,
    )
    try:
        for name in ("a", "b", "c"):
            site.start(name)
        yield site
    finally:
        site.stop()
        redis.stop()


@pytest.fixture(scope="module")
def rig(pg_cluster: PostgresCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    """Three hosts of one site, for a whole module.

    The module's tests run in order on the same hosts: one that stops or kills a
    host comes last.
    """
    with running_rig(pg_cluster, tmp_path_factory) as site:
        yield site
