"""The rooms' write clock: when a room's batched events go to its members.

A room flushes its batch (:meth:`Room.flush`: one frame per member). After a
flush that took ``d`` seconds of the thread's CPU, the room holds new events
until ``min(d, interval)`` after that flush ended, then sends all of them as
one frame per member. A room that has been quiet that long flushes at the next
turn of the scheduler, after the tasks already runnable (events that arrived
together still go out together).

Why: a delivery costs about one ``write`` per member whatever the frame holds,
so at 100 messages/s, flushed as they come, every message is its own write to
every member, and a room of 2000 takes a whole core. Held, a room's flushes
take at most half of the thread while the hold is below ``interval``, and its
frames carry more events (fewer writes per event) as the rate rises. The hold
follows the cost: a room of 100 members flushes in about a millisecond, so at
100 messages/s (10 ms apart) its events do not wait and its latency does not
change; a room of 2000 holds events for up to ``interval``, the latency the
write clock may add.

Why CPU time and not the clock on the wall: on a busy machine the kernel may
stop the thread in the middle of a flush, and a flush that took 2 ms of CPU
then looks like 15 ms. Held by wall time, a room of 500 at 50 messages/s
doubled its p99 latency on a machine whose other processes held the cores, and
saved no CPU (docs/benchmarks.md); its share of the thread is what the hold is
for, and that is what the thread's CPU time measures.

A batch is still bounded: the event that brings it to ``max_batch`` flushes it at
once (:meth:`Room.fan_out`); the room's held flush stays as it was scheduled.
"""

from __future__ import annotations

import heapq
import itertools
import math
import time
from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from collections.abc import Callable

    from trioflix.chat.room import Room

__all__ = ["WriteClock"]


class WriteClock:
    """Flushes rooms' batches, each room held after a flush for as long as the flush
    took (in ``cpu_clock``'s seconds, the thread's CPU time unless a test says
    otherwise), at most ``interval`` seconds.

    Resource handling:
        :meth:`run` owns the schedule; a room is on it at most once (from the
        first event of a batch to its flush), so the schedule holds at most one
        entry per room with events waiting. When :meth:`run` ends (cancelled), it
        flushes every room still waiting and leaves the schedule empty; from then
        on :meth:`batch_started` flushes at once.
    """

    def __init__(self, interval: float, cpu_clock: Callable[[], float] = time.thread_time) -> None:
        self.interval = interval
        self.cpu_clock = cpu_clock
        self.running = False
        self._due: list[tuple[float, int, Room]] = []  # a heap: (when, order, room)
        self._order = itertools.count()  # rooms due at the same time flush in arrival order
        self._woken = trio.Event()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self.running = True
        try:
            task_status.started()
            while True:
                with trio.move_on_at(self._due[0][0] if self._due else math.inf):
                    await self._woken.wait()
                self._woken = trio.Event()
                now = trio.current_time()
                while self._due and self._due[0][0] <= now:
                    room = heapq.heappop(self._due)[2]
                    room.flush_pending = False
                    started = self.cpu_clock()
                    room.flush()
                    cost = self.cpu_clock() - started
                    room.held_until = trio.current_time() + min(cost, self.interval)
        finally:
            self.running = False
            due, self._due = self._due, []
            for _, _, room in due:
                room.flush_pending = False
                room.flush()

    def batch_started(self, room: Room) -> None:
        """``room`` has its first event since its last flush: schedule its flush."""
        if not self.running:
            room.flush()  # nobody would flush it
            return
        if room.flush_pending:  # a full batch was flushed early; its held flush still comes
            return
        room.flush_pending = True
        when = max(trio.current_time(), room.held_until)
        heapq.heappush(self._due, (when, next(self._order), room))
        if self._due[0][2] is room:  # sooner than the writer's deadline: wake it
            self._woken.set()
