"""The rooms' write clock on Trio's mock clock: a busy room's events are held and go
out together, a quiet room's at once (trioflix.chat.write_clock)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest
import trio
import trio.testing

from trioflix.chat.limits import ChatLimits
from trioflix.chat.room import Member, Room, RoomLog
from trioflix.chat.write_clock import WriteClock

if TYPE_CHECKING:
    from collections.abc import Callable

INTERVAL = 0.02


class CostlySocket:
    """A direct socket (:class:`~trioflix.chat.room.FrameSocket`) that records what is
    written to it and moves the mock clock on by ``cost`` seconds per write: the time a
    flush takes, without which nothing would be held. Unless a test says otherwise, the
    write clock reads the mock clock as the thread's CPU time: a flush nothing
    preempts."""

    backlogged = False

    def __init__(self, clock: trio.testing.MockClock, cost: float) -> None:
        self.clock = clock
        self.cost = cost
        self.sent: list[str] = []

    def send_nowait(self, text: str) -> bool:
        self.clock.jump(self.cost)
        self.sent.append(text)
        return True

    async def flush(self) -> None:
        raise AssertionError("a write is never left unfinished here")


class PreemptedSocket(CostlySocket):
    """A write that takes ``cpu`` seconds of the thread's CPU (counted in
    :attr:`cpu_time`) and ``cost`` on the wall: the kernel ran something else in
    between."""

    cpu_time = 0.0

    def __init__(self, clock: trio.testing.MockClock, cost: float, cpu: float) -> None:
        super().__init__(clock, cost)
        self.cpu = cpu

    def send_nowait(self, text: str) -> bool:
        PreemptedSocket.cpu_time += self.cpu
        return super().send_nowait(text)


class BurningSocket(CostlySocket):
    """A write that burns ``burn`` seconds of this thread's real CPU and leaves the mock
    clock where it was."""

    def __init__(self, clock: trio.testing.MockClock, burn: float) -> None:
        super().__init__(clock, 0)
        self.burn = burn

    def send_nowait(self, text: str) -> bool:
        until = time.thread_time() + self.burn
        while time.thread_time() < until:
            pass
        return super().send_nowait(text)


def _room(
    max_batch: int = 64, cpu_clock: Callable[[], float] = trio.current_time
) -> tuple[Room, WriteClock]:
    room = Room("alice", RoomLog(10), ChatLimits(max_batch=max_batch))
    clock = WriteClock(INTERVAL, cpu_clock)
    room.on_batch = clock.batch_started
    return room, clock


def _member(room: Room, ws: CostlySocket) -> Member:
    inbox, outbox = trio.open_memory_channel[tuple[int, str]](16)
    member = Member(user=None, inbox=inbox, outbox=outbox, room=room, direct=ws)
    room.members.add(member)
    return member


async def test_a_busy_room_holds_its_events_as_long_as_its_last_flush_took(
    mock_clock: trio.testing.MockClock,
) -> None:
    room, clock = _room()
    sockets = [CostlySocket(mock_clock, 0.004) for _ in range(2)]  # a flush takes 8 ms
    for ws in sockets:
        _member(room, ws)
    async with trio.open_nursery() as nursery:
        await nursery.start(clock.run)
        start = trio.current_time()
        room.fan_out(1, "a")  # quiet: at the next turn
        await trio.testing.wait_all_tasks_blocked()
        assert [ws.sent for ws in sockets] == [["a"], ["a"]]
        assert trio.current_time() == pytest.approx(start + 0.008)
        room.fan_out(2, "b")
        room.fan_out(0, "viewers")
        room.fan_out(3, "c")
        mock_clock.jump(0.0075)
        await trio.testing.wait_all_tasks_blocked()
        assert [ws.sent for ws in sockets] == [["a"], ["a"]]  # held
        mock_clock.jump(0.001)  # past 8 ms after the flush ended
        await trio.testing.wait_all_tasks_blocked()
        assert [ws.sent for ws in sockets] == [["a", "b\nviewers\nc"]] * 2  # one frame, in order
        nursery.cancel_scope.cancel()


async def test_the_hold_is_at_most_the_interval(mock_clock: trio.testing.MockClock) -> None:
    room, clock = _room()
    ws = CostlySocket(mock_clock, 0.5)  # a flush that takes half a second
    _member(room, ws)
    async with trio.open_nursery() as nursery:
        await nursery.start(clock.run)
        room.fan_out(1, "a")
        await trio.testing.wait_all_tasks_blocked()
        room.fan_out(2, "b")
        mock_clock.jump(INTERVAL - 0.001)
        await trio.testing.wait_all_tasks_blocked()
        assert ws.sent == ["a"]
        mock_clock.jump(0.002)
        await trio.testing.wait_all_tasks_blocked()
        assert ws.sent == ["a", "b"]
        nursery.cancel_scope.cancel()


async def test_a_preempted_flush_holds_the_room_for_its_cpu_time_only(
    mock_clock: trio.testing.MockClock,
) -> None:
    PreemptedSocket.cpu_time = 0.0
    room, clock = _room(cpu_clock=lambda: PreemptedSocket.cpu_time)
    sockets = [PreemptedSocket(mock_clock, 0.015, cpu=0.001) for _ in range(2)]
    for ws in sockets:
        _member(room, ws)  # a flush: 30 ms on the wall, 2 ms of CPU
    async with trio.open_nursery() as nursery:
        await nursery.start(clock.run)
        room.fan_out(1, "a")
        await trio.testing.wait_all_tasks_blocked()
        room.fan_out(2, "b")
        mock_clock.jump(0.0015)
        await trio.testing.wait_all_tasks_blocked()
        assert [ws.sent for ws in sockets] == [["a"], ["a"]]  # held for the CPU it took
        mock_clock.jump(0.001)  # 2.5 ms: not the 20 (the interval) wall time would give
        await trio.testing.wait_all_tasks_blocked()
        assert [ws.sent for ws in sockets] == [["a", "b"]] * 2
        nursery.cancel_scope.cancel()


async def test_by_default_the_hold_is_the_threads_cpu_time(
    mock_clock: trio.testing.MockClock,
) -> None:
    room = Room("alice", RoomLog(10), ChatLimits())
    clock = WriteClock(INTERVAL)  # time.thread_time
    room.on_batch = clock.batch_started
    ws = BurningSocket(mock_clock, 0.005)  # 5 ms of real CPU, no time on the mock clock
    _member(room, ws)
    async with trio.open_nursery() as nursery:
        await nursery.start(clock.run)
        room.fan_out(1, "a")
        await trio.testing.wait_all_tasks_blocked()
        room.fan_out(2, "b")
        mock_clock.jump(0.0045)
        await trio.testing.wait_all_tasks_blocked()
        assert ws.sent == ["a"]  # held: the flush burnt at least 5 ms
        mock_clock.jump(INTERVAL)  # and the hold is at most the interval
        await trio.testing.wait_all_tasks_blocked()
        assert ws.sent == ["a", "b"]
        nursery.cancel_scope.cancel()


async def test_a_quiet_room_flushes_at_the_next_turn(mock_clock: trio.testing.MockClock) -> None:
    room, clock = _room()
    ws = CostlySocket(mock_clock, 0.01)
    _member(room, ws)
    async with trio.open_nursery() as nursery:
        await nursery.start(clock.run)
        room.fan_out(1, "a")
        await trio.testing.wait_all_tasks_blocked()
        mock_clock.jump(0.011)  # longer than the flush took: quiet again
        held = trio.current_time()
        room.fan_out(2, "b")
        assert ws.sent == ["a"]  # not written by fan_out itself: the clock's next turn
        await trio.testing.wait_all_tasks_blocked()
        assert ws.sent == ["a", "b"]
        assert trio.current_time() == pytest.approx(held + 0.01)  # the write's cost, no wait
        nursery.cancel_scope.cancel()


async def test_a_full_batch_goes_at_once_and_what_follows_keeps_its_held_flush(
    mock_clock: trio.testing.MockClock,
) -> None:
    room, clock = _room(max_batch=3)
    ws = CostlySocket(mock_clock, 0.01)
    _member(room, ws)
    async with trio.open_nursery() as nursery:
        await nursery.start(clock.run)
        room.fan_out(1, "a")
        await trio.testing.wait_all_tasks_blocked()
        ws.cost = 0  # the clock stands still: "e" is due 10 ms after "a"'s flush
        for seq, frame in enumerate("bcde", start=2):
            room.fan_out(seq, frame)
        assert ws.sent == ["a", "b\nc\nd"]  # the bound, without waiting for the clock
        await trio.testing.wait_all_tasks_blocked()
        assert ws.sent == ["a", "b\nc\nd"]  # "e" is held
        mock_clock.jump(0.011)
        await trio.testing.wait_all_tasks_blocked()
        assert ws.sent == ["a", "b\nc\nd", "e"]
        mock_clock.jump(1)
        await trio.testing.wait_all_tasks_blocked()
        assert ws.sent == ["a", "b\nc\nd", "e"]  # flushed once: nothing sent twice or empty
        nursery.cancel_scope.cancel()


async def test_a_member_leaving_while_events_are_held_takes_none_from_the_others(
    mock_clock: trio.testing.MockClock,
) -> None:
    room, clock = _room()
    leaving_ws, staying_ws = CostlySocket(mock_clock, 0.005), CostlySocket(mock_clock, 0.005)
    leaving, staying = _member(room, leaving_ws), _member(room, staying_ws)
    async with trio.open_nursery() as nursery:
        await nursery.start(clock.run)
        room.fan_out(1, "a")
        await trio.testing.wait_all_tasks_blocked()
        room.fan_out(2, "b")
        room.members.discard(leaving)  # as ChatHub.join does when its block exits
        leaving.inbox.close()
        room.fan_out(3, "c")
        mock_clock.jump(INTERVAL)
        await trio.testing.wait_all_tasks_blocked()
        assert staying_ws.sent == ["a", "b\nc"]
        assert leaving_ws.sent == ["a"]
        assert leaving.close_code is None and staying.close_code is None
        nursery.cancel_scope.cancel()


async def test_cancelling_the_clock_sends_what_it_held_and_leaves_nothing_scheduled(
    mock_clock: trio.testing.MockClock,
) -> None:
    room, clock = _room()
    ws = CostlySocket(mock_clock, 0.01)
    _member(room, ws)
    async with trio.open_nursery() as nursery:
        await nursery.start(clock.run)
        room.fan_out(1, "a")
        await trio.testing.wait_all_tasks_blocked()
        room.fan_out(2, "b")
        assert room.flush_pending
        nursery.cancel_scope.cancel()
    assert ws.sent == ["a", "b"]  # at the cancellation, not lost
    assert not clock.running and not room.flush_pending
    room.fan_out(3, "c")  # no clock running: at once, as the hub does once stopped
    assert ws.sent == ["a", "b", "c"]
