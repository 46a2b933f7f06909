"""What the hosts of a site share about live HLS, in Redis.

Rules / theory of operation:

1. **Where each rendition stopped** (:meth:`SiteHLS.advance`, :meth:`SiteHLS.stopped_at`).
   For every segment the origin lists in a media playlist, it records first, per
   live session and rendition, the next segment's Media Sequence Number and the
   Discontinuity Sequence Number of the segment just listed; only then does it
   publish the playlist. A host that continues the same live session later (a
   takeover, or an encoder that reconnected to it within the grace) reads the
   record and starts past every segment a player can have seen. Records expire
   :data:`POSITION_TTL_S` after their last write, far past any reconnect grace.
   A rendition's LL-HLS playlist has a record of its own (:func:`low_latency`), in the
   same session's hash, under the same claim.
2. **One writer per session** (:meth:`SiteHLS.claim`). The host that starts writing a
   session's HLS claims it first; from then on the previous writer's records are
   refused, and it must not list the segment it tried to record. So an old origin
   that has not yet learnt of a takeover cannot list a segment under a number the
   new one uses, and numbers and names never repeat. A record also only goes up.
3. **Playback sessions** (:meth:`SiteHLS.players_seen`, :meth:`SiteHLS.players`).
   Every host adds the ``vs`` tokens of the media playlists it served to one
   sorted set per channel, scored with Redis's clock; the channel's origin counts
   the members seen within the viewer window. A player whose requests a balancer
   spreads over every host is one member, so it counts once for the site. A
   player that ends its session is removed at once (:meth:`SiteHLS.player_left`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Collection

    import coredis

__all__ = ["PLAYERS_TTL_S", "POSITION_TTL_S", "Position", "SiteHLS", "low_latency"]

POSITION_TTL_S: Final = 3600  # a session continues within its reconnect grace: minutes at most
# A channel's players are dropped this long after the last one was seen: longer than
# any viewer window (two 10 s target durations), so counting never misses one.
PLAYERS_TTL_S: Final = 120
# Lua's unpack() takes a few thousand values at most: tokens go to Redis in batches.
_BATCH: Final = 1000
_BASE = "trioflix:hls"

_NOW_MS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# The field naming the session's writer, beside the renditions' (``source``, ``720p``).
_WRITER = "!writer"

# KEYS[1]: the session's positions; ARGV: writer field, writer, TTL (s).
_CLAIM = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""

# KEYS[1]: the session's positions; ARGV: rendition, next MSN, discontinuity seq, TTL (s),
# writer field, writer. 0: another writer holds the session; 1: recorded or behind.
_ADVANCE = """
local writer = redis.call('HGET', KEYS[1], ARGV[5])
if writer and writer ~= ARGV[6] then return 0 end
local stored = redis.call('HGET', KEYS[1], ARGV[1])
if stored then
  local next = tonumber(string.match(stored, '^(%d+)'))
  if next >= tonumber(ARGV[2]) then return 1 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ':' .. ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
"""

# KEYS[1]: the channel's players; ARGV[1]: the set's TTL (s), then the tokens.
_SEEN = (
    _NOW_MS
    + """
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], now, ARGV[i])
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
"""
)

_COUNT = (
    _NOW_MS
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))
return redis.call('ZCARD', KEYS[1])
"""
)


@dataclass(frozen=True, slots=True)
class Position:
    """Where a rendition's playlist stopped.

    Attributes:
        media_sequence: The Media Sequence Number of the next segment.
        discontinuity_sequence: The Discontinuity Sequence Number of the last segment
            listed: a playlist continuing it starts with this EXT-X-DISCONTINUITY-SEQUENCE
            and its first segment carries EXT-X-DISCONTINUITY.
    """

    media_sequence: int
    discontinuity_sequence: int


def low_latency(rendition: str) -> str:
    """The name under which ``rendition``'s LL-HLS playlist records where it stands."""
    return f"ll:{rendition}"


def _positions_key(channel: str, session_id: int) -> str:
    return f"{_BASE}:position:{channel}:{session_id}"


def _players_key(channel: str) -> str:
    return f"{_BASE}:players:{channel}"


class SiteHLS:
    """Live HLS state shared by the hosts, on a Redis client that the caller has entered.

    Error handling:
        Every method raises what the Redis client raises (one of
        :func:`trioflix.cluster.errors.redis_errors`) when Redis is unreachable; time
        limits are the caller's.
    """

    def __init__(self, redis: coredis.Redis[bytes]) -> None:
        self._redis = redis
        self._claim = redis.register_script(_CLAIM)
        self._advance = redis.register_script(_ADVANCE)
        self._seen = redis.register_script(_SEEN)
        self._count = redis.register_script(_COUNT)

    async def claim(self, channel: str, session_id: int, writer: str) -> None:
        """Make ``writer`` the one host writing the session's HLS from now on (rule 2)."""
        await self._claim(
            keys=[_positions_key(channel, session_id)], args=[_WRITER, writer, POSITION_TTL_S]
        )

    async def advance(
        self, channel: str, session_id: int, rendition: str, position: Position, writer: str
    ) -> bool:
        """Record that ``rendition`` of the session got as far as ``position``.

        Returns:
            ``False`` if another writer has claimed the session since (rule 2): the
            segment must not be listed. A position behind the recorded one is
            ignored (rule 1) and returns ``True``.
        """
        recorded: int = await self._advance(
            keys=[_positions_key(channel, session_id)],
            args=[
                rendition,
                position.media_sequence,
                position.discontinuity_sequence,
                POSITION_TTL_S,
                _WRITER,
                writer,
            ],
        )
        return recorded == 1

    async def stopped_at(self, channel: str, session_id: int, rendition: str) -> Position | None:
        """Where ``rendition`` of the session stopped on any host; ``None``: nowhere yet."""
        stored = await self._redis.hget(_positions_key(channel, session_id), rendition)
        if stored is None:
            return None
        media_sequence, discontinuity_sequence = stored.decode().split(":")
        return Position(int(media_sequence), int(discontinuity_sequence))

    async def positions(self, channel: str, session_id: int) -> dict[str, Position]:
        """Where every rendition of the session stopped, by the name it recorded under."""
        stored = await self._redis.hgetall(_positions_key(channel, session_id))
        out = {}
        for field, value in stored.items():
            name = field.decode()
            if name != _WRITER:
                media_sequence, discontinuity_sequence = value.decode().split(":")
                out[name] = Position(int(media_sequence), int(discontinuity_sequence))
        return out

    async def players_seen(self, channel: str, tokens: Collection[str]) -> None:
        """Players (``vs`` tokens) fetched a media playlist of ``channel`` just now."""
        listed = list(tokens)
        for start in range(0, len(listed), _BATCH):
            args: list[Any] = [PLAYERS_TTL_S, *listed[start : start + _BATCH]]
            await self._seen(keys=[_players_key(channel)], args=args)

    async def player_left(self, channel: str, token: str) -> None:
        """The player ``token`` of ``channel`` ended its playback session."""
        await self._redis.zrem(_players_key(channel), [token])

    async def players(self, channel: str, window_s: float) -> int:
        """How many players fetched a media playlist of ``channel`` within ``window_s``,
        from any host."""
        count: int = await self._count(
            keys=[_players_key(channel)], args=[max(1, round(window_s * 1000))]
        )
        return count
