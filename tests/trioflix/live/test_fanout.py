"""Viewer queues: bounded, never blocking the publisher; slow viewers skip or get dropped."""

from __future__ import annotations

import trio
import trio.testing

from trioflix.live.fanout import Protocol, Subscriber
from trioflix.live.packets import Kind, Packet


def frame(ts: int, *, key: bool = False, size: int = 1000) -> Packet:
    body = (b"\x17" if key else b"\x27") + b"\x01\x00\x00\x00" + b"x" * size
    return Packet(Kind.VIDEO, ts, body, keyframe=key)


def config() -> Packet:
    return Packet(Kind.VIDEO, 0, b"\x17\x00\x00\x00\x00cfg", config=True)


async def test_batches_take_everything_queued() -> None:
    sub = Subscriber(Protocol.HTTP_FLV)
    packets = [frame(0, key=True), frame(33), frame(66)]
    for packet in packets:
        sub.offer(packet)
    assert await sub.next_batch() == packets
    sub.close("done")
    assert await sub.next_batch() == []


async def test_next_batch_waits_for_a_packet() -> None:
    sub = Subscriber(Protocol.RTMP)
    got: list[Packet] = []

    async def reader() -> None:
        got.extend(await sub.next_batch())

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader)
            await trio.testing.wait_all_tasks_blocked()
            assert got == []
            sub.offer(frame(0, key=True))
    assert len(got) == 1


def test_slow_viewer_skips_to_next_keyframe_and_memory_stays_bounded() -> None:
    sub = Subscriber(Protocol.HTTP_FLV, max_bytes=10_000)
    sub.offer(config())
    sub.offer(frame(0, key=True))
    for i in range(1, 30):
        sub.offer(frame(i * 33))
        assert sub.queued_bytes <= 10_000 + 2000
    assert sub.dropped > 0
    assert sub.closed_reason is None
    dropped = sub.dropped
    # Still nothing until a keyframe: the decoder could not use deltas.
    sub.offer(frame(2000))
    assert sub.dropped == dropped + 1
    sub.offer(frame(2033, key=True))
    queued = list(sub._queue)
    assert queued[0].config  # the sequence header survived the skip
    assert queued[-1].keyframe


def test_stalled_viewer_is_disconnected() -> None:
    sub = Subscriber(Protocol.WS_FLV, max_bytes=5_000, max_skips=3)
    ts = 0
    for _ in range(10):
        sub.offer(frame(ts, key=True))
        for _ in range(10):
            ts += 33
            sub.offer(frame(ts))
    assert sub.closed_reason == "too slow"
    assert sub.queued_bytes <= 5_000 + 2000


async def test_viewer_that_falls_behind_now_and_then_is_not_disconnected() -> None:
    sub = Subscriber(Protocol.WS_FLV, max_bytes=5_000, max_skips=2)
    ts = 0

    def gop(frames: int) -> None:
        nonlocal ts
        sub.offer(frame(ts, key=True))
        for _ in range(frames):
            ts += 33
            sub.offer(frame(ts))

    with trio.fail_after(5):
        for _ in range(10):
            gop(10)  # a burst it cannot take: skips ahead
            gop(2)  # then it catches up and drains its queue
            assert await sub.next_batch()
    assert sub.closed_reason is None
    assert sub.dropped > 0
