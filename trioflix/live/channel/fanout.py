"""Per-viewer queues: bounded, never blocking the publisher.

The publisher's task calls :meth:`Subscriber.offer` for every packet; it never
waits. Each viewer's task takes everything queued in one :meth:`next_batch` and
writes it with one send, so a viewer costs one syscall per wake-up, not one per
tag.

A viewer whose socket can be written without waiting (HTTP-FLV) can go further:
given a non-blocking writer (:meth:`Subscriber.attach_writer`), while its task is
parked with nothing to send it is *direct idle*. Offers then queue without waking
the task, and the publisher's task, once per socket read, writes what is queued
with one non-blocking write (:meth:`Subscriber.write_direct`, through
:meth:`LiveStream.flush`), as Node and nginx servers do. Only a write that does not
complete wakes the task, which sends the rest as it sends anything else and parks
again once its queue is empty. In the steady state a viewer costs one system call
per publisher read and no task switch.

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

__all__ = ["DEFAULT_QUEUE_BYTES", "VIEWER_PROTOCOLS", "Subscriber", "Transport"]

# About 8 s of a 6 Mbit/s stream: enough to ride out a network hiccup, small
# enough that a few hundred viewers cannot exhaust memory.
DEFAULT_QUEUE_BYTES = 6 * 1024 * 1024
# Skips without the viewer ever draining its queue in between: it has stopped reading.
MAX_CONSECUTIVE_SKIPS = 3


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
        self._write: Callable[[bytes], int] | None = None
        self._direct = False  # direct idle: the task is parked in next_bytes, nothing pending
        self._pending = b""  # what a direct write left unsent: the task sends it first
        self._broken = False  # the writer failed: the peer is gone, nothing more to send

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
        if not self._direct:  # direct idle: the publisher's flush writes it, no wake-up
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
            self.closed_reason = reason
            self._direct = False  # the task writes what is queued, then ends
            self._wakeup.set()

    async def next_batch(self) -> list[Packet]:
        """Wait for packets and take all of them; ``[]`` once closed and drained."""
        while not self._queue and self.closed_reason is None:
            self._wakeup = trio.Event()
            await self._wakeup.wait()
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

    # --- direct writes (a viewer with a non-blocking writer) ------------------------------

    def attach_writer(self, write: Callable[[bytes], int]) -> None:
        """Let the publisher's task write to this viewer while its task is idle.

        ``write`` must not block: it returns how many bytes it wrote, raises
        ``BlockingIOError`` when it can write none, and any other ``OSError`` when the
        viewer is gone. The viewer's task must then use :meth:`next_bytes`.
        """
        self._write = write

    def write_direct(self) -> int:
        """If direct idle, write what is queued (FLV tags) at once; the bytes written.

        Called from the publisher's task, once per read (:meth:`LiveStream.flush`).
        What the write leaves unsent is kept for the viewer's task, which is woken;
        a writer error closes this viewer. Never raises, never blocks.
        """
        if not self._direct or not self._queue:
            return 0
        write = self._write
        assert write is not None
        data = flv_bytes(self._take())
        try:
            sent = write(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            self._broken = True
            self.close("connection lost")
            return 0
        if sent < len(data):
            self._pending = data[sent:]
            self._direct = False
            self._wakeup.set()
        return sent

    async def next_bytes(self) -> bytes:
        """For a viewer with a writer: wait for the next bytes to send; ``b""`` at the end.

        What a direct write left unsent comes first, then the queue as FLV tags joined.
        While there is nothing, the task is parked direct idle (see :meth:`write_direct`).
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
                return flv_bytes(self._take())
            if self.closed_reason is not None:
                return b""
            self._wakeup = trio.Event()
            self._direct = self._write is not None
            try:
                await self._wakeup.wait()
            finally:
                self._direct = False
