"""The fan-out hot path without a server: shared queue items, the writer's coalescing,
the fan-out writing to an idle member's socket itself, and the in-process bus
delivering before it yields (docs/benchmarks.md, "Chat")."""

from __future__ import annotations

import socket
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import trio
import trio.testing
from wsproto import ConnectionType, WSConnection

from trioflix.chat.bus import LocalBus
from trioflix.chat.limits import ChatLimits
from trioflix.chat.protocol import CloseCode, event_parts
from trioflix.chat.room import LogEntry, Member, Room, RoomLog
from trioflix.chat.session import _write
from trioflix.direct.websocket import DirectWebsocket, text_frame

if TYPE_CHECKING:
    from collections.abc import Iterator


def _member(room: Room | None = None, queue: int = 16) -> Member:
    inbox, outbox = trio.open_memory_channel[tuple[int, str]](queue)
    return Member(user=None, inbox=inbox, outbox=outbox, room=room)


class FakeWebsocket:
    """Records what the writer sends; the session's :class:`WebsocketLike`."""

    def __init__(self) -> None:
        self.sent: list[str | bytes] = []

    async def accept(self) -> None:
        await trio.lowlevel.checkpoint()

    async def receive(self) -> str | bytes:
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    async def send(self, data: str | bytes) -> None:
        await trio.lowlevel.checkpoint()
        self.sent.append(data)

    async def close(self, code: int, reason: str = "") -> None:
        await trio.lowlevel.checkpoint()


class FakeHub:
    """The bus's :class:`~trioflix.chat.bus.Delivery`: records deliveries in order."""

    def __init__(self) -> None:
        self.log = RoomLog(10)
        self.events: list[str] = []

    def deliver(
        self, channel: str, seq: int, kind: str, target: int, frame: str, event: dict[str, Any]
    ) -> None:
        self.log.append(LogEntry(seq, kind, target, frame))
        self.events.append(f"deliver {seq}")

    def signal_received(self, channel: str, kind: str, event: dict[str, Any]) -> None:
        raise AssertionError("no signals here")

    def log_for(self, channel: str) -> RoomLog:
        return self.log


def test_fan_out_queues_one_item_shared_by_every_member() -> None:
    room = Room("alice", RoomLog(10), ChatLimits())
    members = [_member(room) for _ in range(3)]
    room.members.update(members)
    room.fan_out(7, '{"type":"message","id":7}')
    items = [m.outbox.receive_nowait() for m in members]
    assert items[0] == (7, '{"type":"message","id":7}')
    assert all(item is items[0] for item in items)  # nothing allocated per member


def test_fan_out_still_drops_a_full_member() -> None:
    room = Room("alice", RoomLog(10), ChatLimits())
    slow, fine = _member(room, queue=1), _member(room, queue=4)
    room.members.update((slow, fine))
    room.fan_out(1, "a")
    room.fan_out(2, "b")
    assert slow.close_code == 4408 and slow not in room.members
    assert fine.close_code is None and fine.outbox.receive_nowait() == (1, "a")


async def test_writer_sends_a_lone_frame_as_it_is_and_coalesces_a_backlog() -> None:
    member = _member()
    ws = FakeWebsocket()
    async with trio.open_nursery() as nursery:
        # Queued before the writer starts: 3 is already in the welcome's history.
        for seq, frame in [(3, "old"), (4, "a"), (0, "viewers"), (5, "b"), (6, "c"), (7, "d")]:
            member.offer(seq, frame)
        nursery.start_soon(_write, ws, member, 3, 3)
        await trio.testing.wait_all_tasks_blocked()
        assert ws.sent == ["a\nviewers\nb", "c\nd"]  # at most max_batch=3 per frame
        member.offer(8, "e")
        await trio.testing.wait_all_tasks_blocked()
        assert ws.sent[-1] == "e"
        member.offer(2, "older")  # a history duplicate alone is skipped, not sent empty
        member.offer(9, "f")
        await trio.testing.wait_all_tasks_blocked()
        assert ws.sent[-1] == "f" and len(ws.sent) == 4
        nursery.cancel_scope.cancel()


async def test_local_bus_delivers_before_other_runnable_tasks_run() -> None:
    hub = FakeHub()
    bus = LocalBus(hub)
    parts = event_parts("message", {"text": "hi"})

    async def other() -> None:
        await trio.lowlevel.checkpoint()  # stands for a member's writer, already runnable
        hub.events.append("other task")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(other)
        seq = await bus.publish("alice", "message", parts, 0, {"text": "hi"})
    assert hub.events[0] == f"deliver {seq}"
    assert hub.log.entries[-1].frame == f'{{"type":"message","id":{seq},"text":"hi"}}'


async def test_local_bus_publish_cancelled_before_numbering_delivers_nothing() -> None:
    hub = FakeHub()
    bus = LocalBus(hub)
    with trio.CancelScope() as scope:
        scope.cancel()
        await bus.publish("alice", "message", event_parts("message", {}), 0, {})
    assert scope.cancelled_caught
    assert hub.events == [] and hub.log.last_seq == 0


# -- the fan-out's own writes to a direct websocket ----------------------------------------


@contextmanager
def direct_websocket(
    send_buffer: int | None = None,
) -> Iterator[tuple[DirectWebsocket, socket.socket]]:
    """The front door's websocket on one end of a real socket pair; the other end, the
    client's, is a plain non-blocking socket the test reads itself."""
    server, client = socket.socketpair()
    if send_buffer is not None:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, send_buffer)
    client.setblocking(False)
    stream = trio.SocketStream(trio.socket.from_stdlib_socket(server))
    ws = DirectWebsocket(stream, WSConnection(ConnectionType.SERVER), None, max_message_bytes=1024)
    with client, server:
        yield ws, client


class CountWakeups(trio.abc.Instrument):
    def __init__(self) -> None:
        self.scheduled = 0

    def task_scheduled(self, task: trio.lowlevel.Task) -> None:
        self.scheduled += 1


def received(client: socket.socket) -> bytes:
    data = b""
    while True:
        try:
            chunk = client.recv(1 << 20)
        except BlockingIOError:
            return data
        data += chunk


async def test_fan_out_writes_to_an_idle_writers_socket_and_wakes_no_task() -> None:
    room = Room("alice", RoomLog(10), ChatLimits())
    member = _member(room)
    room.members.add(member)
    with direct_websocket() as (ws, client):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_write, ws, member, 5, 8)
            await trio.testing.wait_all_tasks_blocked()
            assert member.direct is ws  # the writer waits on an empty queue
            wakeups = CountWakeups()
            trio.lowlevel.add_instrument(wakeups)
            # No checkpoint from here to the reads: whatever arrives was written by fan_out.
            room.fan_out(5, "in the welcome already")  # a duplicate of the history
            room.fan_out(6, "a")
            room.fan_out(0, "viewers")
            trio.lowlevel.remove_instrument(wakeups)
            assert received(client) == text_frame("a") + text_frame("viewers")
            assert wakeups.scheduled == 0
            assert member.outbox.statistics().current_buffer_used == 0
            nursery.cancel_scope.cancel()
    assert member.direct is None  # the writer is gone: nothing writes to its socket


async def test_a_frame_the_socket_does_not_take_whole_is_finished_by_the_writer_in_order() -> None:
    room = Room("alice", RoomLog(10), ChatLimits())
    member = _member(room)
    room.members.add(member)
    big = "x" * 300_000  # more than the socket pair buffers
    with direct_websocket(send_buffer=4096) as (ws, client):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_write, ws, member, 0, 8)
            await trio.testing.wait_all_tasks_blocked()
            room.fan_out(1, big)
            assert ws.backlogged and member.direct is None  # the rest is the writer's
            room.fan_out(2, "b")  # queued behind it, not written past it
            room.fan_out(3, "c")
            # The writer was handed FLUSH (woken to finish the frame); b and c wait.
            assert member.outbox.statistics().current_buffer_used == 2
            expected = text_frame(big) + text_frame("b\nc")  # the two queued: one frame
            data = b""
            with trio.fail_after(10):
                while len(data) < len(expected):
                    await trio.lowlevel.wait_readable(client)
                    data += received(client)
                await trio.testing.wait_all_tasks_blocked()
            assert data == expected
            assert member.direct is ws  # idle again: the fan-out writes itself once more
            room.fan_out(4, "d")
            assert received(client) == text_frame("d")
            nursery.cancel_scope.cancel()
    assert member.close_code is None


async def test_a_direct_write_to_a_closed_peer_drops_only_that_member() -> None:
    room = Room("alice", RoomLog(10), ChatLimits())
    gone, staying = _member(room), _member(room)
    room.members.update((gone, staying))
    with direct_websocket() as (ws, client):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_write, ws, gone, 0, 8)
            await trio.testing.wait_all_tasks_blocked()
            client.close()
            room.fan_out(1, "a")
            assert gone.close_code == CloseCode.GOING_AWAY and gone not in room.members
            assert staying.outbox.receive_nowait() == (1, "a")
            nursery.cancel_scope.cancel()


async def test_events_batched_in_one_turn_reach_an_idle_member_as_one_frame() -> None:
    limits = ChatLimits()
    room = Room("alice", RoomLog(10), limits)
    batched: list[Room] = []
    room.on_batch = batched.append  # what the hub's writer task is told
    member = _member(room)
    room.members.add(member)
    with direct_websocket() as (ws, client):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_write, ws, member, 0, limits.max_batch)
            await trio.testing.wait_all_tasks_blocked()
            room.fan_out(1, "a")
            room.fan_out(0, "viewers")
            room.fan_out(2, "b")
            assert batched == [room]  # told once, at the first event
            assert received(client) == b""  # nothing written before the flush
            room.flush()
            assert received(client) == text_frame("a\nviewers\nb")
            # A batch is bounded: the event that fills it flushes it at once.
            for seq in range(3, 3 + limits.max_batch):
                room.fan_out(seq, "x")
            assert received(client) == text_frame("\n".join(["x"] * limits.max_batch))
            assert batched == [room, room]
            nursery.cancel_scope.cancel()
