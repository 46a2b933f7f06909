"""The front door of ``trioflix serve``: a connection's first request picks who serves it.

Every new connection's request head is read here (bounded in size and time) and
parsed with httptools, or with h11 when it is not a plain HTTP/1.1 head. A request
for a route in :mod:`trioflix.direct.routes` (a chat websocket, a live channel's
FLV, a tus request, LL-HLS) is served right here, on the socket; anything else,
including anything this module does not fully understand, is handed to hypercorn
with the bytes read so far replayed in front of the stream, so that hypercorn sees
the connection exactly as the client sent it.

A route may give the connection back for its next request (tus and LL-HLS
requests on a kept-alive connection); the next head is then looked at the same
way. Once a connection is hypercorn's it stays hypercorn's: a later request for
a direct route on it is served by the ASGI version of the route, which behaves
the same.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote

import h11
import httptools
import trio

from trioflix.forwarded import resolve

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from trioflix.forwarded import TrustedProxies

    # Serves the request ``Head`` on a connection; returns the bytes read past that
    # request if the connection may carry another one, or None once it is closed.
    DirectRoute = Callable[[trio.SocketStream, "Head"], Awaitable[bytes | None]]

__all__ = [
    "HEAD_LIMIT",
    "Head",
    "client_address",
    "handle_connection",
    "parse_head",
    "parse_head_with_h11",
    "send_all",
]

logger = logging.getLogger(__name__)

HEAD_LIMIT = 16 * 1024  # h11's own limit for a request head
READ_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Head:
    """The parts of a request head the direct routes look at."""

    method: str
    path: str  # percent-decoded, as Quart's router sees it
    query: dict[str, str]  # the first value of each name, as ``request.args.get`` gives
    headers: dict[str, str]  # lower-case names; a repeated name keeps its last value
    header_pairs: tuple[tuple[bytes, bytes], ...]  # every field in order, as ASGI has them
    websocket: bool  # asks for a websocket upgrade
    has_body: bool


_BODY_FRAMING = frozenset((b"content-length", b"transfer-encoding"))


def parse_head(data: bytes) -> Head | None:
    """The request head at the start of ``data``; ``None`` if it is not one (yet).

    A player's kept-alive connection sends a head every few hundred milliseconds, and a
    new ``h11.Connection`` per head was a fifth of what answering it cost: a plain head
    (HTTP/1.1, CRLF line ends, one ``Host``, no body framing) is read by httptools
    (llhttp, in its strict mode), taken as h11 would take it; any other goes to
    :func:`parse_head_with_h11`, and so does any head httptools refuses.
    """
    end = data.find(b"\r\n\r\n")
    if end < 0 or end > HEAD_LIMIT:
        return parse_head_with_h11(data)
    reading = _HeadReading()
    parser = httptools.HttpRequestParser(reading)
    try:
        parser.feed_data(memoryview(data)[: end + 4])  # the head only: not what follows
    except httptools.HttpParserUpgrade:
        pass  # raised once the head is complete
    except httptools.HttpParserError:
        return parse_head_with_h11(data)
    if not reading.complete or reading.hosts != 1 or reading.framed:
        return parse_head_with_h11(data)  # h11 refuses no Host or several; checks framing
    method = parser.get_method()
    # llhttp takes a request line h11 refuses (several spaces, blank lines before it,
    # other versions): only the one h11 reads is taken here.
    if not data.startswith(b"%s %s HTTP/1.1\r\n" % (method, reading.target)):
        return parse_head_with_h11(data)
    return _head(method, reading.target, reading.fields)


class _HeadReading:
    """What httptools' callbacks say of a head, each field as h11 gives it."""

    __slots__ = ("complete", "fields", "framed", "hosts", "target")

    def __init__(self) -> None:
        self.target = b""
        self.fields: list[tuple[bytes, bytes]] = []
        self.hosts = 0
        self.framed = False
        self.complete = False

    def on_url(self, url: bytes) -> None:
        self.target += url

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        self.hosts += name == b"host"
        self.framed = self.framed or name in _BODY_FRAMING
        # llhttp drops the whitespace before a value, h11 also the whitespace after it.
        self.fields.append((name, value.rstrip(b" \t")))

    def on_headers_complete(self) -> None:
        self.complete = True


def parse_head_with_h11(data: bytes) -> Head | None:
    """:func:`parse_head` by h11, for any head."""
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=HEAD_LIMIT)
    try:
        conn.receive_data(data)
        event = conn.next_event()
    except h11.RemoteProtocolError:
        return None
    if not isinstance(event, h11.Request) or event.http_version != b"1.1":
        return None
    return _head(event.method, event.target, list(event.headers))


def _head(method: bytes, raw_target: bytes, fields: list[tuple[bytes, bytes]]) -> Head:
    headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in fields}
    target = raw_target.decode("ascii", "replace")
    raw_path, _, raw_query = target.partition("?")
    query: dict[str, str] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True, max_num_fields=100):
        query.setdefault(name, value)
    connection = {token.strip().lower() for token in headers.get("connection", "").split(",")}
    return Head(
        method=method.decode("ascii"),
        path=unquote(raw_path),
        query=query,
        headers=headers,
        header_pairs=tuple(fields),
        websocket=headers.get("upgrade", "").lower() == "websocket" and "upgrade" in connection,
        has_body=headers.get("content-length", "0") != "0" or "transfer-encoding" in headers,
    )


def client_address(stream: trio.SocketStream, head: Head, trusted: TrustedProxies) -> str | None:
    """The client's address: the peer's, or behind trusted proxies the one they name
    (what ``request.remote_addr`` is on the ASGI side)."""
    try:
        address = stream.socket.getpeername()
    except OSError:
        return None
    peer = str(address[0]) if isinstance(address, tuple) else None
    return resolve(peer, head.header_pairs, trusted).client


async def read_head(stream: trio.SocketStream, buffered: bytearray) -> None:
    """Read into ``buffered`` until a whole request head has arrived, more than
    :data:`HEAD_LIMIT` bytes have, or EOF."""
    socket = stream.socket
    while b"\r\n\r\n" not in buffered and len(buffered) <= HEAD_LIMIT:
        try:
            # ``stream.receive_some`` without its conflict detector and error
            # translation context, as in :func:`send_all`: one read per request.
            data = await socket.recv(READ_BYTES)
        except OSError as exc:
            raise trio.BrokenResourceError(f"socket connection broken: {exc}") from exc
        if not data:
            return
        buffered += data


async def send_all(socket: trio.socket.SocketType, data: bytes) -> None:
    """``SocketStream.send_all`` for the one task that writes to ``socket``: the same
    system calls and checkpoints, without its per-call conflict detector, error
    translation context and memoryview context (a fifth of a viewer's CPU at 60
    writes a second). Raises ``BrokenResourceError`` when the peer is gone."""
    try:
        sent = await socket.send(data)
        if sent < len(data):
            view = memoryview(data)[sent:]
            while view:
                view = view[await socket.send(view) :]
    except OSError as exc:
        raise trio.BrokenResourceError(f"socket connection broken: {exc}") from exc


async def handle_connection(
    stream: trio.SocketStream,
    hand_over: Callable[[trio.SocketStream, bytes], Awaitable[object]],
    *,
    route_for: Callable[[Head, bytes], Awaitable[DirectRoute | None]],
    head_timeout: float,
) -> None:
    """Serve one new connection: each request directly while it has a direct route,
    else (and from then on) through ``hand_over`` (hypercorn), which replays the
    bytes read so far in front of the stream."""
    async with stream:
        buffered: bytes | None = b""
        while buffered is not None:
            # One scope waits for the connection's heads, with a deadline while a head is
            # awaited and none while one is served: an LL-HLS player sends eight heads a
            # second, and a scope of its own for each was a tenth of what the front door
            # spent on it. A deadline that passes spends the scope: what was read by then
            # is served (or handed over) outside it, as it was read, and the next head
            # gets a new scope.
            received = bytearray()
            with trio.CancelScope() as waiting:
                while buffered is not None:
                    received = bytearray(buffered)
                    waiting.deadline = trio.current_time() + head_timeout
                    await _read_head_until_closed(stream, received)
                    waiting.deadline = math.inf
                    if waiting.cancel_called:
                        break  # it passed just as the head came (the read's last checkpoint)
                    buffered = await _serve(stream, bytes(received), hand_over, route_for)
            if waiting.cancel_called:
                buffered = await _serve(stream, bytes(received), hand_over, route_for)


async def _read_head_until_closed(stream: trio.SocketStream, received: bytearray) -> None:
    """:func:`read_head`; a connection that breaks meanwhile leaves nothing to serve."""
    try:
        await read_head(stream, received)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        received.clear()


async def _serve(
    stream: trio.SocketStream,
    buffered: bytes,
    hand_over: Callable[[trio.SocketStream, bytes], Awaitable[object]],
    route_for: Callable[[Head, bytes], Awaitable[DirectRoute | None]],
) -> bytes | None:
    """Serve the request at the start of ``buffered`` (all that was read); the bytes read
    past it if the connection may carry another request, else ``None``."""
    if not buffered:
        return None  # the client sent nothing: what hypercorn's idle timeout does
    head = parse_head(buffered)
    route = await route_for(head, buffered) if head is not None else None
    if route is None:
        await hand_over(stream, buffered)
        return None
    assert head is not None
    rest: bytes | None = None
    try:
        rest = await route(stream, head)
    except* (trio.BrokenResourceError, trio.ClosedResourceError):
        pass  # the client went away mid-write (a route's nursery reports it in a group)
    except* Exception:
        # Whatever it is, it ends this connection only: the listener and every other
        # connection go on.
        logger.exception("bug in a direct route; closing its connection")
    return rest
