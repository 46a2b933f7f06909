"""One origin per channel: a lease in Redis with a fencing epoch.

Rules / theory of operation:

- A channel's lease is a Redis hash ``trioflix:cluster:origin:{channel}`` (holder
  host id, its advertise URL, the epoch) with a TTL. Every change runs as one Lua
  script, so two hosts can never both see the channel free and both take it.
- **Epochs only go up.** Each grant takes ``max(last + 1, TIME)``, where ``last``
  is the channel's counter (``trioflix:cluster:epoch:{channel}``) and ``TIME`` is
  Redis's clock in microseconds since 1970. Releasing and re-acquiring goes on
  from the counter. Redis restarted without persistence loses the counter, and
  the next grant starts from its clock, which is past every epoch granted before
  the restart (those were at most their grant's time, plus one per grant made
  within the same microsecond). So an epoch a reader once saw is never granted
  again and never followed by a smaller one, provided the Redis host's clock does
  not step back by more than the restart took. Chat ids use the same rule
  (``trioflix.chat.room.sequence_base``).
- ``acquire`` grants only a free channel; ``take_over`` always grants (the same
  stream key publishing on another host) and the previous holder's next refresh
  is refused.
- ``refresh`` succeeds only while the record still names this host and epoch. If
  the record is gone and no later epoch was granted (Redis lost its data, e.g. a
  restart), the holder writes it back unchanged: an origin outliving a short
  Redis restart keeps its channel and its epoch.
- ``release`` deletes the record only if it is still this lease, and moves the
  counter past the released epoch, so that lease can never be written back.
- **Loss.** :func:`hold` refreshes every ``ttl / 3``. It reports the lease lost
  (``on_lost``) when Redis refuses a refresh (another host took over:
  :attr:`LossReason.SUPERSEDED`) or when no refresh succeeded before the lease
  would have expired (Redis unreachable or too slow: :attr:`LossReason.EXPIRED`).
  The expiry it counts to starts when the last successful refresh was *sent*,
  before Redis started its own TTL, so the holder gives up no later than Redis
  could hand the channel to another host (up to the two clocks' rate
  difference, negligible over seconds).
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import trio

from trioflix.cluster.errors import ClusterError, redis_errors

if TYPE_CHECKING:
    from collections.abc import Callable

    import coredis

    from trioflix.cluster.host import Host

__all__ = [
    "Lease",
    "LeaseRefused",
    "LossReason",
    "Origin",
    "OriginLeases",
    "hold",
]

logger = logging.getLogger(__name__)

# A channel's epoch counter outlives a week without a publish, then goes; a later
# grant starts from Redis's clock again, still above every earlier epoch.
EPOCH_KEY_TTL_S = 7 * 86400
REFRESHES_PER_TTL = 3  # two refreshes may fail or be slow before the lease expires
RETRY_FRACTION = 10  # after a failed refresh, try again after ttl / 10
RELEASE_TIMEOUT_S = 1.0  # a healthy Redis answers in well under a millisecond

_ACQUIRE = """
if ARGV[4] == '0' then
  local held = redis.call('HMGET', KEYS[1], 'host', 'url', 'epoch')
  if held[1] then return {'held', held[1], held[2], held[3]} end
end
local now = redis.call('TIME')
local epoch = tonumber(now[1]) * 1000000 + tonumber(now[2])
local last = tonumber(redis.call('GET', KEYS[2]) or '0')
if last >= epoch then epoch = last + 1 end
epoch = string.format('%d', epoch)
redis.call('SET', KEYS[2], epoch, 'EX', ARGV[5])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'host', ARGV[1], 'url', ARGV[2], 'epoch', epoch)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {'granted', epoch}
"""

_REFRESH = """
local held = redis.call('HMGET', KEYS[1], 'host', 'epoch')
if held[1] then
  if held[1] == ARGV[1] and held[2] == ARGV[3] then
    redis.call('PEXPIRE', KEYS[1], ARGV[4])
    return 'refreshed'
  end
  return 'superseded'
end
local last = redis.call('GET', KEYS[2])
if last and tonumber(last) > tonumber(ARGV[3]) then return 'superseded' end
redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[5])
redis.call('HSET', KEYS[1], 'host', ARGV[1], 'url', ARGV[2], 'epoch', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 'restored'
"""

_RELEASE = """
local held = redis.call('HMGET', KEYS[1], 'host', 'epoch')
local mine = held[1] == ARGV[1] and held[2] == ARGV[2]
if mine then redis.call('DEL', KEYS[1]) end
local epoch = tonumber(ARGV[2])
if tonumber(redis.call('GET', KEYS[2]) or '0') <= epoch then
  redis.call('SET', KEYS[2], string.format('%d', epoch + 1), 'EX', ARGV[3])
end
if mine then return 1 end
return 0
"""


def _keys(channel: str) -> list[str]:
    base = "trioflix:cluster"
    return [f"{base}:origin:{channel}", f"{base}:epoch:{channel}"]


def _ttl_ms(ttl_s: float) -> int:
    if not ttl_s > 0:
        raise ValueError(f"a lease needs a positive TTL, not {ttl_s!r}")
    return max(1, round(ttl_s * 1000))


@dataclass(frozen=True, slots=True, kw_only=True)
class Origin:
    """Who serves a channel to the rest of the cluster.

    Attributes:
        host: The holder's host id.
        advertise_url: Where the other hosts reach the holder's HTTP port.
        epoch: The fencing token: a later holder always has a larger one.
    """

    host: str
    advertise_url: str
    epoch: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Lease:
    """A granted lease, as its holder keeps it.

    Attributes:
        channel: The channel it is for.
        origin: This host and the epoch it was granted.
        ttl_s: How long the lease lives in Redis after each refresh.
        granted_at: ``trio.current_time()`` just before the grant was requested: the
            holder counts the first TTL from here.
    """

    channel: str
    origin: Origin
    ttl_s: float
    granted_at: float


class LeaseRefused(ClusterError):
    """Another host holds the channel's lease.

    Attributes:
        holder: The current holder.
    """

    def __init__(self, channel: str, holder: Origin) -> None:
        super().__init__(
            f"channel {channel!r} is served by host {holder.host} at {holder.advertise_url}"
            f" (epoch {holder.epoch})"
        )
        self.holder = holder


class LossReason(enum.Enum):
    """Why a holder no longer holds its lease."""

    SUPERSEDED = "another host holds the channel now"
    EXPIRED = "no refresh got through before the lease expired"


class OriginLeases:
    """The channels' origin leases, on a Redis client that the caller has entered.

    Error handling:
        Every method raises what the Redis client raises (one of
        :func:`trioflix.cluster.errors.redis_errors`) when Redis is unreachable; time limits are the
        caller's (a cancel scope around the call).
    """

    def __init__(self, redis: coredis.Redis[bytes]) -> None:
        self._acquire = redis.register_script(_ACQUIRE)
        self._refresh = redis.register_script(_REFRESH)
        self._release = redis.register_script(_RELEASE)
        self._redis = redis

    async def acquire(self, channel: str, host: Host, ttl_s: float) -> Lease:
        """Become the channel's origin, if no host is.

        Raises:
            LeaseRefused: a live lease is held (by any host, this one included).
        """
        return await self._grant(channel, host, ttl_s, takeover=False)

    async def take_over(self, channel: str, host: Host, ttl_s: float) -> Lease:
        """Become the channel's origin whoever holds it, with a larger epoch than theirs."""
        return await self._grant(channel, host, ttl_s, takeover=True)

    async def _grant(self, channel: str, host: Host, ttl_s: float, *, takeover: bool) -> Lease:
        ttl_ms = _ttl_ms(ttl_s)
        granted_at = trio.current_time()
        reply: list[Any] = await self._acquire(
            keys=_keys(channel),
            args=[host.id, host.advertise_url, ttl_ms, int(takeover), EPOCH_KEY_TTL_S],
        )
        if reply[0] == b"held":
            holder = Origin(
                host=reply[1].decode(), advertise_url=reply[2].decode(), epoch=int(reply[3])
            )
            raise LeaseRefused(channel, holder)
        origin = Origin(host=host.id, advertise_url=host.advertise_url, epoch=int(reply[1]))
        return Lease(channel=channel, origin=origin, ttl_s=ttl_s, granted_at=granted_at)

    async def refresh(self, lease: Lease) -> bool:
        """Extend the lease by its TTL; ``False`` if it is no longer this lease."""
        origin = lease.origin
        reply: bytes = await self._refresh(
            keys=_keys(lease.channel),
            args=[
                origin.host,
                origin.advertise_url,
                origin.epoch,
                _ttl_ms(lease.ttl_s),
                EPOCH_KEY_TTL_S,
            ],
        )
        if reply == b"restored":
            logger.warning(
                "origin lease of %r was missing from Redis (restarted?); restored epoch %d",
                lease.channel,
                origin.epoch,
            )
        return reply != b"superseded"

    async def release(self, lease: Lease) -> bool:
        """Give the channel up; ``False`` if the lease was no longer this one."""
        released: int = await self._release(
            keys=_keys(lease.channel),
            args=[lease.origin.host, lease.origin.epoch, EPOCH_KEY_TTL_S],
        )
        return bool(released)

    async def expires_in(self, channel: str) -> float | None:
        """Seconds until the channel's lease expires unless its holder refreshes it;
        ``None`` if no host holds it."""
        remaining_ms = await self._redis.pttl(_keys(channel)[0])
        return remaining_ms / 1000 if remaining_ms >= 0 else None

    async def current(self, channel: str) -> Origin | None:
        """The channel's origin now, or ``None`` if no host serves it."""
        host, url, epoch = await self._redis.hmget(_keys(channel)[0], ["host", "url", "epoch"])
        if host is None or url is None or epoch is None:
            return None
        return Origin(host=host.decode(), advertise_url=url.decode(), epoch=int(epoch))


async def hold(
    leases: OriginLeases,
    lease: Lease,
    on_lost: Callable[[LossReason], object],
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Keep ``lease`` alive until cancelled, or until it is lost.

    Args:
        leases: Where the lease lives.
        lease: A lease just granted by :meth:`OriginLeases.acquire` or
            :meth:`OriginLeases.take_over`.
        on_lost: Called once, with the reason, when the lease is lost; then this
            task returns. Typically it cancels the channel's publishing session.

    Resource handling:
        Cancelled while the lease is held, it releases the lease (shielded, at most
        :data:`RELEASE_TIMEOUT_S`) so that another host can take the channel at
        once rather than after the TTL. A lost lease is not released: it is not
        this host's any more.
    """
    ttl = lease.ttl_s
    expires = lease.granted_at + ttl
    next_refresh = lease.granted_at + ttl / REFRESHES_PER_TTL
    held = True
    task_status.started()
    try:
        while True:
            await trio.sleep_until(next_refresh)
            sent = trio.current_time()
            with trio.move_on_at(expires):
                try:
                    refreshed = await leases.refresh(lease)
                except redis_errors() as exc:
                    logger.info("refreshing the origin lease of %r failed: %r", lease.channel, exc)
                    next_refresh = min(expires, sent + ttl / RETRY_FRACTION)
                    continue
                if refreshed:
                    expires = sent + ttl
                    next_refresh = sent + ttl / REFRESHES_PER_TTL
                    continue
                reason = LossReason.SUPERSEDED
                break
            reason = LossReason.EXPIRED
            break
        held = False
        logger.warning("lost the origin lease of %r: %s", lease.channel, reason.value)
        on_lost(reason)
    finally:
        if held:
            with trio.move_on_after(RELEASE_TIMEOUT_S, shield=True):
                try:
                    await leases.release(lease)
                except redis_errors() as exc:
                    logger.info("releasing the origin lease of %r failed: %r", lease.channel, exc)
