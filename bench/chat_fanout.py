"""CPU per delivery of a chat room's fan-out, in one process, on real sockets.

    nox -s bench -- chat_fanout            # 100, 500 and 1000 members, 200 events each
    .venv/bin/python -m bench.chat_fanout --members 500 --events 100
    .venv/bin/python -m bench.chat_fanout --rate 100 --interval-ms 0,20

A room with N members, each a front-door websocket (``DirectWebsocket``) on its
own loopback TCP connection with its writer task running, as ``trioflix serve``
has them. Without ``--rate``, for each event: the fan-out and the flush the hub's
write clock would make, then until every task is idle again, timed in thread CPU
time (a busy machine delays the process but adds little to it); the clients'
sockets are drained outside that span. With ``--rate``, events arrive at that
many per second and the hub's write clock (``--interval-ms``, its longest hold;
0 flushes at the next turn of the scheduler, as before it held busy rooms)
flushes them; the clients read in a process of their own, and this thread's CPU
time over the whole run is counted. Also counted:
Trio task wake-ups per delivery, and how many events a member's frame carried.

What ``bench/chat.py`` measures end to end with load clients and socket.io beside
it, this isolates: the server's own cost per delivery, which on a shared machine
is hard to read from a whole-process benchmark.
"""

from __future__ import annotations

import argparse
import multiprocessing
import selectors
import socket
import time

import trio
import trio.testing
from wsproto import ConnectionType, WSConnection

from bench._machine import load_average
from trioflix.chat.limits import ChatLimits
from trioflix.chat.room import Member, Room, RoomLog
from trioflix.chat.session import _write
from trioflix.chat.write_clock import WriteClock
from trioflix.direct.websocket import DirectWebsocket

# A message as the bus frames it, with a 400-character text (the size bench/chat.py sends).
FRAME = '{"type":"message","id":%d,"user":{"id":7,"name":"sender"},"text":"' + "x" * 400 + '"}'


class CountWakeups(trio.abc.Instrument):
    def __init__(self) -> None:
        self.scheduled = 0

    def task_scheduled(self, task: trio.lowlevel.Task) -> None:
        self.scheduled += 1


def drain(clients: list[socket.socket]) -> None:
    for client in clients:
        try:
            while client.recv(1 << 16):
                pass
        except BlockingIOError:
            pass


class CountingRoom(Room):
    """A room that counts its flushes that sent something (a frame to every member)."""

    def __init__(self, limits: ChatLimits) -> None:
        super().__init__("bench", RoomLog(10), limits)
        self.frames = 0

    def flush(self) -> None:
        if self._batch:
            self.frames += 1
        super().flush()


async def measure(
    members: int, events: int, rate: float, interval: float
) -> tuple[float, float, float]:
    """CPU microseconds and task wake-ups per delivery, and events per frame."""
    limits = ChatLimits()
    room = CountingRoom(limits)
    clock = WriteClock(interval)
    clients: list[socket.socket] = []
    servers: list[trio.SocketStream] = []
    reader: multiprocessing.process.BaseProcess | None = None
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(members)
        if rate:  # the clients in a process of their own: reading is not this thread's work
            reader = multiprocessing.get_context("spawn").Process(
                target=read_until_closed, args=(listener.getsockname(), members)
            )
            reader.start()
        async with trio.open_nursery() as nursery:
            for _ in range(members):
                if reader is None:
                    client = socket.create_connection(listener.getsockname())
                    client.setblocking(False)
                    clients.append(client)
                server, _ = listener.accept()
                server.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                stream = trio.SocketStream(trio.socket.from_stdlib_socket(server))
                servers.append(stream)
                ws = DirectWebsocket(
                    stream, WSConnection(ConnectionType.SERVER), None, max_message_bytes=1024
                )
                inbox, outbox = trio.open_memory_channel[tuple[int, str]](limits.outgoing_queue)
                member = Member(user=None, inbox=inbox, outbox=outbox, room=room)
                room.members.add(member)
                nursery.start_soon(_write, ws, member, 0, limits.max_batch)
            if rate:
                room.on_batch = clock.batch_started
                await nursery.start(clock.run)
            await trio.testing.wait_all_tasks_blocked()
            wakeups = CountWakeups()
            trio.lowlevel.add_instrument(wakeups)
            cpu = 0.0
            if rate:
                cpu = await _at_rate(room, events, rate, interval)
            else:
                for seq in range(1, events + 1):
                    frame = FRAME % seq
                    start = time.thread_time()
                    room.fan_out(seq, frame)
                    room.flush()
                    await trio.testing.wait_all_tasks_blocked()
                    cpu += time.thread_time() - start
                    drain(clients)
            trio.lowlevel.remove_instrument(wakeups)
            nursery.cancel_scope.cancel()
    for stream in servers:
        stream.socket.close()
    for client in clients:
        client.close()
    if reader is not None:
        reader.join(10)
        reader.kill()
    deliveries = members * events
    return cpu / deliveries * 1e6, wakeups.scheduled / deliveries, events / room.frames


async def _at_rate(room: Room, events: int, rate: float, interval: float) -> float:
    """Thread CPU seconds of ``events`` fanned out at ``rate`` and flushed by the write clock."""
    start = time.thread_time()
    next_event = trio.current_time()
    for seq in range(1, events + 1):
        room.fan_out(seq, FRAME % seq)
        next_event += 1 / rate
        await trio.sleep_until(next_event)
    await trio.sleep(interval)  # the last held flush
    await trio.testing.wait_all_tasks_blocked()
    return time.thread_time() - start


def read_until_closed(address: tuple[str, int], members: int) -> None:
    """The clients of a run at a rate, in a process of their own: connect, read until
    the server closes every connection."""
    selector = selectors.DefaultSelector()
    for _ in range(members):
        client = socket.create_connection(address)
        client.setblocking(False)
        selector.register(client, selectors.EVENT_READ, client)
    while selector.get_map():
        for key, _ in selector.select():
            client = key.data
            try:
                data = client.recv(1 << 16)
            except BlockingIOError:
                continue
            except ConnectionError:
                data = b""
            if not data:
                selector.unregister(client)
                client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", default="100,500,1000", help="room sizes, e.g. 100,500")
    parser.add_argument("--events", type=int, default=200, help="events per room size")
    parser.add_argument("--rate", type=float, default=0, help="events per second (0: bursts)")
    parser.add_argument(
        "--interval-ms", default="20", help="the write clock's intervals, e.g. 0,10,20"
    )
    args = parser.parse_args(argv)
    intervals = [float(ms) / 1000 for ms in args.interval_ms.split(",")] if args.rate else [0.0]
    print(f"load average before: {load_average()}")
    print(
        "| members | events | msg/s | interval ms | CPU us per delivery "
        "| task wake-ups per delivery | events per frame |"
    )
    print("|--:|--:|--:|--:|--:|--:|--:|")
    for members in (int(n) for n in args.members.split(",")):
        for interval in intervals:
            cpu_us, wakeups, per_frame = trio.run(
                measure, members, args.events, args.rate, interval
            )
            print(
                f"| {members} | {args.events} | {args.rate:g} | {interval * 1000:g} "
                f"| {cpu_us:.1f} | {wakeups:.2f} | {per_frame:.2f} |",
                flush=True,
            )
    print(f"load average after: {load_average()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
