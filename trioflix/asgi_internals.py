"""Every use of hypercorn's and quart-trio's internals, in one module.

``trioflix serve`` needs five things neither project offers as API: a front
door before hypercorn's connection handler (hypercorn has no per-connection
hook), request trailers in the ASGI scope (ASGI has no message for them),
interim (1xx) responses of the app's choosing (ASGI has none; hypercorn sends
only 103 Early Hints, and only on HTTP/2 and HTTP/3), HTTP/2 connections that
survive a request answered before its content arrived (hypercorn's fail), and
request bodies with backpressure (Quart buffers a body without limit). Each
needs hypercorn's or quart-trio's private classes and attributes. They are all
used here, and only here, behind names that say what trioflix needs of them;
the rest of trioflix uses only the public ``hypercorn.config.Config``,
``hypercorn.typing`` and ``quart_trio.QuartTrio``.

What this module relies on, in hypercorn 0.18.0 and quart-trio 0.12.0 (pinned
in pyproject.toml) and h2 4 (hypercorn's HTTP/2). ``tests/trioflix/test_asgi_internals.py``
checks each item against the installed versions; when a check fails, or when
either project is upgraded, compare the upstream function named with the code
here. :func:`serve_with_front_door` also refuses to start with another
hypercorn than the one this was written for (:func:`check_hypercorn`), so an
upgrade that skipped those tests fails at start, not on some later request.

hypercorn

1. ``hypercorn.trio.run.worker_serve``: :func:`serve_with_front_door` is a copy
   of it (and of ``hypercorn.trio.serve``, which wraps the app for it) in which
   each accepted connection goes to the front door first, since the handler it
   gives ``trio.serve_listeners`` is fixed. The copy uses the same pieces with
   the same signatures: ``hypercorn.utils.wrap_app``,
   ``hypercorn.trio.lifespan.Lifespan`` (``handle_lifespan``,
   ``wait_for_startup``, ``wait_for_shutdown``),
   ``hypercorn.trio.worker_context.WorkerContext`` (``terminated``, which
   hypercorn's idle connections wait on to close at shutdown),
   ``hypercorn.utils.raise_shutdown``, ``ShutdownError``, ``repr_socket_addr``,
   ``Config.create_sockets`` and ``Config.set_statsd_logger_class``. It leaves
   out what ``trioflix serve`` does not offer (TLS and QUIC listeners,
   ``max_requests``) and refuses a config that asks for it
   (:func:`unsupported_settings`), where hypercorn's own worker would honour it.
2. ``hypercorn.trio.tcp_server.TCPServer.run``, given the connection the front
   door hands over:

   - it takes a stream without ``do_handshake`` (``AttributeError``) for plain
     TCP, reads the peer's and its own address from ``stream.socket``, and
     ends with ``send_eof`` and ``aclose``: :class:`PrefixedStream` is exactly
     that;
   - it assigns ``self.protocol = ProtocolWrapper(...)`` before it feeds the
     connection's first byte: :class:`TrailerKeepingTCPServer` intercepts that
     assignment (a property) to put :class:`_ExtendedProtocolWrapper` in its place.
3. ``hypercorn.protocol.ProtocolWrapper.__init__``: it keeps its arguments as
   attributes of the same names (``app``, ``config``, ``context``,
   ``task_group``, ``state``, ``ssl``, ``client``, ``server``, ``send``) and
   assigns ``self.protocol`` an ``H11Protocol`` for HTTP/1.1;
   ``ProtocolWrapper.handle`` assigns ``self.protocol`` an ``H2Protocol`` built
   from those attributes (prior knowledge or an h2c upgrade) before it calls
   its ``initiate``: :class:`_ExtendedProtocolWrapper` intercepts both
   assignments (a property). ``hypercorn.protocol.h11.H11Protocol.__init__``:
   ``connection`` is a fresh ``h11.Connection`` built with
   ``config.h11_max_incomplete_size``, ``stream`` is ``None`` until a request
   head arrives, then an ``HTTPStream`` (a ``WSStream`` for a websocket).
   ``H11Protocol._handle_events`` gets every event from
   ``connection.next_event()`` and hands ``EndOfMessage`` to the stream as
   the body's end after that call returns.
4. ``hypercorn.protocol.http_stream.HTTPStream.handle``: ``scope`` is the
   dict the app gets, and ``scope["extensions"]`` a dict in it; its
   ``scope["state"]`` is a copy of the ``connection_state`` dict the
   ``H11Protocol`` was built with (so an entry put there before the first
   request is in every request's scope), and ``H11Protocol.send`` writes a
   ``RawData`` event to the connection (:class:`TrailerKeepingTCPServer` sends
   interim responses with it).
5. ``hypercorn.protocol.h2.H2Protocol``, subclassed by :class:`_ExtendedH2Protocol`:
   ``_create_stream(request)`` passes ``connection_state`` to the stream's
   ``Request`` (copied into the scope, item 4); ``stream_send`` sends an
   ``InformationalResponse`` as a HEADERS frame on its stream (and drops it
   on h2's ``ProtocolError``, as after the final response);
   ``_handle_events(events)`` looks ``DataReceived`` up in ``streams``
   (``KeyError`` once the stream's app is done), which holds the streams whose
   app runs; ``_close_stream(stream_id)`` runs when the app is done (and at a
   reset or the connection's end, ``closed`` then); ``_send_data(stream_id)``
   ends the response's stream; ``_flush`` sends what ``connection`` (an
   ``h2.connection.H2Connection``) has queued. Of h2: ``H2Connection.streams``
   and ``H2Stream.state_machine.state`` (``h2.stream.StreamState``), and
   ``reset_stream`` / ``acknowledge_received_data``.

quart-trio (and the Quart classes it extends)

6. ``quart_trio.wrappers.request.TrioBody.__init__``: the private
   ``_complete`` (an event with ``is_set`` and ``wait``), ``_must_raise`` (the
   error the app's next read raises, set by the ASGI side) and
   ``_max_content_length``. ``quart.wrappers.request.Body.set_result`` calls
   ``append`` then ``set_complete``, and ``TrioRequest.get_data`` calls
   ``clear`` when it does not cache: :class:`QuartTrioBody` names the first
   three, and subclasses override the rest.
7. ``quart_trio.asgi.TrioASGIHTTPConnection.__call__``: a subclass replaces it
   and uses ``_create_request_from_scope(send)`` and
   ``_send_response(send, response)`` (:class:`QuartTrioHTTPConnection`).
   ``Quart.asgi_http_class`` and ``Quart.request_class`` are documented
   settings, not internals.
"""

from __future__ import annotations

import weakref
from functools import partial
from importlib.metadata import version
from typing import TYPE_CHECKING, Any, TypeAlias

import h2.events
import h11
import trio
from h2.errors import ErrorCodes
from h2.stream import StreamState
from hypercorn.events import RawData
from hypercorn.protocol import ProtocolWrapper
from hypercorn.protocol.events import InformationalResponse
from hypercorn.protocol.h2 import H2Protocol
from hypercorn.protocol.h11 import H11Protocol
from hypercorn.protocol.http_stream import HTTPStream
from hypercorn.trio.lifespan import Lifespan
from hypercorn.trio.statsd import StatsdLogger
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.typing import ConnectionState, LifespanState
from hypercorn.utils import ShutdownError, raise_shutdown, repr_socket_addr, wrap_app
from quart_trio.asgi import TrioASGIHTTPConnection
from quart_trio.wrappers.request import TrioBody

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from hypercorn.config import Config
    from hypercorn.typing import ASGIFramework, ASGISendCallable
    from quart import Request
    from quart.typing import ResponseTypes

    # Serves one accepted connection; hands it to hypercorn with the bytes it read so far.
    HandOver = Callable[[trio.SocketStream, bytes], Awaitable[None]]
    FrontDoor = Callable[[trio.SocketStream, HandOver], Awaitable[object]]

__all__ = [
    "HYPERCORN_VERSION",
    "INTERIM_RESPONSE",
    "REQUEST_TRAILERS",
    "InterimSender",
    "PrefixedStream",
    "QuartTrioBody",
    "QuartTrioHTTPConnection",
    "TrailerKeepingTCPServer",
    "UnsupportedSettingError",
    "check_hypercorn",
    "interim_sender",
    "request_trailers",
    "serve_with_front_door",
    "unsupported_settings",
]

REQUEST_TRAILERS = "trioflix.request_trailers"


class UnsupportedSettingError(ValueError):
    """A hypercorn setting that :func:`serve_with_front_door` would not apply."""


def unsupported_settings(config: Config) -> list[str]:
    """The settings in ``config`` that :func:`serve_with_front_door` does not apply.

    Each entry names the setting and what to do instead; an empty list means
    the worker honours the whole config, as ``hypercorn.trio.serve`` would.
    """
    unsupported = []
    tls = [name for name in ("certfile", "keyfile", "ca_certs") if getattr(config, name)]
    if tls:
        unsupported.append(
            f"TLS ({', '.join(tls)}): terminate TLS in a reverse proxy in front of trioflix"
        )
    if config.quic_bind:
        unsupported.append("HTTP/3 (quic_bind): needs TLS; a reverse proxy can offer it")
    if config.insecure_bind:
        unsupported.append("insecure_bind (plain HTTP next to TLS binds): put the address in bind")
    if config.max_requests is not None:
        unsupported.append("max_requests: no supervisor starts a fresh worker after it stops")
    if config.workers != 1:
        unsupported.append("workers: one process per host runs the live services")
    return unsupported


async def serve_with_front_door(
    app: ASGIFramework,
    config: Config,
    front_door: FrontDoor,
    *,
    on_stop: Callable[[], object],
    shutdown_trigger: Callable[[], Awaitable[None]],
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` as ``hypercorn.trio.serve`` does, each connection through ``front_door``.

    ``front_door(stream, hand_over)`` serves an accepted connection; it may
    ``await hand_over(stream, read)`` to let hypercorn serve it, with ``read``
    (the bytes it took from the stream) replayed first. hypercorn's HTTP/1.1
    connections keep their request trailers (:class:`TrailerKeepingTCPServer`).

    Args:
        app: The ASGI application.
        config: hypercorn's settings; plain TCP listeners on ``config.bind``.
        front_door: Serves each accepted connection (see above).
        on_stop: Called once the listeners stop, before open connections get
            ``config.graceful_timeout`` to finish: close what the front door
            serves itself.
        shutdown_trigger: Returns when the server should shut down.
        task_status: Started with the bound URLs (``http://HOST:PORT``).

    Raises:
        UnsupportedSettingError: ``config`` sets what this worker does not
            apply (:func:`unsupported_settings`), before anything is bound.
        RuntimeError: Another hypercorn than the one this module extends
            (:func:`check_hypercorn`), before anything is bound.
    """
    check_hypercorn()
    unsupported = unsupported_settings(config)
    if unsupported:
        raise UnsupportedSettingError("trioflix serve does not offer: " + "; ".join(unsupported))
    # From here on, hypercorn.trio.serve and worker_serve (hypercorn 0.18) without the
    # TLS, QUIC and max_requests parts; the connection handler differs (module docstring).
    config.set_statsd_logger_class(StatsdLogger)
    asgi_app = wrap_app(app, config.wsgi_max_body_size, None)
    lifespan_state: LifespanState = {}
    lifespan = Lifespan(asgi_app, config, lifespan_state)
    context = WorkerContext(None)

    async with trio.open_nursery() as lifespan_nursery:
        await lifespan_nursery.start(lifespan.handle_lifespan)
        await lifespan.wait_for_startup()

        async with trio.open_nursery() as server_nursery:
            sockets = config.create_sockets()
            listeners = []
            binds = []
            for sock in sockets.insecure_sockets:
                sock.listen(config.backlog)
                listeners.append(trio.SocketListener(trio.socket.from_stdlib_socket(sock)))
                bind = repr_socket_addr(sock.family, sock.getsockname())
                binds.append(f"http://{bind}")
                await config.log.info(f"Running on http://{bind} (CTRL + C to quit)")

            tcp_server = partial(
                TrailerKeepingTCPServer,
                asgi_app,
                config,
                context,
                ConnectionState(lifespan_state.copy()),
            )

            async def hand_over(stream: trio.SocketStream, read: bytes) -> None:
                # Annotated as an SSLStream, but run() takes any stream (item 2 above).
                await tcp_server(PrefixedStream(stream, read))  # type: ignore[arg-type]

            async def handle(stream: trio.SocketStream) -> None:
                await front_door(stream, hand_over)

            task_status.started(binds)
            try:
                async with trio.open_nursery(strict_exception_groups=True) as nursery:
                    # (No raise_shutdown on context.terminate: only max_requests sets it.)
                    nursery.start_soon(raise_shutdown, shutdown_trigger)
                    nursery.start_soon(
                        partial(
                            trio.serve_listeners,
                            handle,
                            listeners,
                            handler_nursery=server_nursery,
                        )
                    )
                    await trio.sleep_forever()
            except BaseExceptionGroup as error:
                _, other_errors = error.split((ShutdownError, KeyboardInterrupt))
                if other_errors is not None:
                    raise other_errors from None
            finally:
                await context.terminated.set()
                on_stop()
                server_nursery.cancel_scope.deadline = trio.current_time() + config.graceful_timeout

        await lifespan.wait_for_shutdown()
        lifespan_nursery.cancel_scope.cancel()


class PrefixedStream(trio.abc.HalfCloseableStream):
    """``stream`` with ``prefix`` (bytes already read from it) replayed first.

    What hypercorn's ``TCPServer`` is given for a connection it takes over. It
    has ``socket`` (hypercorn reads the addresses from it) and no
    ``do_handshake`` (which hypercorn takes to mean: not TLS).
    """

    def __init__(self, stream: trio.SocketStream, prefix: bytes) -> None:
        self.transport = stream
        self.socket = stream.socket
        self._prefix = prefix

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if self._prefix:
            await trio.lowlevel.checkpoint()
            size = len(self._prefix) if max_bytes is None else max_bytes
            data, self._prefix = self._prefix[:size], self._prefix[size:]
            return data
        return await self.transport.receive_some(max_bytes)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.transport.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.transport.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        await self.transport.send_eof()

    async def aclose(self) -> None:
        await self.transport.aclose()


# -- request trailers ----------------------------------------------------------------------
#
# ASGI has no message for the trailer fields that may follow a chunked request
# body, and hypercorn reads them with h11 and drops them. tus's checksum-trailer
# extension sends ``Upload-Checksum`` that way, so hypercorn's HTTP/1.1
# connections under serve_with_front_door keep them: when a request body ends,
# its trailer fields are put in the request's scope,
#
#     scope["extensions"][REQUEST_TRAILERS] == {"headers": [(name, value), ...]}
#
# (lower-case names, as h11 gives them), before the app receives the body's last
# ``http.request`` message. A scope without the key came over a connection that
# cannot deliver trailers: plain hypercorn, or HTTP/2 (hypercorn ignores h2's
# trailer frames too).


def request_trailers(scope: Mapping[str, Any]) -> list[tuple[bytes, bytes]] | None:
    """The trailer fields of the request whose body has ended; ``None``: not deliverable here."""
    trailers = scope.get("extensions", {}).get(REQUEST_TRAILERS)
    return None if trailers is None else trailers["headers"]


class _TrailerKeepingConnection(h11.Connection):
    """An h11 server connection that hands each request's trailers to its ASGI scope."""

    def __init__(self, protocol: H11Protocol, max_incomplete_event_size: int) -> None:
        super().__init__(h11.SERVER, max_incomplete_event_size=max_incomplete_event_size)
        # Weak: the protocol holds this connection, and a strong reference back made
        # every closed connection a reference cycle that only a full collection frees.
        self._protocol = weakref.ref(protocol)

    def next_event(self) -> h11.Event | type[h11.PAUSED] | type[h11.NEED_DATA]:
        event = super().next_event()
        protocol = self._protocol()
        if type(event) is h11.EndOfMessage and protocol is not None:
            stream = protocol.stream
            # The request was seen (it made the stream); a websocket's is never here.
            if isinstance(stream, HTTPStream):
                stream.scope["extensions"][REQUEST_TRAILERS] = {"headers": list(event.headers)}
        return event


# -- interim responses -----------------------------------------------------------------
#
# ASGI has no message for an informational (1xx) response of the app's choosing,
# and hypercorn's HTTP/1.1 protocol drops the ones it makes itself (103 Early
# Hints, HTTP/2 and HTTP/3 only). Resumable Uploads for HTTP has the server send
# 104 with the new upload's URL while the creation request's content arrives. So
# hypercorn's connections under serve_with_front_door put a sender in the
# connection's state, which hypercorn copies into every request's scope:
#
#     await scope["state"][INTERIM_RESPONSE](status, [(name, value), ...])
#
# Over HTTP/1.1 it writes the response with the connection's h11 (which allows it
# while the final response has not started); over HTTP/2 it is a HEADERS frame on
# the request's stream (h2 allows it before the final response's). Either does
# nothing once the final response has begun. There is none for HTTP/1.0 (whose
# clients must not get 1xx) nor under plain hypercorn.

#: The key of the interim-response sender in ``scope["state"]``.
INTERIM_RESPONSE = "trioflix.interim_response"

#: Sends an interim response: ``await send(status, [(name, value), ...])``.
InterimSender: TypeAlias = "Callable[[int, list[tuple[str, str]]], Awaitable[None]]"

#: hypercorn's version, the one this module was written for (module docstring).
HYPERCORN_VERSION = "0.18.0"


def check_hypercorn() -> None:
    """Refuse to serve with a hypercorn whose internals this module was not checked against.

    Raises:
        RuntimeError: Another hypercorn is installed.
    """
    installed = version("hypercorn")
    if installed != HYPERCORN_VERSION:
        raise RuntimeError(
            f"trioflix serve extends hypercorn {HYPERCORN_VERSION}'s internals, but"
            f" hypercorn {installed} is installed: check trioflix/asgi_internals.py against it"
        )


def interim_sender(scope: Mapping[str, Any]) -> InterimSender | None:
    """The request's interim-response sender; ``None``: not possible over this connection."""
    if scope.get("http_version") not in ("1.1", "2"):
        return None  # HTTP/1.0 clients do not expect 1xx (RFC 9110 15.2)
    sender: InterimSender | None = scope.get("state", {}).get(INTERIM_RESPONSE)
    return sender


def _fields(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    # Lower-case: HTTP/2 refuses upper-case field names (RFC 9113 8.2.1).
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]


def _h11_interim_sender(protocol: H11Protocol) -> InterimSender:
    # Weak: the sender is kept in the protocol's connection state, and a closure over
    # the protocol itself made every closed connection a reference cycle.
    protocol_ref = weakref.ref(protocol)

    async def send(status: int, headers: list[tuple[str, str]]) -> None:
        protocol = protocol_ref()
        if protocol is None:
            return  # the connection is gone: no response of any kind follows
        connection = protocol.connection
        assert isinstance(connection, h11.Connection)  # an HTTP request's connection
        if connection.our_state is not h11.SEND_RESPONSE:
            return  # the final response has begun: an interim one is too late
        informational = h11.InformationalResponse(status_code=status, headers=_fields(headers))
        data = connection.send(informational)
        assert data is not None  # only ConnectionClosed gives None
        await protocol.send(RawData(data=data))

    return send


class _ExtendedH2Protocol(H2Protocol):
    """hypercorn's HTTP/2 protocol, with interim responses, and early answers that end
    their request instead of the connection.

    A request answered before its content arrived (a wrong offset, say) keeps
    getting DATA frames the client had on their way, or goes on sending.
    hypercorn looks each up among the running streams and fails the whole
    connection (``KeyError``) once the stream's app is done. Here such DATA is
    dropped, its flow-control credit handed back, and once the response has
    ended the stream is reset with NO_ERROR: RFC 9113 8.1 lets a server that
    sent a complete response ask the client that way to stop sending the
    request's content. The connection's other streams go on.
    """

    async def _create_stream(self, request: h2.events.RequestReceived) -> None:
        # The Request copies the connection state into the stream's scope (item 5).
        self.connection_state[INTERIM_RESPONSE] = self._interim_sender(request.stream_id)
        await super()._create_stream(request)

    def _interim_sender(self, stream_id: int) -> InterimSender:
        async def send(status: int, headers: list[tuple[str, str]]) -> None:
            # After the final response h2 refuses it, and stream_send drops it.
            informational = InformationalResponse(
                stream_id=stream_id, status_code=status, headers=_fields(headers)
            )
            await self.stream_send(informational)

        return send

    async def _handle_events(self, events: list[h2.events.Event]) -> None:
        for event in events:
            # One by one: a stream created by an earlier event is looked up by a later one.
            if isinstance(event, h2.events.DataReceived) and event.stream_id not in self.streams:
                # Content for a request already answered: nobody reads it.
                self.connection.acknowledge_received_data(
                    event.flow_controlled_length, event.stream_id
                )
                await self._flush()
            else:
                await super()._handle_events([event])

    async def _close_stream(self, stream_id: int) -> None:
        await super()._close_stream(stream_id)
        await self._end_answered_request(stream_id)

    async def _send_data(self, stream_id: int) -> None:
        await super()._send_data(stream_id)
        await self._end_answered_request(stream_id)

    async def _end_answered_request(self, stream_id: int) -> None:
        # Both orders happen: the app may be done before or after its response's end is sent.
        stream = self.connection.streams.get(stream_id)
        if (
            not self.closed
            and stream_id not in self.streams
            and stream is not None
            and stream.state_machine.state is StreamState.HALF_CLOSED_LOCAL
        ):
            self.connection.reset_stream(stream_id, ErrorCodes.NO_ERROR)
            await self._flush()


class _ExtendedProtocolWrapper(ProtocolWrapper):
    """hypercorn's per-connection protocol switch, with the extended protocols.

    ``ProtocolWrapper`` assigns ``self.protocol`` its HTTP/1.1 protocol when it
    is built, and its HTTP/2 one when the client asks for HTTP/2 (item 3). This
    property swaps the fresh ``H11Protocol``'s h11 connection (nothing was fed
    to it yet) for one that keeps trailers and gives it an interim-response
    sender, and replaces a fresh ``H2Protocol`` (not yet initiated) with
    :class:`_ExtendedH2Protocol` built from the same arguments.
    """

    @property
    def protocol(self) -> H11Protocol | H2Protocol:
        return self._protocol

    @protocol.setter
    def protocol(self, protocol: H11Protocol | H2Protocol) -> None:
        if isinstance(protocol, H11Protocol):
            protocol.connection = _TrailerKeepingConnection(
                protocol, max_incomplete_event_size=protocol.config.h11_max_incomplete_size
            )
            protocol.connection_state[INTERIM_RESPONSE] = _h11_interim_sender(protocol)
        elif not isinstance(protocol, _ExtendedH2Protocol):
            protocol = _ExtendedH2Protocol(
                self.app,
                self.config,
                self.context,
                self.task_group,
                self.state,
                self.ssl,
                self.client,
                self.server,
                self.send,
            )
        self._protocol = protocol


class TrailerKeepingTCPServer(TCPServer):
    """hypercorn's ``TCPServer`` whose requests keep their trailers (HTTP/1.1), may send
    interim responses, and whose HTTP/2 connections survive early answers.

    ``TCPServer.run`` builds its ``ProtocolWrapper`` and assigns it to
    ``self.protocol`` before the first byte is handled; this property puts
    :class:`_ExtendedProtocolWrapper`, built from the same arguments, in its
    place. Everything else is hypercorn's.
    """

    async def run(self) -> None:
        try:
            await super().run()
        finally:
            # The wrapper (and its protocol) hold this server's bound ``protocol_send``:
            # kept past the connection's end, the two make a reference cycle.
            vars(self).pop("_wrapper", None)

    @property
    def protocol(self) -> ProtocolWrapper:
        return self._wrapper

    @protocol.setter
    def protocol(self, wrapper: ProtocolWrapper) -> None:
        # Plain TCP (serve_with_front_door has no TLS): no ALPN, HTTP/1.1 first.
        self._wrapper = _ExtendedProtocolWrapper(
            wrapper.app,
            wrapper.config,
            wrapper.context,
            wrapper.task_group,
            wrapper.state,
            wrapper.ssl,
            wrapper.client,
            wrapper.server,
            wrapper.send,
        )


# -- quart-trio --------------------------------------------------------------------------


class QuartTrioBody(TrioBody):
    """quart-trio's request body, with the private state a subclass needs under public names."""

    @property
    def error(self) -> Exception | None:
        """What the app's next read of the body raises (Quart raises it there, not in ASGI)."""
        return self._must_raise

    @error.setter
    def error(self, error: Exception | None) -> None:
        self._must_raise = error

    @property
    def max_content_length(self) -> int | None:
        """The size limit, checked as the body arrives; ``None``: no limit."""
        return self._max_content_length

    @max_content_length.setter
    def max_content_length(self, limit: int | None) -> None:
        self._max_content_length = limit

    @property
    def complete(self) -> bool:
        """The whole body has arrived (it may still be buffered)."""
        return self._complete.is_set()

    async def wait_complete(self) -> None:
        """Wait until the whole body has arrived, or ended for good (the limit, a disconnect)."""
        await self._complete.wait()


class QuartTrioHTTPConnection(TrioASGIHTTPConnection):
    """quart-trio's ASGI HTTP handler, for a subclass that replaces ``__call__``."""

    def create_request(self, send: ASGISendCallable) -> Request:
        """The request object for this connection's scope (the app's ``request_class``)."""
        return self._create_request_from_scope(send)

    async def send_response(self, send: ASGISendCallable, response: ResponseTypes) -> None:
        """Send ``response`` as Quart does: the start, each body part, the end."""
        await self._send_response(send, response)
