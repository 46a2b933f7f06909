"""Viewer queues: bounded, never blocking the publisher; slow viewers skip or get dropped."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import trio
import trio.testing

from trioflix.live.channel.fanout import SEND_BYTES, Audience, Subscriber, Transport
from trioflix.live.channel.packets import Kind, Packet, flv_bytes

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


def frame(ts: int, *, key: bool = False, size: int = 1000) -> Packet:
    body = (b"\x17" if key else b"\x27") + b"\x01\x00\x00\x00" + b"x" * size
    return Packet(Kind.VIDEO, ts, body, keyframe=key)


def config() -> Packet:
    return Packet(Kind.VIDEO, 0, b"\x17\x00\x00\x00\x00cfg", config=True)


async def test_batches_take_everything_queued() -> None:
    sub = Subscriber(Transport.HTTP_FLV)
    packets = [frame(0, key=True), frame(33), frame(66)]
    for packet in packets:
        sub.offer(packet)
    assert await sub.next_batch() == packets
    sub.close("done")
    assert await sub.next_batch() == []


async def test_a_primed_gop_goes_out_a_few_sends_at_a_time_not_as_one_copy() -> None:
    sub = Subscriber(Transport.HTTP_FLV)
    sub.attach_writer(lambda data: len(data))
    big = frame(0, key=True, size=3 * SEND_BYTES)  # a packet larger than a send: whole
    packets = [config(), big, *(frame(33 * i, size=20_000) for i in range(1, 40))]
    for packet in packets:
        sub.offer(packet)
    sends = []
    while sub.queued_bytes:
        sends.append(await sub.next_bytes())
    assert b"".join(sends) == flv_bytes(packets)
    assert [len(data) for data in sends[:2]] == [config().size, big.size]
    assert all(len(data) <= SEND_BYTES for data in sends[2:])
    assert len(sends) < len(packets) / 2  # still a few packets per send
    sub.offer(frame(33 * 40))  # the queue emptied: taken whole again
    assert await sub.next_bytes() == flv_bytes([frame(33 * 40)])


async def test_next_batch_waits_for_a_packet_and_ignores_nudges() -> None:
    sub = Subscriber(Transport.RTMP)
    got: list[Packet] = []

    async def reader() -> None:
        got.extend(await sub.next_batch())

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader)
            await trio.testing.wait_all_tasks_blocked()
            assert got == []
            sub.nudge()
            await trio.testing.wait_all_tasks_blocked()
            assert got == []  # still waiting
            sub.offer(frame(0, key=True))
    assert len(got) == 1


async def test_a_nudge_is_answered_once_the_queue_is_drained_and_only_once() -> None:
    sub = Subscriber(Transport.INTERNAL)
    sub.offer(frame(0, key=True))
    sub.nudge()
    with trio.fail_after(5):
        assert len(await sub.next_batch_or_nudge() or []) == 1  # packets first
        assert await sub.next_batch_or_nudge() is None
        sub.offer(frame(33))
        assert len(await sub.next_batch_or_nudge() or []) == 1  # the nudge was used up
        sub.close("publisher gone")
        assert await sub.next_batch_or_nudge() == []  # closed wins over a nudge
    sub.nudge()
    assert await sub.next_batch_or_nudge() == []


def test_slow_viewer_skips_to_next_keyframe_and_memory_stays_bounded() -> None:
    sub = Subscriber(Transport.HTTP_FLV, max_bytes=10_000)
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
    sub = Subscriber(Transport.WS_FLV, max_bytes=5_000, max_skips=3)
    ts = 0
    for _ in range(10):
        sub.offer(frame(ts, key=True))
        for _ in range(10):
            ts += 33
            sub.offer(frame(ts))
    assert sub.closed_reason == "too slow"
    assert sub.queued_bytes <= 5_000 + 2000


async def test_viewer_that_falls_behind_now_and_then_is_not_disconnected() -> None:
    sub = Subscriber(Transport.WS_FLV, max_bytes=5_000, max_skips=2)
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


# -- direct writes: the publisher's task writes to idle viewers itself ----------------------


class FakeSocket:
    """A non-blocking socket: the writer takes up to ``room`` bytes per call (``None``:
    all), raises BlockingIOError when ``room`` is 0 and ``error`` when set; what the
    viewer's task sends is appended in order too, so ``wire`` is what the peer got."""

    def __init__(self) -> None:
        self.wire = bytearray()
        self.writes: list[bytes] = []
        self.room: int | None = None
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        if self.error is not None:
            raise self.error
        if self.room == 0:
            raise BlockingIOError
        taken = data if self.room is None else data[: self.room]
        self.writes.append(bytes(taken))
        self.wire += taken
        return len(taken)


def direct_viewer(**kwargs: int) -> tuple[Audience, Subscriber, FakeSocket]:
    audience = Audience()
    sub = Subscriber(Transport.HTTP_FLV, **kwargs)
    audience.add(sub)
    sock = FakeSocket()
    sub.attach_writer(sock.write)
    return audience, sub, sock


async def viewer_task(sub: Subscriber, sock: FakeSocket, sends: list[bytes]) -> None:
    """What the HTTP-FLV route does with what the task must send itself."""
    while data := await sub.next_bytes():
        sends.append(data)
        sock.wire += data


@asynccontextmanager
async def running_viewer() -> AsyncIterator[tuple[Audience, Subscriber, FakeSocket, list[bytes]]]:
    """A direct viewer with its task running (and parked): its audience, the
    subscriber, its socket, and what the task sent itself. Leaving waits for the task
    to end (within 5 s)."""
    audience, sub, sock = direct_viewer()
    sends: list[bytes] = []
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(viewer_task, sub, sock, sends)
            await trio.testing.wait_all_tasks_blocked()
            yield audience, sub, sock, sends


async def test_an_idle_viewer_is_written_at_flush_without_waking_its_task() -> None:
    packets = [frame(0, key=True), frame(33), frame(66)]
    async with running_viewer() as (audience, sub, sock, sends):
        for packet in packets:
            audience.offer(packet)
        assert not sub._wakeup.is_set()  # no wake-up for the offers
        assert sub.queued_bytes == 0  # nor a queue of its own: the audience keeps them
        await trio.testing.wait_all_tasks_blocked()
        assert sends == [] and sock.writes == []
        joined = b"".join(p.flv_tag for p in packets)
        assert audience.flush() == len(joined)
        assert sock.writes == [joined]  # one write, all the tags
        assert audience.flush() == 0  # nothing new: no write
        assert sock.writes == [joined]
        await trio.testing.wait_all_tasks_blocked()
        assert sends == []  # the task never had anything to do
        sub.close("done")
    assert bytes(sock.wire) == joined


async def test_idle_viewers_share_one_join_and_a_late_one_gets_only_what_it_lacks() -> None:
    audience = Audience()
    viewers = [Subscriber(Transport.HTTP_FLV) for _ in range(3)]
    socks = [FakeSocket() for _ in viewers]
    sends: list[bytes] = []
    packets = [frame(0, key=True), frame(33), frame(66)]
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            for sub, sock in zip(viewers[:2], socks, strict=False):
                audience.add(sub)
                sub.attach_writer(sock.write)
                nursery.start_soon(viewer_task, sub, sock, sends)
            await trio.testing.wait_all_tasks_blocked()
            audience.offer(packets[0])
            # A third viewer parks after the first packet of this read: it is owed the rest.
            audience.add(viewers[2])
            viewers[2].attach_writer(socks[2].write)
            nursery.start_soon(viewer_task, viewers[2], socks[2], sends)
            await trio.testing.wait_all_tasks_blocked()
            audience.offer(packets[1])
            audience.offer(packets[2])
            whole = b"".join(p.flv_tag for p in packets)
            assert audience.flush() == 2 * len(whole) + len(whole) - packets[0].size
            assert socks[0].writes[0] is socks[1].writes[0]  # the same bytes object
            assert socks[2].writes == [packets[1].flv_tag + packets[2].flv_tag]
            for sub in viewers:
                sub.close("done")
    assert sends == []


async def test_a_partial_write_leaves_the_rest_to_the_task_in_order() -> None:
    packets = [frame(i * 33, key=i == 0) for i in range(6)]
    async with running_viewer() as (audience, sub, sock, sends):
        audience.offer(packets[0])
        audience.offer(packets[1])
        sock.room = 100
        assert audience.flush() == 100
        assert sub._wakeup.is_set()  # the task is woken for the rest
        audience.offer(packets[2])  # arrives before the task runs: queued after the rest
        assert audience.flush() == 0  # not direct idle now: the task owns the socket
        await trio.testing.wait_all_tasks_blocked()
        rest = (packets[0].flv_tag + packets[1].flv_tag)[100:]
        assert sends == [rest, packets[2].flv_tag]
        # The queue drained, the task is idle again: back to direct writes.
        sock.room = None
        audience.offer(packets[3])
        audience.offer(packets[4])
        assert audience.flush() == packets[3].size + packets[4].size
        audience.offer(packets[5])
        sub.close("publisher stopped")  # the task writes what it is owed, then ends
    assert sends[2:] == [packets[5].flv_tag]
    assert bytes(sock.wire) == b"".join(p.flv_tag for p in packets)
    assert len(sock.writes) == 2


async def test_a_write_that_would_block_hands_everything_to_the_task() -> None:
    packets = [frame(0, key=True), frame(33), frame(66)]
    async with running_viewer() as (audience, sub, sock, sends):
        audience.offer(packets[0])
        audience.offer(packets[1])
        sock.room = 0
        assert audience.flush() == 0
        await trio.testing.wait_all_tasks_blocked()
        assert sends == [packets[0].flv_tag + packets[1].flv_tag]
        sock.room = None
        audience.offer(packets[2])
        assert audience.flush() == packets[2].size
        sub.close("done")
    assert sock.writes == [packets[2].flv_tag]
    assert bytes(sock.wire) == b"".join(p.flv_tag for p in packets)


async def test_a_writer_error_closes_that_viewer_and_ends_its_task() -> None:
    async with running_viewer() as (audience, sub, sock, sends):
        audience.offer(frame(0, key=True))
        sock.error = ConnectionResetError()
        assert audience.flush() == 0  # no exception into the publisher's task
        assert sub.closed_reason is not None
        assert audience.offer(frame(33)) == 0  # ignored from now on
        assert sub.queued_bytes == 0
        assert audience.flush() == 0
    # The nursery exits: the task ended, having sent nothing.
    assert sends == [] and sock.wire == b""


async def test_without_flushes_parked_viewers_go_back_to_their_queues() -> None:
    packets = [frame(i * 33, key=i == 0, size=300_000) for i in range(5)]
    async with running_viewer() as (audience, sub, sock, sends):
        for packet in packets:  # about 1.5 MB, and nobody flushes
            audience.offer(packet)
        await trio.testing.wait_all_tasks_blocked()
        assert sends  # the task took over: it sent what the audience kept
        sub.close("done")
    assert sock.writes == []
    assert bytes(sock.wire) == b"".join(p.flv_tag for p in packets)


async def test_skipping_ahead_still_bounds_memory_while_writes_block() -> None:
    audience, sub, sock = direct_viewer(max_bytes=10_000, max_skips=3)
    too_slow: list[bool] = []
    sub.on_too_slow = lambda: too_slow.append(True)
    stuck: list[bytes] = []

    async def blocked_in_a_write() -> None:
        stuck.append(await sub.next_bytes())
        await trio.sleep_forever()  # the peer stopped reading

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(blocked_in_a_write)
            await trio.testing.wait_all_tasks_blocked()
            audience.offer(config())
            audience.offer(frame(0, key=True))
            sock.room = 0
            audience.flush()
            await trio.testing.wait_all_tasks_blocked()
            assert len(stuck) == 1
            ts = 0
            for _ in range(10):
                for i in range(12):
                    ts += 33
                    audience.offer(frame(ts, key=i == 0))
                    audience.flush()  # the publisher flushes after every read
                    assert sub.queued_bytes <= 10_000 + 2000
            assert sub.dropped > 0
            assert sub.closed_reason == "too slow" and too_slow == [True]
            nursery.cancel_scope.cancel()
    assert sock.writes == []  # never written directly: the task held the socket
