"""A room on this process: its members (websocket connections), its log, its cached state.

Fan-out never waits. Events are batched per room (:meth:`Room.fan_out`) and
offered to the members together (:meth:`Room.flush`: the hub's write clock calls
it at the next turn of the scheduler in a quiet room, later in a busy one, so at
low load a batch is one event: :mod:`trioflix.chat.write_clock`). A member
whose connection's writer is idle (its queue empty, nothing of an earlier frame
left to write) and whose socket can be written without waiting
(:class:`FrameSocket`: the front door's websocket) is written to right there:
one non-blocking ``send`` of the batch as one frame, encoded once for every
member, and no task switch. Otherwise, or when the socket does not take the
whole frame, the events go on the member's bounded queue with ``send_nowait``
and the writer sends them (coalescing what has queued); a member whose queue is
full is dropped (close 4408) on the spot, so one slow client cannot delay the
others or grow memory. Events reach a member in the order they were offered
either way: the fan-out writes only while the queue is empty, and a frame it
could not write whole is finished by the writer before anything queued after it.

The queued ``(id, frame)`` item is shared by every queue: the frame was
serialised once, by the bus, and fan-out allocates nothing per member (a backlog
of 1000 members x 256 frames would otherwise be 256,000 tuples for the garbage
collector to scan).
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import trio

from trioflix.chat.content import Emote
from trioflix.chat.limits import TokenBucket
from trioflix.chat.protocol import CloseCode
from trioflix.chat.store import BanRecord, RoomSettings

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from trioflix.chat.limits import ChatLimits
    from trioflix.chat.store import RoomState
    from trioflix.store.users import User

__all__ = ["FLUSH", "FrameSocket", "LogEntry", "Member", "Room", "RoomLog", "sequence_base"]

# Kinds whose frames are subject to deletion; their history entries are hidden once deleted.
DELETABLE = frozenset({"message", "superchat"})


def sequence_base(now: float) -> int:
    """Where a fresh id sequence starts: microseconds since the epoch.

    Ids count up by one from there, so a sequence restarted after its store was lost
    (a process restart in-process, a Redis restart) still continues above every id a
    client may have seen, and stays below 2**53 (exact in JavaScript) until 2255.
    """
    return int(now * 1_000_000)


@dataclass(frozen=True, slots=True)
class LogEntry:
    seq: int
    kind: str
    target: int  # the message a "delete" removes; 0 otherwise
    frame: str


class RoomLog:
    """The last ``size`` sequenced events of a room and its last id (0: none seen yet),
    kept in this process."""

    def __init__(self, size: int) -> None:
        self.entries: collections.deque[LogEntry] = collections.deque(maxlen=size)
        self.last_seq = 0

    def append(self, entry: LogEntry) -> None:
        self.entries.append(entry)
        self.last_seq = entry.seq

    def find(self, seq: int) -> LogEntry | None:
        for entry in reversed(self.entries):
            if entry.seq == seq:
                return entry
        return None


def visible(entries: list[LogEntry]) -> list[LogEntry]:
    """History as clients should see it: messages deleted within the window are left out."""
    deleted = {e.target for e in entries if e.kind == "delete"}
    return [e for e in entries if not (e.kind in DELETABLE and e.seq in deleted)]


# Queued to wake a member's writer when the fan-out's own write left part of a frame
# unsent: the writer then finishes it (``FrameSocket.flush``). Compared by identity.
FLUSH: tuple[int, str] = (0, "")


@runtime_checkable
class FrameSocket(Protocol):
    """A connection the fan-out may write to itself: the front door's websocket
    (:class:`trioflix.direct.websocket.DirectWebsocket`)."""

    def send_nowait(self, text: str) -> bool:
        """Start sending ``text`` without waiting: ``False`` when nothing was sent
        (another send is under way); ``True`` when written whole or in part (then
        :attr:`backlogged`). Raises ``trio.BrokenResourceError`` once the connection failed."""
        ...

    @property
    def backlogged(self) -> bool: ...

    async def flush(self) -> None: ...


@dataclass(eq=False, slots=True, kw_only=True)
class Member:
    """One websocket connection in a room.

    Resource handling:
        ``outbox`` is the receive side of the bounded queue the connection's writer
        drains. :meth:`drop` removes the member and cancels ``scope`` (the
        connection's nursery) so the handler closes the socket with ``close_code``.
        ``direct`` is set by the writer only while it waits on an empty queue.
    """

    user: User | None
    inbox: trio.MemorySendChannel[tuple[int, str]]
    outbox: trio.MemoryReceiveChannel[tuple[int, str]]
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    close_code: int | None = None
    room: Room | None = None
    direct: FrameSocket | None = None  # the fan-out writes here itself (see the module doc)
    welcome_last: int = 0  # events up to this id were in the welcome's history

    def offer(self, seq: int, frame: str) -> None:
        """Send or queue a frame without waiting; a full queue drops this member (too slow)."""
        self.offer_items(((seq, frame),), frame, seq)

    def offer_items(self, items: Sequence[tuple[int, str]], text: str, first: int) -> None:
        """Send or queue ``(id, frame)`` items that may be shared with other members.

        ``text`` is the items' frames joined by newlines (one websocket frame, as
        the writer coalesces them), ``first`` their lowest non-zero id (0: none).
        """
        if self.close_code is not None:
            return
        if first and first <= self.welcome_last:
            # A bus may deliver an event the welcome's history already had.
            items = [(seq, f) for seq, f in items if not (seq and seq <= self.welcome_last)]
            if not items:
                return
            text = "\n".join(f for _, f in items)
        try:
            if (direct := self.direct) is not None:
                if direct.send_nowait(text):
                    if not direct.backlogged:
                        return
                    items = (FLUSH,)
                self.direct = None  # the queue again, in order, until the writer is idle
            for item in items:
                self.inbox.send_nowait(item)
        except trio.WouldBlock:
            self.drop(CloseCode.TOO_SLOW)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.drop(CloseCode.GOING_AWAY)

    def drop(self, code: int) -> None:
        if self.close_code is None:
            self.close_code = code
            if self.room is not None and self.room.on_drop is not None:
                self.room.on_drop(code)  # counted now: the socket may take long to close
        if self.room is not None:
            self.room.members.discard(self)
        self.scope.cancel()


class Room:
    """A channel's chat as seen from this process (exists while someone here is connected)."""

    def __init__(self, name: str, log: RoomLog, limits: ChatLimits) -> None:
        self.name = name
        self.log = log
        self.limits = limits
        self.members: set[Member] = set()
        self.refs = 0  # joins in progress or active; the room closes at zero
        self.state: RoomState | None = None
        self.ready = trio.Event()
        self.failure: Exception | None = None
        self.viewers = 0  # last total announced to members
        self.live_viewers: dict[str, int] | None = None  # last live-stream counts announced
        self.on_drop: Callable[[int], None] | None = None  # the hub's metrics
        # Called when the first event of a batch arrives: the hub's write clock will flush it.
        self.on_batch: Callable[[Room], None] | None = None
        self._batch: list[tuple[int, str]] = []
        # The write clock's: until when new events wait (Trio's clock), and whether a
        # flush is scheduled (trioflix.chat.write_clock).
        self.held_until = -math.inf
        self.flush_pending = False
        # Rate limiting per user (all of that user's connections to this process).
        self.buckets: dict[int, TokenBucket] = {}
        self.last_sent: dict[int, float] = {}
        # Signals that arrive while the state loads are applied once it is loaded.
        self._early: list[tuple[str, dict[str, Any]]] = []

    def loaded(self, state: RoomState) -> None:
        self.state = state
        for kind, event in self._early:
            self.apply(kind, event)
        self._early.clear()
        self.ready.set()

    def fail(self, error: Exception) -> None:
        self.failure = error
        self.ready.set()

    def apply(self, kind: str, event: dict[str, Any]) -> None:
        """Update the cached moderation state from a bus event (any process may have sent it)."""
        if self.state is None:
            if len(self._early) < self.limits.history:
                self._early.append((kind, event))
            return
        state = self.state
        if kind == "ban" or kind == "timeout":
            state.bans[int(event["user"]["id"])] = BanRecord(
                until=event.get("until"),
                reason=event.get("reason", ""),
                seconds=event.get("seconds"),
            )
        elif kind == "unban":
            state.bans.pop(int(event["user"]["id"]), None)
        elif kind == "settings":
            state.settings = RoomSettings(**event["settings"])
        elif kind == "moderators":
            user_id = int(event["user_id"])
            if event["add"]:
                state.moderators.add(user_id)
            else:
                state.moderators.discard(user_id)
        elif kind == "terms":
            state.terms = list(event["terms"])
        elif kind == "emotes":
            if event.get("emote") is None:
                state.emotes.pop(event["code"], None)
            else:
                state.emotes[event["code"]] = Emote(**event["emote"])

    def fan_out(self, seq: int, frame: str) -> None:
        """Offer an event to every member: when the hub's write clock flushes the room
        (``on_batch``), else at once; a batch of ``max_batch`` events is flushed at once."""
        self._batch.append((seq, frame))
        if len(self._batch) == 1 and self.on_batch is not None:
            self.on_batch(self)
        elif len(self._batch) >= self.limits.max_batch or self.on_batch is None:
            self.flush()

    def flush(self) -> None:
        """Offer the events batched since the last flush to every member, as one frame."""
        items = self._batch
        if not items:
            return
        self._batch = []
        text = items[0][1] if len(items) == 1 else "\n".join(frame for _, frame in items)
        first = next((seq for seq, _ in items if seq), 0)
        for member in list(self.members):
            member.offer_items(items, text, first)

    def rate_check(self, user_id: int, moderator: bool, now: float) -> float:
        """0.0 when ``user_id`` may send now, else the seconds to wait (rate limit)."""
        bucket = self.buckets.get(user_id)
        if bucket is None:
            limits = self.limits
            burst, per_s = (
                (limits.moderator_burst, limits.moderator_per_s)
                if moderator
                else (limits.user_burst, limits.user_per_s)
            )
            bucket = self.buckets[user_id] = TokenBucket(burst, per_s, now)
        return bucket.take(now)

    def prune(self, now: float) -> None:
        """Forget rate-limit state that no longer limits anyone (keeps the dicts bounded)."""
        for user_id in [u for u, b in self.buckets.items() if b.full(now)]:
            del self.buckets[user_id]
        horizon = self.state.settings.slow_mode_s if self.state is not None else 0
        for user_id in [u for u, t in self.last_sent.items() if now - t > horizon]:
            del self.last_sent[user_id]
