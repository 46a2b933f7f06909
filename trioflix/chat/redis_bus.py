"""The bus across processes: Redis pub/sub delivers, a Redis stream per room orders and keeps.

Publishing runs one Lua script, atomically in Redis: take the room's next id,
append the frame to the room's stream (trimmed to the history length) and
``PUBLISH`` it on the room's channel. Because Redis runs the script as one step
and delivers each subscriber's messages in the order they were published, every
process receives a room's events in id order; ids come from one sequence per room.

Pub/sub delivers at most once, so a process notices what it missed (an id gap,
or a re-subscription after the link dropped) and reads the missing events from
the stream before delivering anything newer. A client reconnecting to any
process resumes from the same stream.

If Redis is unreachable, publishing falls back to this process alone (ids
continue from the last one seen or handed out here, and Redis is given that id
as a floor when it returns, so ids never go backwards for anyone connected here).
The link (a Redis client and its pub/sub connection) is opened again every
:data:`RECONNECT_DELAY_S` until Redis answers, then catches up. Each link has a
client of its own: coredis' pool loses a slot for every connection that dies
while lent out (the pub/sub one does at every outage), so a client kept across
outages would end up waiting forever for a connection. An outage is logged once
at WARNING, its end at INFO. A command already on its way when the link
closes (its client's pool gone under it) is one more failure of that outage
(:meth:`RedisBus._command`), not a fault of the chat connection that sent it.

Client: coredis (anyio, so it runs natively under Trio). One pub/sub connection
per process carries all of its rooms: one subscription per room, not per client.
"""

from __future__ import annotations

import logging
import secrets
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import anyio
import coredis
import msgspec
import trio
from coredis.exceptions import RedisError
from coredis.retry import NoRetryPolicy

from trioflix.chat.bus import history_from, next_local_seq
from trioflix.chat.room import LogEntry, sequence_base, visible

if TYPE_CHECKING:
    from collections.abc import Iterator

    from trioflix.chat.bus import Delivery
    from trioflix.chat.limits import ChatLimits
    from trioflix.chat.room import Room

__all__ = ["LinkClosed", "RedisBus"]

logger = logging.getLogger(__name__)

REDIS_TIMEOUT_S = 1.0  # a healthy Redis answers in well under a millisecond
RETRY_REDIS_AFTER_S = 1.0  # after a failure, publish locally this long before trying again
ATTACH_TIMEOUT_S = 2.0  # a room opens without cross-process traffic rather than wait longer
RECONNECT_DELAY_S = 2.0  # between attempts to link again: the link comes back within ~2 s
KEY_TTL_S = 7 * 86400  # a room's id sequence and history outlive a week of silence, then go
# Kinds whose events change the rooms' cached state: decoded on receipt.
STATEFUL = frozenset({"ban", "timeout", "unban", "settings"})

_PUBLISH = """
local cur = tonumber(redis.call('GET', KEYS[1]) or ARGV[5])
local floor = tonumber(ARGV[4])
if cur < floor then cur = floor end
local seq = string.format('%d', cur + 1)
redis.call('SET', KEYS[1], seq, 'EX', ARGV[8])
local frame = ARGV[1] .. seq .. ARGV[2]
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '0-' .. seq,
           'f', frame, 'k', ARGV[6], 't', ARGV[7])
redis.call('EXPIRE', KEYS[2], ARGV[8])
redis.call('PUBLISH', KEYS[3], seq .. ' ' .. ARGV[6] .. ' ' .. ARGV[7] .. ' ' .. frame)
return seq
"""


class LinkClosed(Exception):
    """The link a command was sent on closed before the command got a connection."""


# anyio's stream errors: a command sent as its connection closes (Redis restarting)
# meets them, not a RedisError.
_REDIS_ERRORS = (
    RedisError,
    LinkClosed,
    anyio.ClosedResourceError,
    anyio.BrokenResourceError,
    OSError,
    TimeoutError,
    trio.TooSlowError,
)


def _keys(channel: str) -> tuple[str, str, str]:
    base = f"trioflix:chat:{channel}"
    return f"{base}:seq", f"{base}:log", f"{base}:events"


def _entry(entry: Any) -> LogEntry:
    """A stream entry (fields ``f`` frame, ``k`` kind, ``t`` target) as a log entry."""
    fields = entry.field_values
    return LogEntry(
        int(entry.identifier.split(b"-", 1)[1]),
        fields[b"k"].decode(),
        int(fields[b"t"]),
        fields[b"f"].decode(),
    )


class RedisBus:
    """Resource handling:
    :meth:`run` owns the Redis client and the pub/sub connection; both close when
    it is cancelled.
    """

    def __init__(self, hub: Delivery, url: str, limits: ChatLimits) -> None:
        self._hub = hub
        self._url = url
        self._limits = limits
        self._process = secrets.token_hex(6)
        self._client: coredis.Redis[bytes] | None = None
        self._script: Any = None
        self._rooms: dict[str, Room] = {}  # rooms this process wants traffic for
        self._acked: dict[str, trio.Event] = {}
        self._subscribed: set[str] = set()
        self._changed = trio.Event()
        self._down_until = 0.0
        self._outage = False  # logged as begun and not yet as over
        # The highest id handed out here per room: an id Redis gave reaches the room's log
        # only through pub/sub, which may be down while commands still succeed.
        self._issued: dict[str, int] = {}
        self._viewers: dict[str, dict[str, tuple[int, float]]] = {}

    # --- the background task -------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            client: coredis.Redis[bytes] = coredis.Redis.from_url(
                self._url, decode_responses=False, retry_policy=NoRetryPolicy()
            )
            try:
                async with client, client.pubsub(retry_policy=NoRetryPolicy()) as pubsub:
                    self._client = client
                    self._script = client.register_script(_PUBLISH)
                    self._changed.set()  # subscribe every room open here on this link
                    self._report_answering()
                    try:
                        async with trio.open_nursery() as nursery:
                            nursery.start_soon(self._reconcile, pubsub)
                            await self._consume(pubsub)
                    finally:
                        # Before the client closes: commands from now on are local, and
                        # those on their way fail as this link's (_command).
                        self._client = None
            except* _REDIS_ERRORS as group:
                # Groups: the pub/sub's own task group and ours, a failure in either.
                self._report_outage("link", group.exceptions[0])
            finally:
                self._subscribed.clear()
            await trio.sleep(RECONNECT_DELAY_S)

    async def _reconcile(self, pubsub: Any) -> None:
        """Keep the pub/sub subscriptions equal to the rooms open here."""
        while True:
            await self._changed.wait()
            self._changed = trio.Event()
            wanted = {_keys(name)[2] for name in self._rooms}
            current = set(pubsub.channels)
            try:
                for channel in sorted(wanted - current):
                    await pubsub.subscribe(channel)
                for channel in sorted(current - wanted):
                    await pubsub.unsubscribe(channel)
            except _REDIS_ERRORS as exc:
                logger.info("redis subscription change failed (%s); retrying", exc)
                await trio.sleep(0.2)
                self._changed.set()

    async def _consume(self, pubsub: Any) -> None:
        while True:
            message = await pubsub.get_message()
            if message is None:
                continue
            kind = message["type"]
            name = message["channel"].decode().split(":")[2]
            if kind == "subscribe":
                await self._subscribed_to(name)
            elif kind == "unsubscribe":
                self._subscribed.discard(name)
            elif kind == "message" and name in self._rooms:
                await self._received(name, message["data"])

    async def _subscribed_to(self, name: str) -> None:
        again = name in self._subscribed or self._hub.log_for(name).last_seq != 0
        self._subscribed.add(name)
        if again:  # after a reconnect (or a reopened room): read what pub/sub did not deliver
            await self._catch_up(name, None)
        acked = self._acked.get(name)
        if acked is not None:
            acked.set()

    async def _received(self, name: str, data: bytes) -> None:
        seq_text, kind_b, target, frame_b = data.split(b" ", 3)
        seq = int(seq_text)
        kind = kind_b.decode()
        if seq == 0:  # a signal
            if kind == "viewers":
                process, count = frame_b.decode().split(" ")
                self._viewers.setdefault(name, {})[process] = (int(count), time.time())
            else:
                self._hub.signal_received(name, kind, msgspec.json.decode(frame_b))
            return
        last = self._hub.log_for(name).last_seq
        if last and seq > last + 1:
            await self._catch_up(name, seq)
        frame = frame_b.decode()
        event = msgspec.json.decode(frame_b) if kind in STATEFUL else {}
        self._hub.deliver(name, seq, kind, int(target), frame, event)

    async def _catch_up(self, name: str, before: int | None) -> None:
        """Deliver stream entries after the last id seen here (and before ``before``)."""
        last = self._hub.log_for(name).last_seq
        end = "+" if before is None else f"0-{before - 1}"
        try:
            with self._command() as client:
                entries = await client.xrange(
                    _keys(name)[1], f"0-{last + 1}", end, count=self._limits.history
                )
        except _REDIS_ERRORS as exc:
            logger.info("could not catch up on %s: %s", name, exc)
            return
        for entry in entries:
            item = _entry(entry)
            event = msgspec.json.decode(item.frame) if item.kind in STATEFUL else {}
            self._hub.deliver(name, item.seq, item.kind, item.target, item.frame, event)

    # --- the Bus interface -----------------------------------------------------------------

    def _usable(self) -> bool:
        return self._client is not None and time.monotonic() >= self._down_until

    @contextmanager
    def _command(self) -> Iterator[coredis.Redis[bytes]]:
        """The link's client for one command, which must answer within
        :data:`REDIS_TIMEOUT_S`.

        Raises:
            LinkClosed: The link closed while the command waited (Redis restarting):
                coredis raises ``RuntimeError`` from the client's pool, which had
                exited. A ``RuntimeError`` while the link is still up is a bug and
                propagates as it is.
        """
        client = self._client
        if client is None:
            raise LinkClosed("no link to Redis")
        try:
            with trio.fail_after(REDIS_TIMEOUT_S):
                yield client
        except RuntimeError as exc:
            if self._client is client:
                raise
            raise LinkClosed(f"the link closed under the command ({exc})") from exc

    def _failed(self, what: str, exc: BaseException) -> None:
        self._down_until = time.monotonic() + RETRY_REDIS_AFTER_S
        self._report_outage(what, exc)

    def _report_outage(self, what: str, exc: BaseException) -> None:
        if self._outage:
            logger.debug("redis %s failed (%r)", what, exc)
            return
        self._outage = True
        logger.warning(
            "redis %s failed (%r); chat is local to this host until it returns", what, exc
        )

    def _report_answering(self) -> None:
        if self._outage:
            self._outage = False
            logger.info("redis answers again; chat spans the hosts again")

    def _issue(self, channel: str, seq: int) -> int:
        self._issued[channel] = max(seq, self._issued.get(channel, 0))
        return seq

    async def publish(
        self, channel: str, kind: str, parts: tuple[str, str], target: int, event: dict[str, Any]
    ) -> int:
        log = self._hub.log_for(channel)
        floor = max(log.last_seq, self._issued.get(channel, 0))
        if self._usable():
            script = self._script  # the link's: its client is the one _command gives
            try:
                with self._command():
                    seq = await script(
                        keys=list(_keys(channel)),
                        args=[
                            parts[0],
                            parts[1],
                            self._limits.history,
                            floor,
                            sequence_base(time.time()),
                            kind,
                            target,
                            KEY_TTL_S,
                        ],
                    )
                self._report_answering()
                return self._issue(channel, int(seq))
            except _REDIS_ERRORS as exc:
                self._failed("publish", exc)
        seq = self._issue(channel, max(next_local_seq(log, time.time()), floor + 1))
        self._hub.deliver(channel, seq, kind, target, parts[0] + str(seq) + parts[1], event)
        return seq

    async def _publish_raw(self, channel: str, payload: str) -> bool:
        if not self._usable():
            await trio.lowlevel.checkpoint()
            return False
        try:
            with self._command() as client:
                await client.publish(_keys(channel)[2], payload)
            return True
        except _REDIS_ERRORS as exc:
            self._failed("publish", exc)
            return False

    async def signal(self, channel: str, kind: str, event: dict[str, Any]) -> None:
        payload = f"0 {kind} 0 " + msgspec.json.encode(event).decode()
        if not await self._publish_raw(channel, payload) or channel not in self._subscribed:
            self._hub.signal_received(channel, kind, event)

    async def history(
        self, channel: str, since: int | None, limit: int
    ) -> tuple[list[LogEntry], bool]:
        if self._usable():
            try:
                with self._command() as client:
                    return await self._stream_history(client, channel, since, limit)
            except _REDIS_ERRORS as exc:
                self._failed("history", exc)
        return history_from(list(self._hub.log_for(channel).entries), since, limit)

    @staticmethod
    async def _stream_history(
        client: coredis.Redis[bytes], channel: str, since: int | None, limit: int
    ) -> tuple[list[LogEntry], bool]:
        key = _keys(channel)[1]
        start = "-" if since is None else f"0-{since + 1}"
        newest = await client.xrevrange(key, "+", start, count=limit + 1)
        entries = [_entry(e) for e in reversed(newest)]
        if since is None:
            return visible(entries[-limit:]), False
        truncated = len(entries) > limit
        if not truncated:
            oldest = await client.xrange(key, "-", "+", count=1)
            truncated = bool(oldest) and _entry(oldest[0]).seq > since + 1
        return visible(entries[-limit:]), truncated

    async def lookup(self, channel: str, seq: int) -> LogEntry | None:
        if self._usable():
            try:
                with self._command() as client:
                    found = await client.xrange(_keys(channel)[1], f"0-{seq}", f"0-{seq}", count=1)
                return _entry(found[0]) if found else None
            except _REDIS_ERRORS as exc:
                self._failed("lookup", exc)
        return self._hub.log_for(channel).find(seq)

    async def attach(self, room: Room) -> None:
        self._rooms[room.name] = room
        acked = self._acked[room.name] = trio.Event()
        self._changed.set()
        with trio.move_on_after(ATTACH_TIMEOUT_S):
            await acked.wait()

    def detach(self, room: Room) -> None:
        if self._rooms.get(room.name) is room:
            del self._rooms[room.name]
            self._acked.pop(room.name, None)
            self._viewers.pop(room.name, None)
            self._issued.pop(room.name, None)
            self._changed.set()

    def viewers(self, channel: str, local: int, now: float) -> int:
        horizon = now - 3 * self._limits.viewer_tick_s
        counts = self._viewers.get(channel, {})
        others = sum(
            count
            for process, (count, seen) in counts.items()
            if process != self._process and seen >= horizon
        )
        return local + others

    async def share_viewers(self, channel: str, local: int) -> None:
        await self._publish_raw(channel, f"0 viewers 0 {self._process} {local}")
