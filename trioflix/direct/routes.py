"""The routes ``trioflix serve`` answers on the socket itself: chat, live FLV, an
edge's internal pull, tus and LL-HLS.

These are the routes whose cost is per write or per read, or whose requests
come many a second from every viewer: a chat message is written to every member
of a room, a live tag to every viewer and to every edge that pulls the channel,
an upload arrives in thousands of socket reads, an LL-HLS player asks for a
playlist and a part every few hundred milliseconds. Through ASGI, each of those
passes Quart, hypercorn's stream, h11 or wsproto, and a lock or a queue with its
cancel scopes; here it is one system call (docs/benchmarks.md has the figures).
The work itself is shared with the ASGI versions of the same routes
(:mod:`trioflix.api.chat`, :mod:`trioflix.api.playback`,
:mod:`trioflix.api.uploads`, :mod:`trioflix.api.ll_hls`), which serve under
plain hypercorn; only the transport differs.

A route declines (returns ``None`` from :meth:`DirectRoutes.route_for`) whatever
it would answer with an error, such as a channel that is not live or a pull
token that is refused: hypercorn and Quart then give the same answer they
always give. LL-HLS is the exception: its errors (a bad ``_HLS_msn``, a blocking
reload that timed out) are part of playing, and their JSON is
:func:`trioflix.errors.error_body`'s on both paths.
"""

from __future__ import annotations

import os
import time
from functools import partial
from typing import TYPE_CHECKING

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import Request
from wsproto.utilities import RemoteProtocolError

from trioflix.access import record_request
from trioflix.chat.session import serve_connection
from trioflix.cluster.pull_auth import PullTokenRejected
from trioflix.direct.front import client_address, send_all
from trioflix.direct.ll_hls import ll_hls_target, serve_ll_hls
from trioflix.direct.tus import serve_tus_request, tus_target
from trioflix.direct.websocket import DirectWebsocket
from trioflix.live.channel.fanout import Transport
from trioflix.live.channel.packets import flv_bytes, flv_stream_header
from trioflix.live.channel.tracks import TrackNotFound, requested_track
from trioflix.live.channel.viewer_lifecycle import watching
from trioflix.live.edge.pull import PULL_TOKEN_HEADER, session_headers
from trioflix.live.edge.pull_source import end_when_not_pullable, pullable, serving_pull
from trioflix.logs import new_request_id

if TYPE_CHECKING:
    from types import TracebackType

    from trioflix.direct.front import DirectRoute, Head
    from trioflix.direct.ll_hls import LLTarget
    from trioflix.live.channel.fanout import Subscriber
    from trioflix.live.channel.stream import LiveStream
    from trioflix.state import AppState

__all__ = ["DirectRoutes"]

CLOSE_TIMEOUT_S = 2.0
GOODBYE_TIMEOUT_S = 1.0  # at shutdown, how long a websocket's 1001 may take
GOING_AWAY = 1001
CONTROL_MESSAGE_BYTES = 64 * 1024  # WS-FLV viewers send nothing that matters
DISCARD_BYTES = 4096

FLV_ROUTE = "/live/<channel>.flv"
PULL_ROUTE = "/internal/live/<channel>.flv"


class DirectRoutes:
    """The direct routes of one app, and the connections they hold open."""

    def __init__(self, state: AppState) -> None:
        self.state = state
        self.closing = False
        self._open: set[trio.CancelScope] = set()

    async def route_for(self, head: Head, data: bytes) -> DirectRoute | None:
        """The route that serves this request head (``data``: the bytes read), if any."""
        path = head.path
        if tus_target(path) is not None:
            return partial(self._tus, data)
        if head.method != "GET" or head.has_body:
            return None
        if path.startswith("/live/") and (ll := ll_hls_target(path)) and _plain_get(data):
            return partial(self._ll_hls, ll, data)
        if path.startswith("/ws/chat/"):
            channel = path.removeprefix("/ws/chat/")
            if head.websocket and _is_segment(channel) and (conn := _upgrade(data)):
                return partial(self._chat, channel, conn)
        elif path.startswith("/live/") and path.endswith(".flv"):
            channel = path.removeprefix("/live/").removesuffix(".flv")
            # On an edge this opens the channel's relay (or waits for the one opening):
            # its first viewer is then served here too, not for its whole stay by the
            # ASGI route, whose writes cost several times a direct viewer's.
            live = await self.state.channels.find(channel) if _is_segment(channel) else None
            if live is None:
                return None
            try:
                live = requested_track(live, head.query.get("track"))
            except TrackNotFound:
                return None  # the ASGI route answers with the error
            if not head.websocket:
                return partial(self._http_flv, live)
            if conn := _upgrade(data):
                return partial(self._ws_flv, live, conn)
        elif path.startswith("/internal/live/") and path.endswith(".flv") and not head.websocket:
            channel = path.removeprefix("/internal/live/").removesuffix(".flv")
            return self._pull_route(channel, head) if _is_segment(channel) else None
        return None

    def _pull_route(self, channel: str, head: Head) -> DirectRoute | None:
        """An edge's pull of ``channel``, if the ASGI route would serve it (else its 403
        or 404 comes from there)."""
        token = head.headers.get(PULL_TOKEN_HEADER, "")
        try:
            self.state.pull_tokens.verify(token, channel, time.time())
        except PullTokenRejected:
            return None
        live = pullable(self.state.registry, channel)
        return partial(self._internal_pull, live) if live is not None else None

    def close_all(self) -> None:
        """Shutdown: end every direct connection (websockets get a 1001 first)."""
        self.closing = True
        for scope in self._open:
            scope.cancel()

    def _tracked(self) -> _Tracked:
        return _Tracked(self)

    async def _tus(self, data: bytes, stream: trio.SocketStream, head: Head) -> bytes | None:
        with self._tracked() as scope:
            rest = await serve_tus_request(
                stream, head, data, service=self.state.uploads, app_state=self.state
            )
        return None if scope.cancelled_caught else rest

    async def _ll_hls(
        self, target: LLTarget, data: bytes, stream: trio.SocketStream, head: Head
    ) -> bytes | None:
        with self._tracked() as scope:
            keep_alive = await serve_ll_hls(
                stream, head, target, app_state=self.state, client=self._client(stream, head)
            )
        if scope.cancelled_caught or not keep_alive:
            return None
        return data[data.index(b"\r\n\r\n") + 4 :]  # a pipelined next request's bytes

    async def _chat(
        self, channel: str, conn: WSConnection, stream: trio.SocketStream, head: Head
    ) -> None:
        ws = DirectWebsocket(
            stream, conn, self._client(stream, head), max_message_bytes=self._max_chat_bytes()
        )
        with self._tracked() as scope:
            ws.on_disconnect = scope
            await serve_connection(ws, self.state.chat, self.state.tokens, channel, head.query)
        await self._goodbye(ws, scope)

    async def _ws_flv(
        self, live: LiveStream, conn: WSConnection, stream: trio.SocketStream, head: Head
    ) -> None:
        ws = DirectWebsocket(
            stream, conn, self._client(stream, head), max_message_bytes=CONTROL_MESSAGE_BYTES
        )
        await ws.accept()
        with (
            self._tracked() as scope,
            watching(live, Transport.WS_FLV, ws.remote_addr, self.state.webhooks) as subscriber,
        ):
            ws.on_disconnect = scope
            subscriber.on_too_slow = scope.cancel
            async with trio.open_nursery() as nursery:
                reader = trio.CancelScope()
                nursery.start_soon(_discard_messages, ws, reader)
                await ws.send(flv_stream_header())
                while batch := await subscriber.next_batch():
                    data = flv_bytes(batch)
                    await ws.send(data)
                    live.count_sent(len(data))
                reader.cancel()  # ``close`` reads the peer's answer itself
            with trio.move_on_after(CLOSE_TIMEOUT_S):
                await ws.close(1000, f"{live.channel} went offline")
        await self._goodbye(ws, scope)

    async def _http_flv(self, live: LiveStream, stream: trio.SocketStream, head: Head) -> None:
        request_id = new_request_id(head.headers.get("x-request-id", ""))
        remote = self._client(stream, head)
        response_head = (
            "HTTP/1.1 200 OK\r\n"
            "content-type: video/x-flv\r\n"
            "cache-control: no-cache\r\n"
            "access-control-allow-origin: *\r\n"
            f"x-request-id: {request_id}\r\n"
            "connection: close\r\n"  # the body ends when the connection does
            "\r\n"
        ).encode("latin-1")
        # Logged and counted as the ASGI route logs a streamed response: when it starts.
        record_request(
            self.state.metrics, head.method, head.path, FLV_ROUTE, 200, 0.0, request_id, remote
        )
        with (
            self._tracked() as scope,
            watching(live, Transport.HTTP_FLV, remote, self.state.webhooks) as subscriber,
        ):
            subscriber.on_too_slow = scope.cancel
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_cancel_at_eof, stream, scope)
                await send_all(stream.socket, response_head + flv_stream_header())
                await _send_written_directly(live, stream, subscriber)
                nursery.cancel_scope.cancel()

    async def _internal_pull(self, live: LiveStream, stream: trio.SocketStream, head: Head) -> None:
        request_id = new_request_id(head.headers.get("x-request-id", ""))
        session = "".join(f"{name}: {value}\r\n" for name, value in session_headers(live).items())
        response_head = (
            "HTTP/1.1 200 OK\r\n"
            "content-type: video/x-flv\r\n"
            "cache-control: no-cache\r\n"
            f"{session}"
            f"x-request-id: {request_id}\r\n"
            "connection: close\r\n"  # the body ends when the connection does
            "\r\n"
        ).encode("latin-1")
        record_request(
            self.state.metrics,
            head.method,
            head.path,
            PULL_ROUTE,
            200,
            0.0,
            request_id,
            self._client(stream, head),
        )
        with (
            self._tracked() as scope,
            serving_pull(live, self.state.metrics) as subscriber,
        ):
            # An edge that stops reading is dropped when it falls too far behind,
            # even while this task waits in a write to it that would never finish.
            subscriber.on_too_slow = scope.cancel
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_cancel_at_eof, stream, scope)
                # Until this host stops serving the channel to the site (its origin
                # lease lapsed): the edge then follows the lease, or ends its relay.
                nursery.start_soon(end_when_not_pullable, self.state.registry, live, scope)
                await send_all(stream.socket, response_head + flv_stream_header())
                await _send_written_directly(live, stream, subscriber)
                nursery.cancel_scope.cancel()

    async def _goodbye(self, ws: DirectWebsocket, scope: trio.CancelScope) -> None:
        if self.closing and scope.cancelled_caught:
            with trio.CancelScope(shield=True), trio.move_on_after(GOODBYE_TIMEOUT_S):
                try:
                    await ws.close(GOING_AWAY, "server shutting down")
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    pass

    def _client(self, stream: trio.SocketStream, head: Head) -> str | None:
        return client_address(stream, head, self.state.settings.trusted_proxies)

    def _max_chat_bytes(self) -> int:
        # The session closes on frames longer than this many characters (1009); reading
        # stops at the UTF-8 worst case of that, so that memory stays bounded first.
        return self.state.chat.limits.max_frame_chars * 4 + 4


class _Tracked:
    """The cancel scope of a direct route, which :meth:`DirectRoutes.close_all` cancels
    while it runs. A class, not a generator: LL-HLS enters one per request."""

    __slots__ = ("_routes", "_scope")

    def __init__(self, routes: DirectRoutes) -> None:
        self._routes = routes
        self._scope = trio.CancelScope()

    def __enter__(self) -> trio.CancelScope:
        routes, scope = self._routes, self._scope.__enter__()
        routes._open.add(scope)
        routes.state.direct_connections = len(routes._open)
        if routes.closing:
            scope.cancel()
        return scope

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        routes = self._routes
        routes._open.discard(self._scope)
        routes.state.direct_connections = len(routes._open)
        return self._scope.__exit__(kind, exc, tb)


def _is_segment(text: str) -> bool:
    """What Quart's default ``<name>`` converter matches: one non-empty path segment."""
    return bool(text) and "/" not in text


def _plain_get(data: bytes) -> bool:
    """The request head in ``data`` ends as the front door reads it (so what follows is
    the next request) and names no NUL (``%00``), which the ASGI route answers 404."""
    line, _, _ = data.partition(b"\r\n")
    return b"\r\n\r\n" in data and b"%00" not in line


def _upgrade(data: bytes) -> WSConnection | None:
    """wsproto's view of a websocket upgrade request; ``None`` if it refuses it (then
    hypercorn answers the request, with the error it gives any client)."""
    conn = WSConnection(ConnectionType.SERVER)
    try:
        conn.receive_data(data)
        ready = any(isinstance(event, Request) for event in conn.events())
    except RemoteProtocolError:
        return None
    return conn if ready else None


async def _discard_messages(ws: DirectWebsocket, scope: trio.CancelScope) -> None:
    """Read (and drop) what a WS-FLV viewer sends, so pings get answers and a close is seen."""
    with scope:
        while True:
            await ws.receive()


async def _send_written_directly(
    live: LiveStream, stream: trio.SocketStream, subscriber: Subscriber
) -> None:
    """Send ``subscriber``'s media (an HTTP-FLV viewer's, an edge's pull) until it ends.

    While this task is idle, the publisher's task writes to the socket itself, once
    per read for all such subscribers (:class:`~trioflix.live.channel.fanout.Audience`);
    this task sends only what such a write could not.
    """
    socket = stream.socket

    def write(data: bytes) -> int:
        # The socket is non-blocking (trio's); closed, fileno() is -1: EBADF.
        return os.write(socket.fileno(), data)

    subscriber.attach_writer(write)
    while data := await subscriber.next_bytes():
        await send_all(socket, data)
        live.count_sent(len(data))
        # Not kept while idle: this may be the whole primed GOP, and the task may now
        # stay idle for as long as the viewer watches.
        del data


async def _cancel_at_eof(stream: trio.SocketStream, scope: trio.CancelScope) -> None:
    """An HTTP-FLV viewer sends nothing after its request; EOF (or a reset) means it left."""
    try:
        while await stream.receive_some(DISCARD_BYTES):
            pass
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    scope.cancel()
