"""The chat hub: this process's rooms, their logs, the bus, and the viewer-count ticker.

It runs in the service nursery (:func:`ChatHub.run`). Websocket handlers, which
hypercorn runs elsewhere, enter rooms with ``async with hub.join(channel, user)``;
the room opens with its first member (loading moderation state from the
database and subscribing on the bus) and closes with its last.

The ticker pushes a ``viewers`` frame when a room's counts change: its chat
members over all processes, and the live stream's viewers (every protocol, HLS
included) as the ``live_viewers`` callable reports them; the hub knows nothing
of the live side beyond that callable.
"""

from __future__ import annotations

import collections
import logging
import time
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import trio

from trioflix.chat.bus import LocalBus
from trioflix.chat.metrics import ChatStats
from trioflix.chat.protocol import ChatError, encode
from trioflix.chat.room import LogEntry, Member, Room, RoomLog
from trioflix.chat.store import RoomState, load_room_state
from trioflix.chat.write_clock import WriteClock
from trioflix.store.users import get_user_by_name

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from trioflix.chat.bus import Bus
    from trioflix.chat.limits import ChatLimits
    from trioflix.store import Database
    from trioflix.store.users import User

__all__ = ["ChatHub", "role_of"]

logger = logging.getLogger(__name__)


def _not_live(channel: str) -> dict[str, int] | None:
    return None


def role_of(state: RoomState, user: User | None) -> str:
    if user is None:
        return "viewer"
    if user.id == state.channel_id:
        return "owner"
    return "moderator" if user.id in state.moderators else "user"


class ChatHub:
    """Rooms of this process.

    Args:
        db: The database (moderation state, users).
        limits: Rate limits, queue sizes, the viewer tick.
        redis_url: Share rooms with other processes over Redis.
        live_viewers: ``channel -> counts | None``: the live stream's viewers by
            protocol with a ``total``, over every host of the site (``None``: not
            live). Synchronous and
            cheap: called for every open room at every tick.

    Resource handling:
        Every member's queue is closed when its ``join`` block exits; a room with
        no member left is detached from the bus and forgotten, its log kept (up to
        ``limits.idle_rooms`` logs of empty rooms) for clients that come back.
    """

    def __init__(
        self,
        db: Database,
        limits: ChatLimits,
        redis_url: str | None = None,
        *,
        live_viewers: Callable[[str], dict[str, int] | None] = _not_live,
    ) -> None:
        self.db = db
        self.limits = limits
        self._live_viewers = live_viewers
        self.rooms: dict[str, Room] = {}
        self.stats = ChatStats()  # read by trioflix.chat.metrics at scrape time
        self._logs: collections.OrderedDict[str, RoomLog] = collections.OrderedDict()
        self.write_clock = WriteClock(limits.flush_interval_s)
        self.bus: Bus
        if redis_url:
            from trioflix.chat.redis_bus import RedisBus

            self.bus = RedisBus(self, redis_url, limits)
        else:
            self.bus = LocalBus(self)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.bus.run)
            nursery.start_soon(self._tick_viewers)
            await nursery.start(self.write_clock.run)
            task_status.started()

    # --- what the bus calls -------------------------------------------------------------

    def log_for(self, channel: str) -> RoomLog:
        log = self._logs.get(channel)
        if log is None:
            log = self._logs[channel] = RoomLog(self.limits.history)
            keep = self.limits.idle_rooms + len(self.rooms)
            if len(self._logs) > keep:
                for name in list(self._logs):
                    if len(self._logs) <= keep:
                        break
                    if name not in self.rooms and name != channel:
                        del self._logs[name]
        else:
            self._logs.move_to_end(channel)
        return log

    def deliver(
        self, channel: str, seq: int, kind: str, target: int, frame: str, event: dict[str, Any]
    ) -> None:
        """Record and fan out event ``seq``; a duplicate (``seq`` already seen) is ignored."""
        log = self.log_for(channel)
        if seq <= log.last_seq:
            return
        log.append(LogEntry(seq, kind, target, frame))
        self.stats.event(kind)
        room = self.rooms.get(channel)
        if room is not None:
            room.apply(kind, event)
            self.stats.frames_out += len(room.members)
            room.fan_out(seq, frame)

    def signal_received(self, channel: str, kind: str, event: dict[str, Any]) -> None:
        self.stats.signal(kind)
        room = self.rooms.get(channel)
        if room is not None:
            room.apply(kind, event)

    # --- what connections and routes call ------------------------------------------------

    @asynccontextmanager
    async def join(self, channel: str, user: User | None) -> AsyncIterator[Member]:
        """Enter ``channel``'s room as ``user`` (``None``: a read-only viewer).

        Raises:
            ChatError: ``no_such_channel`` (404).
            StoreUnavailable: the room's state cannot be loaded.
        """
        room = self.rooms.get(channel)
        opener = room is None
        if room is None:
            room = self.rooms[channel] = Room(channel, self.log_for(channel), self.limits)
            room.on_drop = self.stats.dropped_one
            room.on_batch = self.write_clock.batch_started
        room.refs += 1
        inbox, outbox = trio.open_memory_channel[tuple[int, str]](self.limits.outgoing_queue)
        member = Member(user=user, inbox=inbox, outbox=outbox, room=room)
        try:
            if opener:
                await self._open(room)
            else:
                await room.ready.wait()
            if room.failure is not None:
                raise room.failure
            room.members.add(member)
            yield member
        finally:
            room.members.discard(member)
            inbox.close()
            outbox.close()
            room.refs -= 1
            if room.refs == 0 and self.rooms.get(channel) is room:
                del self.rooms[channel]
                self.bus.detach(room)

    async def _open(self, room: Room) -> None:
        try:
            owner = await get_user_by_name(self.db, room.name)
            if owner is None:
                raise ChatError("no_such_channel", f"there is no channel {room.name!r}", status=404)
            # Subscribe first: a ban published while the state loads is applied after it.
            await self.bus.attach(room)
            room.loaded(await load_room_state(self.db, owner.id, owner.name, time.time()))
        except Exception as exc:
            room.fail(exc)
            raise
        finally:
            if not room.ready.is_set():  # cancelled while opening: let waiters retry
                room.fail(ChatError("unavailable", "the room could not be opened", status=503))
            if room.failure is not None and self.rooms.get(room.name) is room:
                del self.rooms[room.name]
                self.bus.detach(room)

    async def room_state(self, channel: str) -> RoomState:
        """The moderation state of ``channel``: the open room's, or freshly from the database.

        Raises:
            ChatError: ``no_such_channel`` (404).
        """
        room = self.rooms.get(channel)
        if room is not None and room.state is not None:
            return room.state
        owner = await get_user_by_name(self.db, channel)
        if owner is None:
            raise ChatError("no_such_channel", f"there is no channel {channel!r}", status=404)
        return await load_room_state(self.db, owner.id, owner.name, time.time())

    async def welcome(self, member: Member, since: int | None) -> tuple[str, int]:
        """The welcome frame for a member that just joined, and the last id it contains.

        Frames queued for the member with an id at or below that one are duplicates
        of its history and are skipped by the writer.
        """
        room = member.room
        assert room is not None and room.state is not None
        entries, truncated = await self.bus.history(room.name, since, self.limits.history)
        state = room.state
        user = member.user
        body: dict[str, Any] = {
            "type": "welcome",
            "channel": room.name,
            "role": role_of(state, user),
            "user": None if user is None else {"id": user.id, "name": user.name},
            "settings": state.settings.public(),
            "emotes": [e.public() for e in state.emotes.values()],
            "viewers": max(room.viewers, len(room.members)),
            "live_viewers": self._live_viewers(room.name),
            "resumed": since is not None,
            "truncated": truncated,
        }
        if user is not None:
            record = state.active_ban(user.id, time.time())
            if record is not None:
                body["banned"] = record.until is None
                body["banned_until"] = record.until
                body["ban_reason"] = record.reason
                if record.seconds is not None:
                    body["timeout_s"] = record.seconds
        frames = ",".join(entry.frame for entry in entries)
        frame = encode(body)[:-1] + ',"history":[' + frames + "]}"
        return frame, max((entry.seq for entry in entries), default=0)

    async def _tick_viewers(self) -> None:
        while True:
            await trio.sleep(self.limits.viewer_tick_s)
            now = time.time()
            for room in list(self.rooms.values()):
                if room.state is None:
                    continue
                local = len(room.members)
                await self.bus.share_viewers(room.name, local)
                total = self.bus.viewers(room.name, local, now)
                live = self._live_viewers(room.name)
                if total != room.viewers or live != room.live_viewers:
                    room.viewers, room.live_viewers = total, live
                    self.stats.frames_out += len(room.members)
                    frame = {"type": "viewers", "count": total, "live": live}
                    room.fan_out(0, encode(frame))
                room.prune(now)
