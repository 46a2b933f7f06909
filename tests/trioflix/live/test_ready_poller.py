"""The ready poller: sockets read by callbacks in one task, handed back on ``False``."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

import trio
import trio.testing

from trioflix.live.rtmp.ready_poller import ReadyPoller

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator


def _pairs(count: int) -> Iterator[tuple[socket.socket, socket.socket]]:
    for _ in range(count):
        ours, theirs = socket.socketpair()
        ours.setblocking(False)
        yield ours, theirs


async def test_ready_sockets_are_read_in_the_pollers_task_until_handed_back() -> None:
    poller = ReadyPoller()
    pairs = list(_pairs(2))
    readers: list[trio.lowlevel.Task] = []
    received: list[bytes] = []
    handed_back: list[int] = []

    def on_readable(sock: socket.socket) -> bool:
        readers.append(trio.lowlevel.current_task())
        data = sock.recv(100)
        received.append(data)
        return data != b"stop"

    async def wait(index: int) -> None:
        ours, _ = pairs[index]
        await poller.wait(ours.fileno(), lambda: on_readable(ours))
        handed_back.append(index)

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            poller_task = await nursery.start(_run_and_report_task, poller)
            for index in range(2):
                nursery.start_soon(wait, index)
            await trio.testing.wait_all_tasks_blocked()
            assert len(poller) == 2
            for _, theirs in pairs:
                theirs.send(b"media")
            await trio.testing.wait_all_tasks_blocked()
            assert received == [b"media", b"media"]
            assert handed_back == []  # the waiting tasks never ran: the poller read for them
            assert readers == [poller_task, poller_task]

            pairs[1][1].send(b"stop")
            await trio.testing.wait_all_tasks_blocked()
            assert handed_back == [1]
            assert len(poller) == 1
            nursery.cancel_scope.cancel()  # the other waiter leaves the set on cancellation
    assert len(poller) == 0
    for ours, theirs in pairs:
        ours.close()
        theirs.close()


async def test_a_cancelled_wait_leaves_the_set_and_the_others_stay() -> None:
    poller = ReadyPoller()
    (a, a_peer), (b, b_peer) = _pairs(2)
    got: list[bytes] = []

    def read(sock: socket.socket) -> bool:
        got.append(sock.recv(100))
        return True

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(poller.run)
            scope = trio.CancelScope()
            nursery.start_soon(_wait_in, poller, a, read, scope)
            nursery.start_soon(poller.wait, b.fileno(), lambda: read(b))
            await trio.testing.wait_all_tasks_blocked()
            assert len(poller) == 2
            scope.cancel()
            await trio.testing.wait_all_tasks_blocked()
            assert len(poller) == 1
            a_peer.send(b"gone")  # not in the set any more: nobody reads it
            b_peer.send(b"here")
            await trio.testing.wait_all_tasks_blocked()
            assert got == [b"here"]
            nursery.cancel_scope.cancel()
    for sock in (a, a_peer, b, b_peer):
        sock.close()


async def _wait_in(
    poller: ReadyPoller,
    sock: socket.socket,
    read: Callable[[socket.socket], bool],
    scope: trio.CancelScope,
) -> None:
    with scope:
        await poller.wait(sock.fileno(), lambda: read(sock))


async def _run_and_report_task(
    poller: ReadyPoller, *, task_status: trio.TaskStatus[trio.lowlevel.Task]
) -> None:
    task_status.started(trio.lowlevel.current_task())
    await poller.run()
