"""The base of every error the cluster package raises, and the Redis failures it handles."""

from __future__ import annotations

import sys

import trio

__all__ = ["ClusterError", "redis_errors"]

# What a Redis call raises when the server is unreachable, refuses or is too slow,
# besides coredis' own errors.
_TRANSPORT_ERRORS: tuple[type[Exception], ...] = (OSError, TimeoutError, trio.TooSlowError)


def redis_errors() -> tuple[type[Exception], ...]:
    """What a Redis call raises when the server is unreachable, refuses or is too slow.

    For ``except redis_errors():``. coredis (13 MiB resident) is imported by the
    first Redis client (:func:`trioflix.cluster.site.join_site` with
    ``REDIS_URL``), not by this module: a host without Redis never loads it, and
    until it is loaded no coredis error can have been raised.
    """
    exceptions = sys.modules.get("coredis.exceptions")
    if exceptions is None:
        return _TRANSPORT_ERRORS
    redis_error: type[Exception] = exceptions.RedisError
    return (redis_error, *_coredis_stream_errors(), *_TRANSPORT_ERRORS)


def _coredis_stream_errors() -> tuple[type[Exception], ...]:
    """What coredis lets through from anyio when a connection closes under a command
    (Redis restarted while it was being sent): anyio's closed and broken streams."""
    anyio = sys.modules["anyio"]  # coredis runs on anyio: loaded with it
    return (anyio.ClosedResourceError, anyio.BrokenResourceError)


class ClusterError(Exception):
    """Something about the cluster (its settings, a lease, a token) is not as required."""
