"""The bus carries room events between the processes serving a room, and numbers them.

Two kinds of traffic:

- **events** (messages, SuperChats, deletions, bans, settings): client-visible,
  numbered by one sequence per room, kept in the room's history, delivered to
  every process in the same order;
- **signals** (moderator list, blocked terms, emotes, viewer counts): update
  the rooms' cached state on every process; not numbered, not shown in history.

:class:`LocalBus` is the single-process bus (no ``REDIS_URL``): the sequence and
the history are the hub's in-memory :class:`~trioflix.chat.room.RoomLog`.
:class:`~trioflix.chat.redis_bus.RedisBus` spans processes.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Protocol

import trio

from trioflix.chat.room import LogEntry, sequence_base, visible

if TYPE_CHECKING:
    from trioflix.chat.room import Room, RoomLog

__all__ = ["Bus", "Delivery", "LocalBus", "history_from", "next_local_seq"]


class Delivery(Protocol):
    """What a bus delivers into: the hub."""

    def deliver(
        self, channel: str, seq: int, kind: str, target: int, frame: str, event: dict[str, Any]
    ) -> None: ...

    def signal_received(self, channel: str, kind: str, event: dict[str, Any]) -> None: ...

    def log_for(self, channel: str) -> RoomLog: ...


class Bus(Protocol):
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run until cancelled (connections, subscriptions, reconnects)."""

    async def publish(
        self, channel: str, kind: str, parts: tuple[str, str], target: int, event: dict[str, Any]
    ) -> int:
        """Number, record and deliver an event everywhere; returns its id."""

    async def signal(self, channel: str, kind: str, event: dict[str, Any]) -> None: ...

    async def history(
        self, channel: str, since: int | None, limit: int
    ) -> tuple[list[LogEntry], bool]:
        """Visible events after ``since`` (or the last ``limit``), oldest first, and whether
        some events after ``since`` are no longer retained."""

    async def lookup(self, channel: str, seq: int) -> LogEntry | None: ...

    async def attach(self, room: Room) -> None:
        """Start receiving the room's traffic; returns once events will arrive."""

    def detach(self, room: Room) -> None: ...

    def viewers(self, channel: str, local: int, now: float) -> int:
        """The room's viewer count over all processes, given this process's ``local`` count."""

    async def share_viewers(self, channel: str, local: int) -> None: ...


def next_local_seq(log: RoomLog, now: float) -> int:
    """The next id when this process numbers events itself (no bus, or Redis unreachable)."""
    return log.last_seq + 1 if log.last_seq else sequence_base(now)


def history_from(
    entries: list[LogEntry], since: int | None, limit: int
) -> tuple[list[LogEntry], bool]:
    """Select what a (re)joining client gets from the retained ``entries`` (oldest first)."""
    if since is None:
        return visible(entries)[-limit:], False
    newer = [e for e in entries if e.seq > since]
    truncated = bool(entries) and entries[0].seq > since + 1
    if len(newer) > limit:
        newer, truncated = newer[-limit:], True
    return visible(newer), truncated


class LocalBus:
    """Everything in this process: the hub's logs are the sequence and the history."""

    def __init__(self, hub: Delivery) -> None:
        self._hub = hub

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        await trio.sleep_forever()

    async def publish(
        self, channel: str, kind: str, parts: tuple[str, str], target: int, event: dict[str, Any]
    ) -> int:
        # Deliver first, yield after (trio's own send pattern): a plain checkpoint before
        # the fan-out would put the event behind every task already runnable, which
        # during a fan-out to 1000 members is 1000 socket writes.
        await trio.lowlevel.checkpoint_if_cancelled()
        seq = next_local_seq(self._hub.log_for(channel), time.time())
        self._hub.deliver(channel, seq, kind, target, parts[0] + str(seq) + parts[1], event)
        await trio.lowlevel.cancel_shielded_checkpoint()
        return seq

    async def signal(self, channel: str, kind: str, event: dict[str, Any]) -> None:
        await trio.lowlevel.checkpoint()
        self._hub.signal_received(channel, kind, event)

    async def history(
        self, channel: str, since: int | None, limit: int
    ) -> tuple[list[LogEntry], bool]:
        await trio.lowlevel.checkpoint()
        return history_from(list(self._hub.log_for(channel).entries), since, limit)

    async def lookup(self, channel: str, seq: int) -> LogEntry | None:
        await trio.lowlevel.checkpoint()
        return self._hub.log_for(channel).find(seq)

    async def attach(self, room: Room) -> None:
        await trio.lowlevel.checkpoint()

    def detach(self, room: Room) -> None:
        pass

    def viewers(self, channel: str, local: int, now: float) -> int:
        return local

    async def share_viewers(self, channel: str, local: int) -> None:
        await trio.lowlevel.checkpoint()
