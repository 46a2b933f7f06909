"""The front door of ``trioflix serve``: direct routes on the socket, everything else to hypercorn.

What must hold: a connection the front does not serve reaches hypercorn exactly as
the client sent it (split heads, pipelined requests, garbage, oversized heads), a
direct route declines what it would refuse (hypercorn and Quart answer), and a
direct connection is cleaned up however it ends, shutdown included.
"""

from __future__ import annotations

import json
import re
import struct
from functools import partial
from typing import TYPE_CHECKING

import httpx
import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st
from trio_websocket import ConnectionClosed, open_websocket_url

from protocols import flv
from tests.trioflix.live.test_rtmp_robustness import AVC_HEADER, KEYFRAME, publishing_client
from trioflix.app import create_app
from trioflix.direct.front import HEAD_LIMIT, parse_head, parse_head_with_h11
from trioflix.direct.websocket import text_frame
from trioflix.live.channel.fanout import Audience, Subscriber
from trioflix.server import serve_app

if TYPE_CHECKING:
    from trio_websocket import WebSocketConnection

    from tests.conftest import Server
    from trioflix.config import Settings

pytestmark = pytest.mark.backends(
    "sqlite",
    reason="the front's bytes and sockets, whatever stores the sessions; publishing's SQL"
    " runs on both in tests/trioflix/live and live_hls",
)


def head(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode() + b"\r\n"


# -- parse_head: pure ----------------------------------------------------------------------


def test_parse_head_reads_what_routing_needs() -> None:
    parsed = parse_head(
        head(
            "GET /ws/chat/al%69ce?token=a&since=5&token=b HTTP/1.1\n"
            "Host: x\nUpgrade: WebSocket\nConnection: keep-alive, Upgrade\n"
        )
    )
    assert parsed is not None
    assert parsed.method == "GET" and parsed.path == "/ws/chat/alice"
    assert parsed.query == {"token": "a", "since": "5"}  # the first value, as Quart's args.get
    assert parsed.websocket and not parsed.has_body


@pytest.mark.parametrize(
    "data",
    [
        head("GET /live/a.flv HTTP/1.0\nHost: x\n"),  # HTTP/1.0: hypercorn's
        b"GET /live/a.flv HTTP/1.1\r\nHost: x\r\n",  # not a whole head yet
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40,  # a TLS hello
        b"BREW /pot HTCPCP/1.0\r\n\r\n",
        head("GET /live/a.flv HTTP/1.1\n"),  # no Host: h11 refuses HTTP/1.1 without it
    ],
    ids=["http-1.0", "incomplete", "tls", "not-http", "no-host"],
)
def test_parse_head_declines_what_it_does_not_fully_understand(data: bytes) -> None:
    assert parse_head(data) is None


def test_parse_head_notices_bodies_and_plain_requests() -> None:
    posted = parse_head(head("POST /live/a.flv HTTP/1.1\nHost: x\nContent-Length: 3\n"))
    chunked = parse_head(head("GET /live/a.flv HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\n"))
    plain = parse_head(head("GET /live/a.flv HTTP/1.1\nHost: x\nUpgrade: websocket\n"))
    assert posted is not None and posted.has_body
    assert chunked is not None and chunked.has_body
    assert plain is not None and not plain.websocket  # Upgrade without Connection: upgrade


# Pieces of request heads: plain ones, and each thing the plain reading leaves to h11
# (folding, bare LF, odd bytes and spaces, body framing, Host missing or repeated),
# including what llhttp takes and h11 does not (extra spaces in the request line, a
# blank line before it, a value's trailing whitespace) or the other way round.
REQUEST_LINES = [
    b"GET /live/a/source/ll.m3u8?vs=abcdefgh&_HLS_msn=3&_HLS_part=1 HTTP/1.1",
    b"GET /live/a/source/ll-1-3.2.m4s HTTP/1.1",
    b"PATCH /api/upload/video/tus/x HTTP/1.1",
    b"CONNECT example.com:443 HTTP/1.1",
    b"GET * HTTP/1.1",
    b"GET /a#b HTTP/1.1",
    b"GET a HTTP/1.1",
    b"GET /%00x HTTP/1.1",
    b"GET /a HTTP/1.0",
    b"GET /a HTTP/2.0",
    b"GET / HTTP/0.9",
    b"GET /a",
    b"GET  /a HTTP/1.1",
    b"GET /a  HTTP/1.1",
    b"GET /a HTTP/1.1 ",
    b"\r\nGET /a HTTP/1.1",
    b"GET /a\xff HTTP/1.1",
    b"G(T /a HTTP/1.1",
    b"",
]
FIELD_LINES = [
    b"Host: x",
    b"host:x",
    b"HOST: \tx \t",
    b"User-Agent: hls.js \x80\xff",
    b"Accept: */*",
    b"X-Empty:",
    b"X-Empty:  \t ",
    b"X-Tab:\ta\tb \t",
    b"Connection: close",
    b"Connection: keep-alive, Upgrade",
    b"Upgrade: websocket",
    b"Content-Length: 0",
    b"Content-Length: 3",
    b"Content-Length: 3, 4",
    b"Transfer-Encoding: chunked",
    b"Transfer-Encoding: gzip",
    b" folded",
    b"\tfolded",
    b"Bad Name: x",
    b"Host : x",
    b"X-Nul: a\x00b",
    b"X-Cr: a\rb",
    b"X-Vt: a\x0bb",
    b"X-Del: a\x7fb",
    b"X-Lf: a\nb",
    b": no name",
    b"no colon",
]


@given(
    request_line=st.sampled_from(REQUEST_LINES),
    fields=st.lists(st.sampled_from(FIELD_LINES), max_size=6),
    line_end=st.sampled_from([b"\r\n", b"\n"]),
    rest=st.sampled_from([b"", b"GET /next HTTP/1.1\r\n", b"\r\n", b"abc"]),
)
def test_parse_head_reads_every_head_as_h11_does(
    request_line: bytes, fields: list[bytes], line_end: bytes, rest: bytes
) -> None:
    data = line_end.join([request_line, *fields, b"", b""]) + rest
    assert parse_head(data) == parse_head_with_h11(data)


def long_head(size: int) -> bytes:
    return b"GET /a HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * size + b"\r\n"


@pytest.mark.parametrize(
    "data",
    [
        long_head(HEAD_LIMIT - 100) + b"\r\n",
        long_head(HEAD_LIMIT + 100) + b"\r\n",
        long_head(HEAD_LIMIT + 100),
    ],
    ids=["within-the-limit", "past-the-limit", "past-the-limit-incomplete"],
)
def test_parse_head_reads_long_heads_as_h11_does(data: bytes) -> None:
    assert parse_head(data) == parse_head_with_h11(data)


@given(st.binary(max_size=300))
def test_parse_head_reads_any_bytes_as_h11_does(data: bytes) -> None:
    assert parse_head(data) == parse_head_with_h11(data)
    head = b"GET /a HTTP/1.1\r\nHost: x\r\n" + data
    assert parse_head(head) == parse_head_with_h11(head)


def test_text_frames_are_encoded_once_and_shared() -> None:
    text = "".join(["shared ", "frame"])  # a fresh string, as a room's fan-out has
    first = text_frame(text)
    assert first[:2] == bytes([0x81, len(text)]) and first[2:] == text.encode()
    assert text_frame(text) is first


# -- hand-over: hypercorn sees the connection as sent --------------------------------------


STATUS_LINE = re.compile(rb"HTTP/1\.1 (\d{3}) ")


async def statuses(server: Server, data: bytes, *, pieces: int = 1, count: int = 1) -> list[int]:
    """Send ``data`` (in ``pieces`` writes, 50 ms apart); the status codes of the first
    ``count`` responses (fewer if the server closes first)."""
    host, port = server.url.removeprefix("http://").split(":")
    received = b""
    async with await trio.open_tcp_stream(host, int(port)) as stream:
        step = -(-len(data) // pieces)
        for start in range(0, len(data), step):
            await stream.send_all(data[start : start + step])
            await trio.sleep(0.05)
        with trio.fail_after(10):
            while len(STATUS_LINE.findall(received)) < count:
                chunk = await stream.receive_some(65536)
                if not chunk:
                    break
                received += chunk
    return [int(code) for code in STATUS_LINE.findall(received)]


async def test_a_head_split_into_pieces_reaches_hypercorn_whole(server: Server) -> None:
    data = head("GET /healthz HTTP/1.1\nHost: x\n")
    assert await statuses(server, data, pieces=5) == [200]


async def test_pipelined_requests_after_the_first_are_replayed(server: Server) -> None:
    first = head("GET /healthz HTTP/1.1\nHost: x\n")
    second = head("GET /nowhere HTTP/1.1\nHost: x\n")
    assert await statuses(server, first + second, count=2) == [200, 404]


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"this is not http\r\n\r\n", 400),
        # Longer than the front reads: hypercorn gets all of it, and answers.
        (head("GET /healthz HTTP/1.1\nHost: x\nX-Big: " + "a" * HEAD_LIMIT + "\n"), 200),
    ],
    ids=["garbage", "oversized-head"],
)
async def test_what_the_front_does_not_take_reaches_hypercorn_intact(
    server: Server, data: bytes, status: int
) -> None:
    assert await statuses(server, data) == [status]


async def test_a_silent_connection_is_closed(server: Server) -> None:
    host, port = server.url.removeprefix("http://").split(":")
    stream = await trio.open_tcp_stream(host, int(port))
    async with stream:
        with trio.fail_after(10):  # hypercorn's keep-alive timeout is 5 s
            assert await stream.receive_some(100) == b""


async def test_a_head_cut_short_past_the_timeout_reaches_hypercorn_after_a_direct_request(
    server: Server,
) -> None:
    host, port = server.url.removeprefix("http://").split(":")
    async with await trio.open_tcp_stream(host, int(port)) as stream:
        # A tus OPTIONS is served directly and leaves the connection to the front door.
        await stream.send_all(head("OPTIONS /api/upload/video/tus HTTP/1.1\nHost: x\n"))
        answered = await read_until(stream, b"\r\n\r\n")
        assert answered.startswith(b"HTTP/1.1 204 ")
        # The next head stops halfway for longer than the front door waits for heads
        # (hypercorn's keep-alive timeout, 5 s): what came is handed over, and hypercorn
        # answers once the rest arrives.
        await stream.send_all(b"GET /healthz HTTP/1.1\r\nHo")
        await trio.sleep(6)
        await stream.send_all(b"st: x\r\n\r\n")
        answered = await read_until(stream, b"\r\n\r\n")
    assert answered.startswith(b"HTTP/1.1 200 ")


async def test_channels_that_are_not_live_get_the_apis_404(server: Server) -> None:
    response = await server.client.get("/live/nobody.flv")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_live"


async def test_a_broken_websocket_upgrade_gets_hypercorns_refusal(server: Server) -> None:
    data = head(
        "GET /ws/chat/alice HTTP/1.1\nHost: x\nUpgrade: websocket\nConnection: Upgrade\n"
        "Sec-WebSocket-Version: 13\n"  # no Sec-WebSocket-Key
    )
    assert await statuses(server, data) == [400]


# -- direct HTTP-FLV -----------------------------------------------------------------------


async def read_until(stream: trio.SocketStream, marker: bytes) -> bytes:
    received = b""
    with trio.fail_after(10):
        while marker not in received:
            data = await stream.receive_some(65536)
            assert data, received
            received += data
    return received


async def test_http_flv_on_a_new_connection_is_served_directly(server: Server) -> None:
    client, _ = await publishing_client(server, "alice")
    host, port = server.url.removeprefix("http://").split(":")
    async with await trio.open_tcp_stream(host, int(port)) as stream:
        await stream.send_all(head("GET /live/alice.flv HTTP/1.1\nHost: x\nX-Request-ID: rid-1\n"))
        received = await read_until(stream, b"FLV")
    response_head = received.split(b"\r\n\r\n")[0].decode().lower()
    assert response_head.startswith("http/1.1 200")
    assert "content-type: video/x-flv" in response_head and "connection: close" in response_head
    assert "x-request-id: rid-1" in response_head and "transfer-encoding" not in response_head
    metrics = (await server.client.get("/metrics")).text
    assert 'route="/live/<channel>.flv"' in metrics
    live = server.app.trioflix.registry.get("alice")
    assert live is not None
    with trio.fail_after(5):
        while live.viewers_by_protocol().get("http-flv"):  # noqa: ASYNC110 - no event to wait on
            await trio.sleep(0.02)
    await client.aclose()


async def test_http_flv_on_a_kept_alive_connection_goes_through_asgi(server: Server) -> None:
    client, _ = await publishing_client(server, "alice")
    host, port = server.url.removeprefix("http://").split(":")
    async with await trio.open_tcp_stream(host, int(port)) as stream:
        await stream.send_all(head("GET /healthz HTTP/1.1\nHost: x\n"))
        await read_until(stream, b"\r\n\r\n")
        await stream.send_all(head("GET /live/alice.flv HTTP/1.1\nHost: x\n"))
        received = await read_until(stream, b"FLV")
    assert b"transfer-encoding: chunked" in received.lower()  # hypercorn's framing
    await client.aclose()


async def test_an_http_flv_viewer_that_stops_reading_is_dropped(server: Server) -> None:
    client, stream_id = await publishing_client(server, "alice")
    live = server.app.trioflix.registry.get("alice")
    assert live is not None
    host, port = server.url.removeprefix("http://").split(":")
    sock = trio.socket.socket()
    sock.setsockopt(trio.socket.SOL_SOCKET, trio.socket.SO_RCVBUF, 4096)
    await sock.connect((host, int(port)))
    async with trio.SocketStream(sock) as stream:
        await stream.send_all(head("GET /live/alice.flv HTTP/1.1\nHost: x\n"))
        await read_until(stream, b"FLV")
        assert live.viewers_by_protocol()["http-flv"] == 1
        assert server.app.trioflix.direct_connections == 1
        keyframe = b"\x17\x01\x00\x00\x00" + bytes(256 * 1024)
        timestamp = 40
        with trio.fail_after(30):
            # The publisher is never held up: each send goes through while the viewer lags.
            while live.viewers_by_protocol().get("http-flv"):
                await client.send_video(stream_id, timestamp, keyframe)
                timestamp += 40
        # Its connection is closed while it still reads nothing (its write was cut
        # short, not left waiting for a reader that may never come back)...
        with trio.fail_after(5):
            while server.app.trioflix.direct_connections:  # noqa: ASYNC110 - nothing to wait on
                await trio.sleep(0.02)
        # ...and what had been sent is followed by EOF.
        with trio.fail_after(10):
            while await stream.receive_some(1 << 20):
                pass
    assert timestamp > 40
    await client.aclose()


# Each publisher read as it arrives: a flush per tag, the finest interleaving of the
# two write paths (on the read clock a flush carries several tags).
@pytest.mark.settings(rtmp_read_interval_ms=0)
async def test_an_http_flv_viewer_gets_every_tag_in_order_through_slow_and_fast_reads(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both ways bytes reach a viewer must be exercised: written from the publisher's
    # task while the viewer is idle, and sent by its own task after a write fell short.
    direct_bytes: list[int] = []
    task_sends: list[int] = []
    flush, next_bytes = Audience.flush, Subscriber.next_bytes

    def counting_flush(self: Audience) -> int:
        sent = flush(self)
        if sent:
            direct_bytes.append(sent)
        return sent

    async def counting_next_bytes(self: Subscriber) -> bytes:
        data = await next_bytes(self)
        task_sends.append(len(data))
        return data

    monkeypatch.setattr(Audience, "flush", counting_flush)
    monkeypatch.setattr(Subscriber, "next_bytes", counting_next_bytes)

    client, stream_id = await publishing_client(server, "alice")
    host, port = server.url.removeprefix("http://").split(":")
    payloads = [
        b"\x27\x01\x00\x00\x00" + i.to_bytes(4, "big") * (250 + (i * 997) % 3000)
        for i in range(600)
    ]
    expected = [(9, 0, AVC_HEADER), (9, 0, KEYFRAME)] + [
        (9, 40 + 10 * i, payload) for i, payload in enumerate(payloads)
    ]
    slow = False
    tags: list[tuple[int, int, bytes]] = []

    async def publish() -> None:
        nonlocal slow
        for i, payload in enumerate(payloads):
            slow = 100 <= i < 350  # fast, then slow (its socket fills up), then fast again
            await client.send_video(stream_id, 40 + 10 * i, payload)
            await trio.sleep(0.002)
        slow = False

    sock = trio.socket.socket()
    sock.setsockopt(trio.socket.SOL_SOCKET, trio.socket.SO_RCVBUF, 4096)
    await sock.connect((host, int(port)))
    reader = flv.FLVReader()
    async with trio.SocketStream(sock) as stream, trio.open_nursery() as nursery:
        await stream.send_all(head("GET /live/alice.flv HTTP/1.1\nHost: x\n"))
        received = await read_until(stream, b"\r\n\r\n")
        reader.receive_data(received.split(b"\r\n\r\n", 1)[1])
        nursery.start_soon(publish)
        with trio.fail_after(30):
            while len(tags) < len(expected):
                while (event := reader.next_event()) is not flv.NEED_DATA:
                    if isinstance(event, flv.FLVTag):
                        tags.append((event.tag_type, event.timestamp_ms, event.data))
                if len(tags) >= len(expected):
                    break
                if slow:
                    await trio.sleep(0.005)
                data = await stream.receive_some(4096 if slow else 1 << 20)
                assert data, "the server closed the connection"
                reader.receive_data(data)
    assert [tag[:2] for tag in tags] == [tag[:2] for tag in expected]
    assert tags == expected  # every byte, in order: nothing lost, nothing written twice
    assert len(direct_bytes) > 100  # most tags went out from the publisher's task
    assert len([n for n in task_sends if n]) > 1  # the primed queue, then at least one rest
    await client.aclose()


UPGRADE = (
    "Upgrade: websocket\nConnection: Upgrade\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\nSec-WebSocket-Version: 13\n"
)


@pytest.mark.parametrize("kind", ["http-flv", "ws-flv"])
async def test_viewers_that_reset_mid_write_leave_everyone_else_served(
    server: Server, kind: str
) -> None:
    client, stream_id = await publishing_client(server, "alice")
    host, port = server.url.removeprefix("http://").split(":")
    request = head(
        "GET /live/alice.flv HTTP/1.1\nHost: x\n" + (UPGRADE if kind == "ws-flv" else "")
    )
    keyframe = b"\x17\x01\x00\x00\x00" + bytes(64 * 1024)
    timestamp = 40
    for _ in range(5):
        sock = trio.socket.socket()
        sock.setsockopt(trio.socket.SOL_SOCKET, trio.socket.SO_RCVBUF, 4096)
        await sock.connect((host, int(port)))
        stream = trio.SocketStream(sock)
        await stream.send_all(request)
        await read_until(stream, b"\r\n\r\n")
        for _ in range(10):  # the server is writing, and blocked, when the reset comes
            await client.send_video(stream_id, timestamp, keyframe)
            timestamp += 40
        sock.setsockopt(trio.socket.SOL_SOCKET, trio.socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()  # RST, not FIN
        await client.send_video(stream_id, timestamp, keyframe)
    with trio.fail_after(5):
        while server.app.trioflix.direct_connections:  # noqa: ASYNC110 - nothing to wait on
            await trio.sleep(0.02)
    assert (await server.client.get("/healthz")).status_code == 200
    async with await trio.open_tcp_stream(host, int(port)) as stream:
        await stream.send_all(head("GET /live/alice.flv HTTP/1.1\nHost: x\n"))
        assert b"FLV" in await read_until(stream, b"FLV")
    await client.aclose()


# -- shutdown ------------------------------------------------------------------------------


async def drain(ws: WebSocketConnection) -> None:
    while True:
        await ws.get_message()


async def test_shutdown_says_going_away_to_chat_clients(settings: Settings) -> None:
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(
            partial(serve_app, settings, app=create_app(settings), shutdown_trigger=stop.wait)
        )
        async with httpx.AsyncClient(base_url=binds[0]) as client:
            registered = await client.post(
                "/api/auth/register", json={"username": "alice", "password": "correct horse"}
            )
            assert registered.status_code == 201
        url = binds[0].replace("http://", "ws://") + "/ws/chat/alice"
        async with open_websocket_url(url) as ws:
            assert json.loads(await ws.get_message())["type"] == "welcome"
            stop.set()
            try:
                with trio.fail_after(5), pytest.raises(ConnectionClosed) as closed:
                    await drain(ws)
            finally:
                # trio-websocket 0.12 leaves its TCP stream open when the server
                # completes the close handshake first; close it ourselves.
                await trio.aclose_forcefully(ws._stream)
    reason = closed.value.reason
    assert reason is not None and reason.code == 1001


# -- hostile websocket peers ---------------------------------------------------------------


async def raw_chat_socket(server: Server) -> tuple[trio.SocketStream, bytes]:
    """A chat websocket opened by hand: the stream, and what arrived up to the welcome."""
    host, port = server.url.removeprefix("http://").split(":")
    stream = await trio.open_tcp_stream(host, int(port))
    await stream.send_all(head("GET /ws/chat/alice HTTP/1.1\nHost: x\n" + UPGRADE))
    return stream, await read_until(stream, b"welcome")


def close_frame_code(data: bytes) -> int | None:
    """The status code of the first close frame in ``data`` (unmasked server frames)."""
    at = 0
    while at + 2 <= len(data):
        opcode, length = data[at] & 0x0F, data[at + 1] & 0x7F
        at += 2
        if length == 126:
            length, at = int.from_bytes(data[at : at + 2], "big"), at + 2
        elif length == 127:
            length, at = int.from_bytes(data[at : at + 8], "big"), at + 8
        if opcode == 0x8:
            return int.from_bytes(data[at : at + 2], "big")
        at += length
    return None


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (b"\x81\x05hello", 1002),  # a client frame must be masked
        (b"\x81\x82\x00\x00\x00\x00\xff\xfe", 1007),  # masked, but not UTF-8
        # Announces 1 MiB (over the chat's frame limit): closed before it is read.
        (b"\x82\xff" + (1 << 20).to_bytes(8, "big") + b"\x00\x00\x00\x00", 1009),
    ],
    ids=["unmasked", "bad-utf8", "too-big"],
)
async def test_a_hostile_chat_frame_closes_that_socket_only(
    server: Server, frame: bytes, code: int
) -> None:
    await server.register("alice")
    room_members = server.app.trioflix.chat
    stream, _ = await raw_chat_socket(server)
    async with stream:
        other, _ = await raw_chat_socket(server)
        async with other:
            await stream.send_all(frame + bytes(64 * 1024 if code == 1009 else 0))
            received = b""
            with trio.fail_after(10):
                while close_frame_code(received) is None:
                    data = await stream.receive_some(65536)
                    if not data:
                        break
                    received += data
            assert close_frame_code(received) == code
            with trio.fail_after(5):
                while len(room_members.rooms["alice"].members) > 1:  # noqa: ASYNC110
                    await trio.sleep(0.02)
            await other.send_all(b"\x89\x80\x00\x00\x00\x00")  # a ping: the other is served
            assert b"\x8a\x00" in await read_until(other, b"\x8a\x00")
