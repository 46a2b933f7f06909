"""The edge's pull client against real sockets: both framings an origin answers with,
an answer that ends mid-body, and an origin that cannot be reached."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

import h11
import pytest
import trio

from trioflix.live.edge.pull_client import RECEIVE_BYTES, PullError, open_pull

BODY = bytes(range(256)) * 2048  # 512 KiB: more than one read's buffer

Answer = Callable[[trio.SocketStream, h11.Request], Awaitable[None]]


async def _serve(answer: Answer, stream: trio.SocketStream) -> None:
    conn = h11.Connection(h11.SERVER)
    while (event := conn.next_event()) is h11.NEED_DATA:
        conn.receive_data(await stream.receive_some(65536))
    assert isinstance(event, h11.Request)
    async with stream:
        await answer(stream, event)


async def _origin(nursery: trio.Nursery, answer: Answer) -> str:
    listeners = await nursery.start(partial(trio.serve_tcp, partial(_serve, answer), 0))
    return f"http://127.0.0.1:{listeners[0].socket.getsockname()[1]}/internal/live/a.flv?x=1"


async def _read_all(url: str) -> tuple[int, dict[str, str], bytes]:
    response = await open_pull(url, {"x-trioflix-pull-token": "t"})
    try:
        body = b""
        while data := await response.receive():
            body += data
        return response.status, response.headers, body
    finally:
        await response.aclose()


async def _close_delimited(stream: trio.SocketStream, request: h11.Request) -> None:
    # What the direct route of ``trioflix serve`` answers: the body ends with the
    # connection. The request is echoed in a header, for the test to check.
    head = f"HTTP/1.1 200 OK\r\nx-seen: {request.target.decode()} {dict(request.headers)}\r\n"
    await stream.send_all(head.encode() + b"connection: close\r\n\r\n")
    for start in range(0, len(BODY), 100_000):
        await stream.send_all(BODY[start : start + 100_000])


async def _chunked(stream: trio.SocketStream, request: h11.Request) -> None:
    # What hypercorn answers (a streamed body, no length): chunked.
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
    conn.next_event()
    data = conn.send(h11.Response(status_code=200, headers=[("x-seen", "chunked")]))
    for start in range(0, len(BODY), 100_000):
        data = (data or b"") + (conn.send(h11.Data(data=BODY[start : start + 100_000])) or b"")
    await stream.send_all((data or b"") + (conn.send(h11.EndOfMessage()) or b""))


@pytest.mark.parametrize("answer", [_close_delimited, _chunked])
async def test_the_body_arrives_whole_in_either_framing(
    nursery: trio.Nursery, answer: Answer
) -> None:
    assert len(BODY) > RECEIVE_BYTES
    with trio.fail_after(10):
        status, headers, body = await _read_all(await _origin(nursery, answer))
    assert status == 200
    assert body == BODY
    if answer is _close_delimited:
        assert headers["x-seen"].startswith("/internal/live/a.flv?x=1 ")
        assert "b'x-trioflix-pull-token': b't'" in headers["x-seen"]
        assert "b'host': b'127.0.0.1:" in headers["x-seen"]


async def test_a_body_cut_short_is_an_error(nursery: trio.Nursery) -> None:
    async def cut(stream: trio.SocketStream, request: h11.Request) -> None:
        await stream.send_all(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n12345")

    with trio.fail_after(10), pytest.raises(PullError, match="does not parse"):
        await _read_all(await _origin(nursery, cut))


async def test_a_refusal_is_an_answer_with_its_status(nursery: trio.Nursery) -> None:
    async def refuse(stream: trio.SocketStream, request: h11.Request) -> None:
        await stream.send_all(b'HTTP/1.1 403 Forbidden\r\ncontent-length: 9\r\n\r\n{"e": 1}\n')

    with trio.fail_after(10):
        status, _, body = await _read_all(await _origin(nursery, refuse))
    assert (status, body) == (403, b'{"e": 1}\n')


async def test_an_origin_that_cannot_be_reached_is_an_error() -> None:
    with trio.socket.socket() as unused:
        await unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # bound, not listening: refused
        with trio.fail_after(10), pytest.raises(PullError, match="cannot connect"):
            await open_pull(f"http://127.0.0.1:{port}/internal/live/a.flv", {})
