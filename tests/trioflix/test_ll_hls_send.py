"""An LL-HLS answer goes out as its head and its body, never joined: every byte
arrives in order however the kernel splits the writes, and a peer that is gone is a
``BrokenResourceError`` as for every other direct write."""

from __future__ import annotations

import os
import socket

import pytest
import trio

from trioflix.direct.ll_hls import send_head_and_body

pytestmark = pytest.mark.backends("sqlite", reason="sockets only; no database")


def _pair() -> tuple[trio.socket.SocketType, trio.socket.SocketType]:
    writer, reader = trio.socket.socketpair()
    writer.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)  # many short writes
    reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    return writer, reader


async def _read_all(sock: trio.socket.SocketType, into: bytearray) -> None:
    while data := await sock.recv(1000):
        into += data


async def _send_and_read(
    writer: trio.socket.SocketType, reader: trio.socket.SocketType, head: bytes, body: bytes
) -> bytearray:
    """Send an answer while the reader reads all of it; what the reader got."""
    got = bytearray()
    with writer, reader:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_read_all, reader, got)
            await send_head_and_body(writer, head, body)
            writer.shutdown(socket.SHUT_WR)
    return got


@pytest.mark.parametrize("head_size", [10, 300_000])  # the head alone outgrows a write too
async def test_head_and_body_arrive_whole_through_short_writes(head_size: int) -> None:
    head = bytes(range(256)) * (head_size // 256) + b"\r\n\r\n"
    body = bytes(reversed(range(256))) * 4000  # about a part of a 6 Mbit/s stream
    writer, reader = _pair()
    assert await _send_and_read(writer, reader, head, body) == head + body


async def test_a_peer_that_is_gone_is_a_broken_resource() -> None:
    writer, reader = _pair()
    reader.close()
    with writer, pytest.raises(trio.BrokenResourceError):
        await send_head_and_body(writer, b"HTTP/1.1 200 OK\r\n\r\n", b"x" * 100_000)


async def test_an_answer_behind_a_full_socket_waits_for_it() -> None:
    writer, reader = _pair()
    queued = bytearray()
    while True:  # fill the socket: the answer's first write takes nothing
        try:
            queued += b"q" * os.write(writer.fileno(), b"q" * 4096)
        except BlockingIOError:
            break
    head, body = b"HTTP/1.1 200 OK\r\n\r\n", b"b" * 100_000
    # The reader starts at the first wait: the answer's first write finds the socket full.
    assert await _send_and_read(writer, reader, head, body) == queued + head + body
