"""One task reads every publishing RTMP socket that is ready, in one wake-up.

A publisher's socket, read by its own task, costs a task wake-up for every burst
the encoder sends (ffmpeg: about 30 a second): Trio re-arms the socket in its
one-shot epoll set (an ``epoll_ctl``), reschedules the task, resumes its coroutine
stack, and the task parks again. In a profile of 25 publishers that bookkeeping
was a large share of the ingest CPU, more than parsing the messages.

Here a publishing connection, in its steady state, hands its socket to the
:class:`ReadyPoller`: a level-triggered epoll set that the socket joins once. One
task waits for that set and, for every socket ready in it, calls the connection's
``on_readable`` callback, which reads and publishes what arrived synchronously.
Nothing waits longer than it would have: a socket is read as soon as its bytes
arrive, and all sockets ready at the same moment share one wake-up. When a
connection needs its own task again (a command, a reply to send, end of stream,
an error), its callback returns ``False``: the socket leaves the set and the
connection's task, parked in :meth:`ReadyPoller.wait`, runs.
"""

from __future__ import annotations

import select
from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["ReadyPoller"]

# What one wake-up takes from the set at most; the rest is still ready next time
# (level-triggered), so a flood cannot make one wake-up unbounded.
MAX_EVENTS = 256


class ReadyPoller:
    """Reads ready sockets with callbacks, from one task (:meth:`run`).

    Resource handling:
        The epoll set is closed when :meth:`run` ends; a socket must leave it
        (:meth:`wait` returning or being cancelled) before it is closed.
    """

    def __init__(self) -> None:
        self._epoll = select.epoll()
        self._readers: dict[int, Callable[[], bool]] = {}

    def __len__(self) -> int:
        """How many sockets are in the set."""
        return len(self._readers)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Call the callbacks of ready sockets until cancelled."""
        task_status.started()
        epoll, readers = self._epoll, self._readers
        try:
            while True:
                await trio.lowlevel.wait_readable(epoll.fileno())
                for fd, _ in epoll.poll(0, MAX_EVENTS):
                    reader = readers.get(fd)
                    # A callback that returned False left; one handed back earlier in
                    # this batch is no longer in the set.
                    if reader is not None and not reader():
                        self._leave(fd)
        finally:
            epoll.close()

    async def wait(self, fd: int, on_readable: Callable[[], bool]) -> None:
        """Read ``fd`` through ``on_readable`` until it returns ``False``.

        ``on_readable`` is called in the poller's task whenever ``fd`` is readable;
        it must not block and must not raise (it returns ``False`` to report an error
        to its caller's task instead).

        Raises:
            Cancelled: as any wait; ``fd`` has left the set.
        """
        done = trio.Event()

        def reader() -> bool:
            if on_readable():
                return True
            done.set()
            return False

        self._epoll.register(fd, select.EPOLLIN)
        self._readers[fd] = reader
        try:
            await done.wait()
        finally:
            if self._readers.get(fd) is reader:
                self._leave(fd)

    def _leave(self, fd: int) -> None:
        del self._readers[fd]
        # Closed: run() ended (its nursery is being cancelled, the connections with it).
        if not self._epoll.closed:
            self._epoll.unregister(fd)
