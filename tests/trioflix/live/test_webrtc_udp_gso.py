"""A WHEP viewer's datagrams through UDP GSO: a run of one size leaves in one
``sendmsg``, on a real asyncio datagram transport's socket on loopback, and arrives
as the same datagrams that sending them one by one gives; the kernel's refusal
turns segmentation off for good, a full socket buffer for that run only."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
import struct
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import trio
import trio_asyncio

from trioflix.live.webrtc.udp_gso import (
    MAX_BYTES,
    MAX_SEGMENTS,
    SOL_UDP,
    UDP_SEGMENT,
    SegmentedSender,
    runs,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import pytest

SO_NO_CHECK = 11  # Linux: no UDP checksums, which the kernel's segmentation refuses


class RecordingSocket(socket.socket):
    """A socket that keeps the ancillary data of each ``sendmsg`` it makes."""

    def __init__(self, fileno: int) -> None:
        super().__init__(fileno=fileno)
        self.setblocking(False)
        self.calls: list[list[tuple[int, int, bytes]]] = []
        self.lone: list[bytes] = []  # what sendto was asked to send

    def sendmsg(self, buffers: Any, ancdata: Any = (), flags: int = 0, address: Any = None) -> int:
        self.calls.append(list(ancdata))
        return super().sendmsg(buffers, ancdata, flags, address)

    def sendto(self, data: Any, *args: Any) -> int:
        self.lone.append(bytes(data))
        return super().sendto(data, *args)


class FullBufferSocket(RecordingSocket):
    """What ``sendmsg`` raises when the socket's send buffer is full: loopback frees a
    datagram's buffer as it is sent, so a test cannot fill it."""

    def sendmsg(self, buffers: Any, ancdata: Any = (), flags: int = 0, address: Any = None) -> int:
        self.calls.append(list(ancdata))
        raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")

    def sendto(self, data: Any, *args: Any) -> int:
        self.lone.append(bytes(data))
        raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")


class QueueingTransport:
    """An asyncio datagram transport whose socket is full: it queues what it is sent."""

    def __init__(self) -> None:
        self.queued: list[bytes] = []

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def sendto(self, data: bytes, addr: Any = None, /) -> None:
        self.queued.append(data)

    def get_write_buffer_size(self) -> int:
        return sum(map(len, self.queued))


@asynccontextmanager
async def _pair(
    sock_type: type[RecordingSocket] = RecordingSocket,
) -> AsyncIterator[tuple[SegmentedSender, RecordingSocket, trio.socket.SocketType]]:
    """A sender on an asyncio transport's socket (through ``sock_type``), writing to
    a receiving socket on loopback."""
    receiver = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    await receiver.bind(("127.0.0.1", 0))
    async with trio_asyncio.open_loop() as loop:
        endpoint = trio_asyncio.aio_as_trio(loop.create_datagram_endpoint, loop=loop)
        transport: asyncio.DatagramTransport
        transport, _ = await endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
        sock = sock_type(os.dup(transport.get_extra_info("socket").fileno()))
        sender = SegmentedSender(transport, receiver.getsockname(), sock)  # type: ignore[arg-type]
        try:
            yield sender, sock, receiver
        finally:
            sender.close()
            transport.close()
            receiver.close()


async def _received(receiver: trio.socket.SocketType, count: int) -> list[bytes]:
    with trio.fail_after(10):
        return [await receiver.recv(65536) for _ in range(count)]


def _segment(size: int) -> list[tuple[int, int, bytes]]:
    return [(SOL_UDP, UDP_SEGMENT, struct.pack("=H", size))]


def test_runs_are_one_size_a_shorter_one_ending_each_within_the_kernels_limits() -> None:
    # aiortc's FU-A fragments of a NAL unit: the first few one byte longer.
    sizes = [1006, 1115, 1115, 1114, 1114, 300, 300]
    assert [[len(d) for d in run] for run in runs([bytes(n) for n in sizes])] == [
        [1006],
        [1115, 1115, 1114],
        [1114, 300],
        [300],
    ]
    assert [len(run) for run in runs([bytes(1000)] * 130)] == [MAX_SEGMENTS, MAX_SEGMENTS, 2]
    per_call = MAX_BYTES // 1400
    assert [len(run) for run in runs([bytes(1400)] * 60)] == [per_call, 60 - per_call]
    assert list(runs([])) == []


async def test_a_frame_of_equal_packets_leaves_in_one_sendmsg_as_the_same_datagrams() -> None:
    frame = [bytes([i]) * 1200 for i in range(11)] + [b"z" * 500]
    async with _pair() as (sender, sock, receiver):
        sender.send(frame)
        assert sock.calls == [_segment(1200)]
        assert await _received(receiver, len(frame)) == frame
        # A lone datagram (an Opus packet, a frame's STAP-A) is a plain sendto on
        # the sender's socket; runs of other sizes each have their call.
        sender.send([b"opus"])
        mixed = [b"a" * 1006, b"b" * 1115, b"c" * 1115, b"d" * 1114, b"e" * 1114]
        sender.send(mixed)
        assert sock.calls == [_segment(1200), _segment(1115)]
        assert sock.lone == [b"opus", b"a" * 1006, b"e" * 1114]
        assert await _received(receiver, 1 + len(mixed)) == [b"opus", *mixed]
        # Past the kernel's 64 segments: two calls, every datagram in order.
        many = [i.to_bytes(2, "big") * 300 for i in range(100)]
        sender.send(many)
        assert sock.calls[2:] == [_segment(600), _segment(600)]
        assert await _received(receiver, len(many)) == many
        assert sender.segments


async def test_a_kernel_that_refuses_segmentation_gets_one_datagram_a_call_for_good(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="trioflix.live.webrtc.udp_gso")
    frame = [bytes([i]) * 1000 for i in range(8)]
    async with _pair() as (sender, sock, receiver):
        # Without UDP checksums the kernel refuses UDP_SEGMENT (EINVAL), as one
        # without GSO does.
        sock.setsockopt(socket.SOL_SOCKET, SO_NO_CHECK, 1)
        sender.send(frame)
        assert await _received(receiver, len(frame)) == frame
        assert not sender.segments
        sender.send(frame[::-1])
        assert await _received(receiver, len(frame)) == frame[::-1]
        assert sock.calls == [_segment(1000)]  # tried once
        assert [r.getMessage() for r in caplog.records] == [
            "UDP segmentation refused: sending WebRTC datagrams one by one"
        ]


async def test_a_full_socket_buffer_sends_that_run_through_the_transport_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="trioflix.live.webrtc.udp_gso")
    frame = [bytes([i]) * 1000 for i in range(8)]
    async with _pair(FullBufferSocket) as (sender, sock, receiver):
        sender.send(frame)
        # The transport sends them (or queues them, if its socket is full too).
        assert await _received(receiver, len(frame)) == frame
        sender.send(frame)
        assert await _received(receiver, len(frame)) == frame
        assert sock.calls == [_segment(1000), _segment(1000)]
        # A lone datagram the socket does not take goes to the transport too.
        sender.send([b"opus"])
        assert await _received(receiver, 1) == [b"opus"]
        assert sock.lone == [b"opus"]
        assert sender.segments
        assert caplog.records == []


async def test_what_the_transport_holds_is_the_backlog_and_nothing_overtakes_it() -> None:
    transport = QueueingTransport()
    address = ("127.0.0.1", 9)
    sock = RecordingSocket(socket.socket(socket.AF_INET, socket.SOCK_DGRAM).detach())
    sender = SegmentedSender(transport, address, sock)
    try:
        transport.sendto(b"queued before")
        frame = [bytes([i]) * 1000 for i in range(4)]
        sender.send(frame)
        # Behind what the transport holds: every datagram to it, none on the socket.
        assert transport.queued == [b"queued before", *frame]
        assert (sock.calls, sock.lone) == ([], [])
        assert sender.backlog == len(b"queued before") + 4000
    finally:
        sender.close()
    # A TURN relay's transport (no socket of ours): its buffer is not ours to read.
    assert SegmentedSender(transport, address, None).backlog == 0
