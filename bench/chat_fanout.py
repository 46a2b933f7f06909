"""CPU per delivery of a chat room's fan-out, in one process, on real sockets.

    nox -s bench -- chat_fanout            # 100, 500 and 1000 members, 200 events each
    .venv/bin/python -m bench.chat_fanout --members 500 --events 100

A room with N members, each a front-door websocket (``DirectWebsocket``) on its
own loopback TCP connection with its writer task running, as ``trioflix serve``
has them. For each event: the fan-out and the flush the hub's writer task would
make, then until every task is idle again, timed in thread CPU time (a busy
machine delays the process but adds little to it); the clients' sockets are
drained outside that span. Also counted: Trio task wake-ups per delivery.

What ``bench/chat.py`` measures end to end with load clients and socket.io beside
it, this isolates: the server's own cost per delivery, which on a shared machine
is hard to read from a whole-process benchmark.
"""

from __future__ import annotations

import argparse
import socket
import time

import trio
import trio.testing
from wsproto import ConnectionType, WSConnection

from bench._machine import load_average
from trioflix.chat.limits import ChatLimits
from trioflix.chat.room import Member, Room, RoomLog
from trioflix.chat.session import _write
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


async def measure(members: int, events: int) -> tuple[float, float]:
    """CPU microseconds and task wake-ups per delivery."""
    limits = ChatLimits()
    room = Room("bench", RoomLog(10), limits)
    clients: list[socket.socket] = []
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(members)
        async with trio.open_nursery() as nursery:
            for _ in range(members):
                client = socket.create_connection(listener.getsockname())
                client.setblocking(False)
                clients.append(client)
                server, _ = listener.accept()
                server.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                stream = trio.SocketStream(trio.socket.from_stdlib_socket(server))
                ws = DirectWebsocket(
                    stream, WSConnection(ConnectionType.SERVER), None, max_message_bytes=1024
                )
                inbox, outbox = trio.open_memory_channel[tuple[int, str]](limits.outgoing_queue)
                member = Member(user=None, inbox=inbox, outbox=outbox, room=room)
                room.members.add(member)
                nursery.start_soon(_write, ws, member, 0, limits.max_batch)
            await trio.testing.wait_all_tasks_blocked()
            wakeups = CountWakeups()
            trio.lowlevel.add_instrument(wakeups)
            cpu = 0.0
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
    for client in clients:
        client.close()
    deliveries = members * events
    return cpu / deliveries * 1e6, wakeups.scheduled / deliveries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", default="100,500,1000", help="room sizes, e.g. 100,500")
    parser.add_argument("--events", type=int, default=200, help="events per room size")
    args = parser.parse_args(argv)
    print(f"load average before: {load_average()}")
    print("| members | events | CPU us per delivery | task wake-ups per delivery |")
    print("|--:|--:|--:|--:|")
    for members in (int(n) for n in args.members.split(",")):
        cpu_us, wakeups = trio.run(measure, members, args.events)
        print(f"| {members} | {args.events} | {cpu_us:.1f} | {wakeups:.2f} |", flush=True)
    print(f"load average after: {load_average()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
