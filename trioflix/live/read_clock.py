"""A shared clock that paces the reads of RTMP publishers (what SRS calls "merged read").

An encoder sends a message every 10-20 ms (video frames, audio frames, each written as
a header and a body), so reading a publisher's socket as soon as it is readable costs a
wake-up (epoll registration, scheduler pass, task switch) for every few kilobytes. Most
of an ingest server's CPU goes there, not to parsing. With a read clock, publishing
connections instead read whatever has arrived once per tick, all woken by one timer:
fewer, larger reads, for at most one tick of added delay (the bytes wait in the kernel's
socket buffer, which the sender's flow control bounds).

Only publishers that are past ``publish`` use it; handshakes, commands and players read
as data arrives.
"""

from __future__ import annotations

import trio

__all__ = ["ReadClock"]


class ReadClock:
    """Wakes every parked reader together, every ``interval`` seconds, while :meth:`run` runs."""

    def __init__(self, interval: float) -> None:
        if not interval > 0:
            raise ValueError(f"a read clock needs a positive interval, got {interval}")
        self.interval = interval
        self._waiting = trio.lowlevel.ParkingLot()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Tick until cancelled. Ticks keep their phase; a late one is not made up for."""
        task_status.started()
        next_tick = trio.current_time()
        while True:
            next_tick += self.interval
            await trio.sleep_until(next_tick)
            self._waiting.unpark_all()
            now = trio.current_time()
            if now - next_tick >= self.interval:
                next_tick = now  # a whole period late (a stalled loop): drop the missed ticks

    async def tick(self) -> None:
        """Wait for the next tick (a checkpoint: cancellation ends the wait)."""
        await self._waiting.park()
