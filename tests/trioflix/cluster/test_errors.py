"""Which failures of a Redis call count as Redis being unavailable (and are handled)."""

from __future__ import annotations

import anyio
import coredis  # loaded as a Redis client loads it: redis_errors() then names its errors

from trioflix.chat.redis_bus import _REDIS_ERRORS
from trioflix.cluster.errors import redis_errors


def test_a_connection_closed_under_a_command_is_an_outage_not_a_bug() -> None:
    # What a command meets when Redis restarts while it is being sent (seen in the
    # soak): anyio's stream errors come through coredis as they are.
    closed = {anyio.ClosedResourceError, anyio.BrokenResourceError}
    assert closed <= set(redis_errors())
    assert closed <= set(_REDIS_ERRORS)
    assert coredis.exceptions.RedisError in redis_errors()
