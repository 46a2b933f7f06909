"""A shared clock that paces the reads of RTMP publishers (what SRS calls "merged read").

Reading a publisher's socket as soon as it is readable costs the server a wake-up
for every few kilobytes: an encoder sends a message every 10-20 ms, and the
publishers' messages arrive independently. On the machines we measure, a wake-up
after a few milliseconds of idleness costs some 200 us of CPU (cold caches, the
scheduler, the epoll round), several times the parsing of the message it brings, so
at ten publishers the wake-ups are most of the ingest CPU. With a read clock, the
publishing connections read whatever has arrived once per tick, all woken by one
timer: one wake-up per tick for all of them, for at most one tick of added delay
(the bytes wait in the kernel's socket buffer, which TCP flow control bounds).

The clock runs only while at least :data:`MIN_MEMBERS` connections publish: a lone
publisher has nobody to share wake-ups with (ffmpeg, with Nagle's algorithm, already
sends in bursts), and reads as data arrives, at no added delay. Handshakes, commands
and players always read as data arrives.
"""

from __future__ import annotations

import trio

__all__ = ["MIN_MEMBERS", "ReadClock"]

MIN_MEMBERS = 2


class ReadClock:
    """Wakes every parked reader together, every ``interval`` seconds, while :meth:`run` runs.

    A publishing connection :meth:`join` s and later :meth:`leave` s; while it is a
    member and :attr:`pacing` is true it waits for :meth:`tick` before each read.
    """

    def __init__(self, interval: float) -> None:
        if not interval > 0:
            raise ValueError(f"a read clock needs a positive interval, got {interval}")
        self.interval = interval
        self.members = 0
        self._waiting = trio.lowlevel.ParkingLot()
        self._wanted = trio.Event()  # set by a reader arriving while the clock is stopped

    @property
    def pacing(self) -> bool:
        """Whether members read on ticks: only when there are enough to share them."""
        return self.members >= MIN_MEMBERS

    def join(self) -> None:
        self.members += 1

    def leave(self) -> None:
        self.members -= 1
        if not self.pacing:
            self._waiting.unpark_all()  # the one left reads as data arrives from now on

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Tick until cancelled. Ticks keep their phase; a late one is not made up for.

        A tick that finds nobody waiting stops the clock until a reader comes: a server
        with fewer than two publishers has no timer running.
        """
        task_status.started()
        next_tick = trio.current_time()
        while True:
            next_tick += self.interval
            await trio.sleep_until(next_tick)
            if not self._waiting:
                self._wanted = trio.Event()
                await self._wanted.wait()
                next_tick = trio.current_time()  # that reader waits one interval, as any
                continue
            self._waiting.unpark_all()
            now = trio.current_time()
            if now - next_tick >= self.interval:
                next_tick = now  # a whole period late (a stalled loop): drop the missed ticks

    async def tick(self) -> None:
        """Wait for the next tick (a checkpoint: cancellation ends the wait)."""
        self._wanted.set()
        await self._waiting.park()
