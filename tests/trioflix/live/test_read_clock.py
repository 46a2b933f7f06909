from __future__ import annotations

import pytest
import trio
import trio.testing

from trioflix.live.rtmp.read_clock import MIN_MEMBERS, ReadClock


async def read_once(clock: ReadClock, woken: list[float]) -> None:
    """A paced reader's wait: note when the tick let it go."""
    await clock.tick()
    woken.append(trio.current_time())


async def test_parked_readers_wake_together_once_per_tick(autojump_clock: trio.abc.Clock) -> None:
    clock = ReadClock(0.02)
    woken: list[tuple[int, float]] = []

    async def reader(number: int) -> None:
        for _ in range(3):
            await clock.tick()
            woken.append((number, trio.current_time()))

    async with trio.open_nursery() as nursery:
        start = trio.current_time()
        await nursery.start(clock.run)
        for number in range(3):
            nursery.start_soon(reader, number)
        await trio.sleep(0.1)
        nursery.cancel_scope.cancel()

    times = sorted({round(at - start, 6) for _, at in woken})
    assert times == [0.02, 0.04, 0.06]
    assert sorted(number for number, _ in woken) == [0, 0, 0, 1, 1, 1, 2, 2, 2]


async def test_a_late_tick_is_not_made_up_for(autojump_clock: trio.testing.MockClock) -> None:
    clock = ReadClock(0.02)
    ticks: list[float] = []

    async def reader() -> None:
        while True:
            await clock.tick()
            ticks.append(trio.current_time())
            if len(ticks) == 1:
                autojump_clock.jump(0.05)  # this reader stalls the loop past two ticks

    async with trio.open_nursery() as nursery:
        start = trio.current_time()
        await nursery.start(clock.run)
        nursery.start_soon(reader)
        await trio.sleep(0.14)
        nursery.cancel_scope.cancel()
    # One late tick when the loop is free again, then the period from there: no burst.
    assert [round(at - start, 6) for at in ticks] == [0.02, 0.07, 0.09, 0.11, 0.13]


async def test_a_cancelled_reader_leaves_the_others_parked(
    autojump_clock: trio.abc.Clock,
) -> None:
    clock = ReadClock(0.05)
    woken: list[str] = []

    async def reader(name: str, scope: trio.CancelScope) -> None:
        with scope:
            await clock.tick()
            woken.append(name)

    async with trio.open_nursery() as nursery:
        await nursery.start(clock.run)
        gone, staying = trio.CancelScope(), trio.CancelScope()
        nursery.start_soon(reader, "gone", gone)
        nursery.start_soon(reader, "staying", staying)
        await trio.sleep(0.01)
        gone.cancel()
        await trio.sleep(0.1)
        nursery.cancel_scope.cancel()
    assert woken == ["staying"]


@pytest.mark.parametrize("interval", [0, -0.01, float("nan")])
def test_interval_must_be_positive(interval: float) -> None:
    with pytest.raises(ValueError, match="positive interval"):
        ReadClock(interval)


async def test_the_clock_stops_without_readers_and_restarts_for_one(
    autojump_clock: trio.abc.Clock,
) -> None:
    clock = ReadClock(0.02)
    woken: list[float] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(clock.run)
        await trio.sleep(0.05)  # the tick at 0.02 found nobody waiting: the clock stopped
        assert trio.lowlevel.current_statistics().seconds_to_next_deadline == float("inf")
        arrived = trio.current_time()
        nursery.start_soon(read_once, clock, woken)
        await trio.sleep(0.1)
        nursery.cancel_scope.cancel()
    assert [round(at - arrived, 6) for at in woken] == [0.02]  # one interval, as any reader


async def test_members_pace_only_together_and_the_last_one_is_let_go(
    autojump_clock: trio.abc.Clock,
) -> None:
    clock = ReadClock(0.5)
    assert MIN_MEMBERS == 2
    released: list[float] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(clock.run)
        clock.join()
        assert not clock.pacing  # alone: reads as data arrives
        clock.join()
        assert clock.pacing
        start = trio.current_time()
        nursery.start_soon(read_once, clock, released)
        await trio.sleep(0.1)
        clock.leave()  # one publisher left: it must not wait for the tick any longer
        await trio.sleep(0.1)
        assert not clock.pacing
        assert [round(at - start, 6) for at in released] == [0.1]
        clock.leave()
        assert clock.members == 0
        nursery.cancel_scope.cancel()
