"""The base of every error the cluster package raises, and the Redis failures it handles."""

from __future__ import annotations

import trio
from coredis.exceptions import RedisError

__all__ = ["REDIS_ERRORS", "ClusterError"]

# What a Redis call raises when the server is unreachable, refuses or is too slow.
REDIS_ERRORS = (RedisError, OSError, TimeoutError, trio.TooSlowError)


class ClusterError(Exception):
    """Something about the cluster (its settings, a lease, a token) is not as required."""
