"""Request bodies with backpressure, so a 10 GiB PATCH never sits in memory.

Quart's ASGI glue appends every received body message to the request's buffer
without waiting, so a client faster than the disk would fill memory. Here the
receiving side *awaits* room: once :data:`HIGH_WATER_BYTES` are buffered it
stops pulling ASGI messages, hypercorn's bounded app queue fills, hypercorn
stops reading the socket, and TCP flow control slows the client down.

The body keeps the received messages as they are (hypercorn hands over one
``bytes`` per socket read of at most 64 KiB) instead of copying them into one
growing buffer: a reader takes a list of them with :meth:`FlowControlledBody.take`
and writes them with one ``pwritev``. :meth:`FlowControlledBody.wait_buffered`
wakes the reader once, when enough has arrived for a large write, not once per
message.

Routes that stream their body (the tus routes) are listed by path prefix; only
they lose Quart's app-wide ``MAX_CONTENT_LENGTH`` (tus applies its own limits).
A route that reads a larger body whole (a scheduled stream's cover image) gets a
limit of its own with :func:`set_body_limit`, applied as the request starts,
before any of its body arrives. Everything else behaves as before, including the
413 above the app's limit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import trio
from quart import Response
from quart_trio.wrappers import TrioRequest
from werkzeug.exceptions import RequestEntityTooLarge

from trioflix.asgi_internals import QuartTrioBody, QuartTrioHTTPConnection

if TYPE_CHECKING:
    import re
    from collections.abc import Generator

    from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable
    from quart import Quart, Request

__all__ = [
    "HIGH_WATER_BYTES",
    "WRITE_BYTES",
    "FlowControlledBody",
    "FlowControlledRequest",
    "install_flow_control",
    "set_body_limit",
]

# One disk write of upload bytes (one worker thread round trip and one pwritev).
# 1 MiB makes the per-write costs small next to copying the bytes, and keeps
# what is in flight small enough to stay in the CPU caches between the socket
# read and the disk write: measured on the 2-core VM of docs/benchmarks.md, a
# 1 GiB PATCH cost 1.5-1.65 s of server CPU with 1 or 2 MiB writes and 2.1 s
# with 4 MiB ones, and an 8 MiB PATCH was answered 10-12 ms after its last byte
# instead of 21-27 ms (its last write is the one nothing overlaps).
WRITE_BYTES = 1024 * 1024
# Buffered body bytes per request before the receiver waits. Equal to the write
# size: while one write is on its way to the disk the next one fills, so the
# socket is never left unread while there is room, and a request holds at most
# two writes (plus one socket read) in memory.
HIGH_WATER_BYTES = WRITE_BYTES
DRAIN_TIMEOUT_S = 30.0  # unread body after the response: give up and drop the connection
# app.config key: (path pattern, byte limit) of the routes with a limit of their own
BODY_LIMITS: Final = "TRIOFLIX_BODY_LIMITS"


class FlowControlledBody(QuartTrioBody):
    """A request body whose producer waits while :data:`HIGH_WATER_BYTES` are buffered.

    Awaiting the whole body (``await request.get_data()``) turns the wait off:
    that consumer needs everything at once, and the size limit bounds it.
    Iterating over it (``async for data in body``) still works, one join of
    whatever is buffered at a time.
    """

    def __init__(self, expected_content_length: int | None, max_content_length: int | None) -> None:
        super().__init__(expected_content_length, max_content_length)
        self._expected = expected_content_length  # the request's Content-Length
        self._pieces: list[bytes] = []  # received messages, not yet taken (replaces _data)
        self._buffered = 0  # bytes in _pieces
        self._received = 0
        self._wanted = 0  # a reader waits for this many buffered bytes
        self._ready = trio.Event()  # set when _wanted bytes are buffered, or at the end
        self._whole = False
        self._discard = False
        self._drained = trio.Event()

    def lift_size_limit(self) -> None:
        """Accept a body of any size (the route enforces its own limits)."""
        self.max_content_length = None
        if isinstance(self.error, RequestEntityTooLarge):
            self.error = None

    def set_size_limit(self, limit: int) -> None:
        """Accept a body of at most ``limit`` bytes instead of the app's limit."""
        self.max_content_length = limit
        announced = self._expected
        if isinstance(self.error, RequestEntityTooLarge) and (announced or 0) <= limit:
            self.error = None

    @property
    def too_large(self) -> bool:
        """The body went past the size limit (the request was refused with 413)."""
        return isinstance(self.error, RequestEntityTooLarge)

    @property
    def buffered(self) -> int:
        """Body bytes received but not yet taken."""
        return self._buffered

    async def wait_buffered(self, size: int) -> None:
        """Wait until ``size`` bytes are buffered, or the body has ended (whatever is left).

        Raises:
            RequestEntityTooLarge: The body is above the size limit.
        """
        while self._buffered < size and not self.complete and self.error is None:
            self._wanted = size
            self._ready = trio.Event()
            try:
                await self._ready.wait()
            finally:
                self._wanted = 0
        if self.error is not None:
            raise self.error

    def take(self) -> list[bytes]:
        """Take every buffered message (an empty list: nothing is buffered)."""
        pieces = self._pieces
        self._pieces = []
        self._buffered = 0
        self._drained.set()
        return pieces

    def discard(self) -> None:
        """The response is out: drop what is buffered and whatever still arrives."""
        self._discard = True
        self.take()

    def append(self, data: bytes) -> None:
        # Quart's own entry point (set_result, used by its test client).
        if data and self.error is None:
            self._add(data)

    def clear(self) -> None:
        self.take()

    def set_complete(self) -> None:
        super().set_complete()
        self._ready.set()

    def _add(self, data: bytes) -> None:
        self._received += len(data)
        self._pieces.append(data)
        self._buffered += len(data)
        if self.max_content_length is not None and self._received > self.max_content_length:
            self.error = RequestEntityTooLarge()
            self.set_complete()
        elif self._wanted and self._buffered >= self._wanted:
            self._ready.set()

    async def put(self, data: bytes, *, more: bool) -> None:
        """Add a received body message; waits while the buffer is full."""
        if self._discard:
            if not more:
                self.set_complete()
            return
        while self._buffered >= HIGH_WATER_BYTES and not self._whole and not self.complete:
            await self._drained.wait()
            self._drained = trio.Event()
        if data and self.error is None:
            self._add(bytes(data))
        if not more:
            self.set_complete()

    async def __anext__(self) -> bytes:
        await self.wait_buffered(1)
        if not self._pieces:
            raise StopAsyncIteration
        return b"".join(self.take())

    def __await__(self) -> Generator[Any, None, Any]:
        self._whole = True
        self._drained.set()
        if self.error is not None:
            raise self.error
        yield from self.wait_complete().__await__()
        if self.error is not None:
            raise self.error
        if len(self._pieces) > 1:
            self._pieces = [b"".join(self._pieces)]  # awaited again: no second join
        return self._pieces[0] if self._pieces else b""


class FlowControlledRequest(TrioRequest):
    body_class = FlowControlledBody


class _Connection(QuartTrioHTTPConnection):
    streaming_prefixes: tuple[str, ...] = ()

    async def __call__(self, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        request = self.create_request(send)
        body = request.body
        assert isinstance(body, FlowControlledBody)
        if request.path.startswith(self.streaming_prefixes):
            body.lift_size_limit()
        else:
            limits: list[tuple[re.Pattern[str], int]] = self.app.config.get(BODY_LIMITS, [])
            for path, limit in limits:
                if path.fullmatch(request.path):
                    body.set_size_limit(limit)
                    break
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._receive_body, nursery, request, receive)
            await self._respond(request, send)
            # hypercorn waits to hand over the rest of a body the app did not read:
            # take it and drop it (bounded), until it ends, or the connection
            # does (the route answered with Connection: close).
            body.discard()
            with trio.move_on_after(DRAIN_TIMEOUT_S):
                await body.wait_complete()
            nursery.cancel_scope.cancel()

    async def _respond(self, request: Request, send: ASGISendCallable) -> None:
        response = await self.app.handle_request(request)
        if isinstance(request.body, FlowControlledBody) and request.body.too_large:
            # The rest of a body past the limit is never read: rather than wait for it
            # to drain (an upload of megabytes), end the connection (RFC 9110 15.5.14).
            response.headers["Connection"] = "close"
        timeout = self.app.config["RESPONSE_TIMEOUT"]
        if isinstance(response, Response) and response.timeout != Ellipsis:
            timeout = response.timeout
        with trio.move_on_after(float("inf") if timeout is None else timeout):
            await self.send_response(send, response)

    async def _receive_body(
        self, nursery: trio.Nursery, request: Request, receive: ASGIReceiveCallable
    ) -> None:
        body = request.body
        assert isinstance(body, FlowControlledBody)
        while True:
            message = await receive()
            if message["type"] == "http.request":
                await body.put(message.get("body", b""), more=message.get("more_body", False))
            elif message["type"] == "http.disconnect":
                break
        # The client is gone: cancel the handler (its shielded cleanup still runs).
        nursery.cancel_scope.cancel()


def set_body_limit(app: Quart, path: re.Pattern[str], limit: int) -> None:
    """Let requests whose path matches ``path`` (the whole path) send bodies of up to
    ``limit`` bytes instead of the app's ``MAX_CONTENT_LENGTH`` (above it: 413)."""
    app.config.setdefault(BODY_LIMITS, []).append((path, limit))


def install_flow_control(app: Quart, streaming_prefixes: tuple[str, ...]) -> None:
    """Make ``app`` apply backpressure to request bodies; lift the size limit under the prefixes."""
    connection = type(
        "FlowControlledConnection", (_Connection,), {"streaming_prefixes": streaming_prefixes}
    )
    app.asgi_http_class = connection
    app.request_class = FlowControlledRequest
