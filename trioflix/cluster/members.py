"""Host membership: every host heartbeats a record with a TTL; the live ones are the cluster.

Records live in one Redis hash (``trioflix:cluster:members``, host id -> record as
JSON) with each host's expiry, in milliseconds of Redis's own clock, in a sorted
set beside it (``trioflix:cluster:members:expiry``). Both are written and read by
Lua scripts, so a host that stops heartbeating (killed, cut off) drops out of
:meth:`Membership.members` once its TTL has passed, judged by one clock for all
hosts; a host that stops cleanly removes itself at once (:func:`heartbeat`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import msgspec
import trio

from trioflix.cluster.errors import redis_errors

if TYPE_CHECKING:
    from collections.abc import Callable

    import coredis

__all__ = ["IngestFigure", "Load", "Member", "Membership", "heartbeat"]

logger = logging.getLogger(__name__)

BEATS_PER_TTL = 3  # two heartbeats may be lost before the others see this host gone
LEAVE_TIMEOUT_S = 1.0  # a healthy Redis answers in well under a millisecond
_HASH = "trioflix:cluster:members"
_EXPIRY = "trioflix:cluster:members:expiry"

_NOW_MS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

_ANNOUNCE = (
    _NOW_MS
    + """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[1])
return 1
"""
)

_MEMBERS = (
    _NOW_MS
    + """
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
if #gone > 0 then
  redis.call('HDEL', KEYS[1], unpack(gone))
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
end
return redis.call('HVALS', KEYS[1])
"""
)


#: One figure of a channel's ingest (codec, size, frame rate, bitrate, counters).
IngestFigure = float | int | str | None


class Load(msgspec.Struct, frozen=True, kw_only=True):
    """How busy a host is, as of its last heartbeat.

    Attributes:
        publishers: Channels live on this host (publishing, or waiting for their
            encoder within the reconnect grace).
        viewers: Viewers served by this host, all protocols together.
        viewers_by_protocol: The same by playback protocol (``rtmp``,
            ``http-flv``, ``ws-flv``, ``hls``).
        cpu: Process CPU seconds per second (1.0 is one core busy).
    """

    publishers: int = 0
    viewers: int = 0
    viewers_by_protocol: dict[str, int] = {}
    cpu: float = 0.0


class Member(msgspec.Struct, frozen=True, kw_only=True):
    """One host's heartbeat record.

    Attributes:
        host: Its host id (unique per process start).
        advertise_url: Where the other hosts reach its HTTP port.
        started_at: When it started, seconds since 1970.
        secret_fingerprint: ``trioflix.cluster.keys.secret_fingerprint`` of its
            ``JWT_SECRET``: equal on hosts that share the secret, revealing nothing of it.
        storage: Identifies where its media lives (``trioflix.cluster.shared_storage``):
            equal on hosts that share it.
        channels: The channels it is the origin of.
        viewers: Its viewers by channel and protocol, for the site's sums (a
            channel or protocol with none is left out, to keep the record small).
        ingest: The ingest figures of the channels it is the origin of, as the
            status API shows them, for the other hosts' status answers.
        ll_hls: Whether it serves LL-HLS of the channels it is the origin of, which
            the other hosts then relay and offer too.
        load: Its load figures.
    """

    host: str
    advertise_url: str
    started_at: float
    secret_fingerprint: str
    storage: str
    channels: tuple[str, ...] = ()
    viewers: dict[str, dict[str, int]] = {}
    ingest: dict[str, dict[str, IngestFigure]] = {}
    ll_hls: bool = False
    load: Load = Load()


class Membership:
    """The cluster's member records, on a Redis client that the caller has entered.

    Error handling:
        Every method raises what the Redis client raises (one of
        :func:`trioflix.cluster.errors.redis_errors`) when Redis is unreachable; time
        limits are the caller's (a cancel scope around the call).
    """

    def __init__(self, redis: coredis.Redis[bytes]) -> None:
        self._redis = redis
        self._announce = redis.register_script(_ANNOUNCE)
        self._members = redis.register_script(_MEMBERS)

    async def announce(self, member: Member, ttl_s: float) -> None:
        """Write (or renew) ``member``'s record, live for ``ttl_s`` from now."""
        if not ttl_s > 0:
            raise ValueError(f"a member record needs a positive TTL, not {ttl_s!r}")
        await self._announce(
            keys=[_HASH, _EXPIRY],
            args=[member.host, msgspec.json.encode(member), max(1, round(ttl_s * 1000))],
        )

    async def leave(self, host: str) -> None:
        """Remove ``host``'s record now."""
        await self._redis.hdel(_HASH, [host])
        await self._redis.zrem(_EXPIRY, [host])

    async def members(self) -> list[Member]:
        """The live members, ordered by host id; expired records are removed on the way."""
        records: list[bytes] = await self._members(keys=[_HASH, _EXPIRY], args=[])
        found = []
        for record in records:
            try:
                found.append(msgspec.json.decode(record, type=Member))
            except msgspec.ValidationError as exc:  # a host running another version
                logger.warning("ignoring a member record that does not parse: %s", exc)
        return sorted(found, key=lambda member: member.host)


async def heartbeat(
    membership: Membership,
    describe: Callable[[], Member],
    ttl_s: float,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Announce this host every ``ttl_s / 3`` until cancelled.

    Args:
        membership: Where the records live.
        describe: Called before each heartbeat for the record to write, so that
            the live channels and load figures are current.
        ttl_s: How long each record lives; the other hosts notice this one gone
            within it after its last heartbeat.

    Reports started after the first heartbeat was attempted (and written, if Redis
    answered). A heartbeat that fails is logged and the next one tried as usual:
    membership is what the other hosts see, and this host keeps serving.

    Resource handling:
        Cancelled, it removes this host's record (shielded, at most
        :data:`LEAVE_TIMEOUT_S`), so the others notice at once.
    """
    interval = ttl_s / BEATS_PER_TTL
    host = describe().host
    try:
        while True:
            beat_at = trio.current_time()
            with trio.move_on_after(interval):
                try:
                    await membership.announce(describe(), ttl_s)
                except redis_errors() as exc:
                    logger.warning("cluster heartbeat failed: %r", exc)
            task_status.started()
            task_status = trio.TASK_STATUS_IGNORED
            await trio.sleep_until(beat_at + interval)
    finally:
        with trio.move_on_after(LEAVE_TIMEOUT_S, shield=True):
            try:
                await membership.leave(host)
            except redis_errors() as exc:
                logger.info("could not remove this host's member record: %r", exc)
