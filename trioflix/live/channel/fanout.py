"""Per-viewer queues: bounded, never blocking the publisher.

The publisher's task calls :meth:`Subscriber.offer` for every packet; it never
waits. Each viewer's task takes everything queued in one :meth:`next_batch` and
writes it with one send, so a viewer costs one syscall per wake-up, not one per
tag (:meth:`next_bytes` joins at most :data:`SEND_BYTES` for one send: a primed GOP
or a backlog goes out in a few sends rather than as one copy of all of it).

A viewer whose socket can be written without waiting (HTTP-FLV) can go further:
given a non-blocking writer (:meth:`Subscriber.attach_writer`), while its task is
parked with nothing to send it is *direct idle*, and its stream's :class:`Audience`
stops offering it packets one by one. The audience keeps the packets published
since the last flush once, for all such viewers, and the publisher's task, once per
socket read (:meth:`Audience.flush`, through :meth:`LiveStream.flush`), joins their
FLV tags once and writes those same bytes to each of them with one non-blocking
write, as Node and nginx servers do. Only a write that does not complete wakes the
viewer's task, which sends the rest as it sends anything else, is offered packets
again, and parks again once its queue is empty. In the steady state a viewer costs
one system call per publisher read, no task switch, and no work per packet.

A viewer that cannot keep up (its queue holds more than ``max_bytes``) skips
ahead: queued frames are dropped and nothing more is queued until the next video
keyframe, where decoding can resume cleanly. A viewer that is still behind after
``max_skips`` skips in a row, without draining its queue in between, has stopped
reading and is disconnected. Either way the publisher and
the other viewers are unaffected, and memory stays bounded.
"""

from __future__ import annotations

import enum
from collections import deque
from typing import TYPE_CHECKING

import trio

from trioflix.live.channel.packets import Kind, flv_bytes

if TYPE_CHECKING:
    from collections.abc import Callable

    from trioflix.live.channel.packets import Packet

__all__ = ["DEFAULT_QUEUE_BYTES", "VIEWER_PROTOCOLS", "Audience", "Subscriber", "Transport"]

# About 8 s of a 6 Mbit/s stream: enough to ride out a network hiccup, small
# enough that a few hundred viewers cannot exhaust memory.
DEFAULT_QUEUE_BYTES = 6 * 1024 * 1024
# Skips without the viewer ever draining its queue in between: it has stopped reading.
MAX_CONSECUTIVE_SKIPS = 3
# What a viewer's task joins for one send at most (one packet, however large, at
# least). A new viewer is primed with the whole GOP cache (a 3 Mbit/s GOP of 2 s is
# ~750 KiB) and a viewer that fell behind has up to DEFAULT_QUEUE_BYTES queued: joined
# whole, each was a copy held for as long as its send took (docs/benchmarks.md,
# "Footprint"). The queue itself holds the packets, which the GOP cache shares.
SEND_BYTES = 64 * 1024
# Packets kept for direct-idle viewers between flushes. A flush follows every publisher
# read (tens of KiB); past this nobody is flushing, and the viewers' tasks take over.
MAX_UNFLUSHED_BYTES = 1024 * 1024


class Transport(enum.StrEnum):
    RTMP = "rtmp"
    HTTP_FLV = "http-flv"
    WS_FLV = "ws-flv"
    WEBRTC = "webrtc"  # WHEP: the video passed through, the audio from the channel's Opus
    INTERNAL = "internal"  # a consumer inside the server: HLS writer, transcoder, recorder


# What viewers are counted by (the status API, /metrics): every protocol but INTERNAL.
VIEWER_PROTOCOLS = tuple(
    protocol.value for protocol in Transport if protocol is not Transport.INTERNAL
)


class Subscriber:
    """One viewer's queue. Created by :meth:`LiveStream.subscribe`.

    Attributes:
        protocol: How this viewer receives media (for metrics and counts).
        dropped: Packets this viewer lost by skipping ahead.
        closed_reason: Why the queue was closed (``None`` while open).
        on_too_slow: Called once when this viewer is disconnected for lagging. A
            viewer's task may be blocked in a socket write that will never finish
            (the peer stopped reading); this lets it cancel that write instead of
            waiting for a timeout.
    """

    def __init__(
        self,
        protocol: Transport,
        *,
        max_bytes: int = DEFAULT_QUEUE_BYTES,
        max_skips: int = MAX_CONSECUTIVE_SKIPS,
    ) -> None:
        self.protocol = protocol
        self.max_bytes = max_bytes
        self.max_skips = max_skips
        self.dropped = 0
        self.closed_reason: str | None = None
        self.on_too_slow: Callable[[], object] | None = None
        self._queue: deque[Packet] = deque()
        self._queued_bytes = 0
        self._skipping = False
        self._skips = 0
        self._wakeup = trio.Event()
        self._audience: Audience | None = None  # set by Audience.add
        self._write: Callable[[bytes], int] | None = None
        self._pending = b""  # what a direct write left unsent: the task sends it first
        self._broken = False  # the writer failed: the peer is gone, nothing more to send
        self._nudged = False  # see nudge()

    @property
    def queued_bytes(self) -> int:
        return self._queued_bytes

    def offer(self, packet: Packet) -> None:
        """Queue ``packet`` without waiting; skip ahead or disconnect if this viewer lags."""
        if self.closed_reason is not None:
            return
        if self._skipping:
            if not (packet.kind is Kind.VIDEO and packet.keyframe):
                self.dropped += 1
                return
            self._skipping = False
        elif self._queued_bytes + packet.size > self.max_bytes and not packet.config:
            self._skip_ahead()
            if packet.kind is Kind.VIDEO and packet.keyframe:
                self._skipping = False  # resume right here
            else:
                self.dropped += 1
                return
        self._queue.append(packet)
        self._queued_bytes += packet.size
        self._wakeup.set()

    def _skip_ahead(self) -> None:
        self._skips += 1
        if self._skips > self.max_skips:
            self.close("too slow")
            if self.on_too_slow is not None:
                self.on_too_slow()
            return
        # Keep sequence headers and metadata: the decoder needs them after the gap.
        kept = deque(p for p in self._queue if p.config or p.kind is Kind.SCRIPT)
        self.dropped += len(self._queue) - len(kept)
        self._queue = kept
        self._queued_bytes = sum(p.size for p in kept)
        self._skipping = True

    def close(self, reason: str) -> None:
        """End this viewer's stream: :meth:`next_batch` returns what is queued, then ``[]``."""
        if self.closed_reason is None:
            if self._audience is not None:
                self._audience.unpark(self)  # what it was owed joins its queue
            self.closed_reason = reason
            self._wakeup.set()  # the task writes what is queued, then ends

    async def next_batch(self) -> list[Packet]:
        """Wait for packets and take all of them; ``[]`` once closed and drained."""
        while not self._queue and self.closed_reason is None:
            self._wakeup = trio.Event()
            await self._wakeup.wait()
        return self.batch_nowait()

    def nudge(self) -> None:
        """Wake :meth:`next_batch_or_nudge` without a packet: the publisher left, and a
        session consumer has something to look at (the stream stays open through the
        grace window)."""
        self._nudged = True
        self._wakeup.set()

    async def next_batch_or_nudge(self) -> list[Packet] | None:
        """:meth:`next_batch`, or ``None`` once the queue is drained after a :meth:`nudge`.

        A consumer that must notice the publisher leaving waits here instead of polling
        with a timeout: a deadline per batch is a cancel scope entered and left for
        every read of the stream.
        """
        while not self._queue and self.closed_reason is None and not self._nudged:
            self._wakeup = trio.Event()
            await self._wakeup.wait()
        if self._nudged and not self._queue and self.closed_reason is None:
            self._nudged = False
            return None
        return self.batch_nowait()

    def batch_nowait(self) -> list[Packet]:
        """What :meth:`next_batch` would return, without waiting (for a task that
        serves many viewers and learns of new packets otherwise).

        Raises:
            trio.WouldBlock: Nothing is queued and the queue is open.
        """
        if not self._queue and self.closed_reason is None:
            raise trio.WouldBlock
        batch = self._take()
        if self.closed_reason == "too slow":
            return []  # what is queued is stale; the connection is being dropped
        return batch

    def _take(self) -> list[Packet]:
        """Empty the queue: what was in it."""
        batch = list(self._queue)
        self._queue.clear()
        self._queued_bytes = 0
        if not self._skipping:
            self._skips = 0  # the viewer is draining its queue: it is keeping up, for now
        return batch

    def _take_front(self, max_bytes: int) -> list[Packet]:
        """Take packets from the front of the queue, ``max_bytes`` of them at most but
        at least one."""
        if self._queued_bytes <= max_bytes:
            return self._take()
        queue = self._queue
        first = queue.popleft()
        batch, size = [first], first.size
        while queue and size + queue[0].size <= max_bytes:
            packet = queue.popleft()
            batch.append(packet)
            size += packet.size
        self._queued_bytes -= size
        if not self._skipping:
            self._skips = 0  # as in _take: it is reading its queue
        return batch

    # --- direct writes (a viewer with a non-blocking writer) ------------------------------

    def attach_writer(self, write: Callable[[bytes], int]) -> None:
        """Let the publisher's task write to this viewer while its task is idle.

        ``write`` must not block: it returns how many bytes it wrote, raises
        ``BlockingIOError`` when it can write none, and any other ``OSError`` when the
        viewer is gone. The viewer's task must then use :meth:`next_bytes`.
        """
        self._write = write

    async def next_bytes(self) -> bytes:
        """For a viewer with a writer: wait for the next bytes to send; ``b""`` at the end.

        What a direct write left unsent comes first, then the queue as FLV tags joined,
        :data:`SEND_BYTES` of them at a time.
        While there is nothing, the task is parked direct idle (see :class:`Audience`).
        """
        while True:
            if self._broken or self.closed_reason == "too slow":
                self._take()  # stale, or nowhere to go: the connection is dropped
                self._pending = b""
                return b""
            if pending := self._pending:
                self._pending = b""
                return pending
            if self._queue:
                return flv_bytes(self._take_front(SEND_BYTES))
            if self.closed_reason is not None:
                return b""
            self._wakeup = trio.Event()
            # Skipping to a keyframe, it must still be offered packets to find one.
            audience = None if self._write is None or self._skipping else self._audience
            parked = audience is not None and audience.park(self)
            try:
                await self._wakeup.wait()
            finally:
                if parked:
                    assert audience is not None
                    audience.unpark(self)

    def _resume(self, rest: bytes) -> None:
        """A direct write sent only part of ``rest``'s bytes: the task sends the rest."""
        self._pending = rest
        self._wakeup.set()

    def _lost(self) -> None:
        """A direct write failed: the peer is gone."""
        self._broken = True
        self.close("connection lost")


class Audience:
    """The viewers of one stream: each packet goes to every one of them.

    A viewer's task that waits in :meth:`Subscriber.next_bytes` with nothing to send
    is parked here (direct idle) and offered nothing: the packets published meanwhile
    are kept once, for all parked viewers, until :meth:`flush`. A parked viewer that
    wakes for another reason (closed, cancelled) first takes what it was owed into its
    own queue, where the usual bounds apply.

    Attributes:
        members: Every viewer, parked or not.
    """

    def __init__(self) -> None:
        self.members: set[Subscriber] = set()
        self._offered: set[Subscriber] = set()  # members that are not parked
        # Parked viewers -> how many of _packets they already had when they parked.
        self._parked: dict[Subscriber, int] = {}
        self._packets: list[Packet] = []  # published since the last flush, if any are parked
        self._bytes = 0

    def add(self, subscriber: Subscriber) -> None:
        subscriber._audience = self
        self.members.add(subscriber)
        self._offered.add(subscriber)

    def remove(self, subscriber: Subscriber) -> None:
        self.members.discard(subscriber)
        self._offered.discard(subscriber)
        self._parked.pop(subscriber, None)

    def clear(self) -> None:
        self.members.clear()
        self._offered.clear()
        self._parked.clear()

    def offer(self, packet: Packet) -> int:
        """Hand ``packet`` to every viewer; the packets lost by those it disconnected
        (who are no longer members)."""
        dropped = 0
        if self._parked:
            if self._bytes + packet.size > MAX_UNFLUSHED_BYTES:
                # Nobody flushes: the viewers' tasks take over (this packet included).
                for subscriber in list(self._parked):
                    self.unpark(subscriber)
                self._packets = []
                self._bytes = 0
            else:
                self._packets.append(packet)
                self._bytes += packet.size
        for subscriber in tuple(self._offered):
            subscriber.offer(packet)
            if subscriber.closed_reason is not None:
                self.remove(subscriber)
                dropped += subscriber.dropped
        return dropped

    def park(self, subscriber: Subscriber) -> bool:
        """``subscriber``'s task waits with nothing to send: offer it nothing until it
        wakes, :meth:`flush` writes to it. ``False`` if it is no member."""
        if subscriber not in self.members:
            return False
        self._offered.discard(subscriber)
        self._parked[subscriber] = len(self._packets)
        return True

    def unpark(self, subscriber: Subscriber) -> None:
        """``subscriber`` is parked no more: what it was owed goes to its queue, and it
        is offered packets again (if still a member)."""
        start = self._parked.pop(subscriber, None)
        if start is None:
            return
        for packet in self._packets[start:]:
            subscriber.offer(packet)
        if subscriber in self.members:
            self._offered.add(subscriber)

    def flush(self) -> int:
        """Write what was published since the last flush to every parked viewer: the
        FLV tags joined once, one non-blocking write each; the bytes written.

        Called from the publisher's task, once per read (:meth:`LiveStream.flush`). What
        a write leaves unsent goes to that viewer's task, which is woken; a writer error
        closes that viewer. Never raises, never blocks.
        """
        packets = self._packets
        if not packets:
            return 0
        self._packets = []
        self._bytes = 0
        parked = self._parked
        if not parked:  # they all woke since: each took its share
            return 0
        whole = flv_bytes(packets)
        sent = 0
        short: list[tuple[Subscriber, bytes, int]] = []  # wrote less than data: (viewer, data, n)
        for subscriber, start in parked.items():
            data = whole
            if start:  # parked after some of these packets: it has them
                parked[subscriber] = 0
                if start == len(packets):
                    continue
                data = flv_bytes(packets[start:])
            write = subscriber._write
            assert write is not None
            try:
                n = write(data)
            except BlockingIOError:
                n = 0
            except OSError:
                n = -1
            if n == len(data):
                sent += n
            else:
                short.append((subscriber, data, n))
        for subscriber, data, n in short:
            del parked[subscriber]
            if n < 0:
                subscriber._lost()
                continue
            sent += n
            self._offered.add(subscriber)
            subscriber._resume(data[n:])
        return sent
