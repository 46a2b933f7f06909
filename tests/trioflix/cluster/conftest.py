"""A Redis client on the test's own redis-server, as the cluster modules are given one."""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING

import coredis
import pytest
from coredis.retry import NoRetryPolicy

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from tests.conftest import RedisServer


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
