"""Media handed from Trio to aiortc's asyncio tasks without a call across per packet.

aiortc's RTP sender pulls its track (``recv``, a coroutine on the asyncio loop).
Awaiting a Trio function from there (``trio_asyncio.trio_as_aio``) starts a Trio
task and two futures per call: 165-300 µs, against a few µs for an asyncio
future (``bench/webrtc.py`` measures both). So the Trio side pushes instead:
a :class:`Handoff` is a plain queue that a Trio task fills with a synchronous
:meth:`Handoff.put` and an aiortc track empties with :meth:`Handoff.get`. Both
run on the one thread of the trio-asyncio loop, so a put only appends, and sets
the waiting track's future when it is parked (an asyncio callback, not a task).

Imported with the first session, but loads only the standard library.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

__all__ = ["Handoff"]

T = TypeVar("T")


class Handoff(Generic[T]):
    """One viewer's queue of one kind of media, from a Trio task to its aiortc track.

    Args:
        maxlen: Drop the oldest item when full (audio: stale packets are worth
            nothing); ``None`` for a queue whose producer bounds it by :attr:`size`
            before it puts (video: the channel's subscriber decides what to skip).
    """

    def __init__(self, maxlen: int | None = None) -> None:
        self._items: deque[T] = deque(maxlen=maxlen)
        self._waiter: asyncio.Future[None] | None = None
        self.closed = False

    @property
    def size(self) -> int:
        """Items queued now."""
        return len(self._items)

    def put(self, item: T) -> None:
        """Queue ``item`` (from a Trio task; never waits). Ignored once closed."""
        if not self.closed:
            self._items.append(item)
            self._wake()

    def close(self) -> None:
        """No more items: :meth:`get` returns what is queued, then ``None``."""
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def get(self) -> T | None:
        """The next item, waiting on the asyncio loop; ``None`` once closed and empty.

        Always yields to the loop, even with items queued: aiortc's sender sends
        what it gets without another pause, so a sender with a backlog would
        otherwise hold the loop, and the Trio thread it runs in, until its queue
        is empty, while every other viewer waits.
        """
        if self._items:
            await asyncio.sleep(0)
        while not self._items:
            if self.closed:
                return None
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.popleft()
