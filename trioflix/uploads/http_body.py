"""Request bodies with backpressure, so a 10 GiB PATCH never sits in memory.

Quart's ASGI glue appends every received body message to the request's buffer
without waiting, so a client faster than the disk would fill memory. Here the
receiving side *awaits* room: once :data:`HIGH_WATER_BYTES` are buffered it
stops pulling ASGI messages, hypercorn's bounded app queue fills, hypercorn
stops reading the socket, and TCP flow control slows the client down.

Routes that stream their body (the tus routes) are listed by path prefix; only
they lose Quart's app-wide ``MAX_CONTENT_LENGTH`` (tus applies its own limits).
Everything else behaves as before, including the 413 above that limit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import trio
from quart import Response
from quart_trio.asgi import TrioASGIHTTPConnection
from quart_trio.wrappers.request import TrioBody, TrioRequest
from werkzeug.exceptions import RequestEntityTooLarge

if TYPE_CHECKING:
    from collections.abc import Generator

    from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable
    from quart import Quart, Request

__all__ = [
    "HIGH_WATER_BYTES",
    "FlowControlledBody",
    "FlowControlledRequest",
    "install_flow_control",
]

# Buffered body bytes per request before the receiver waits: 1 MiB keeps the
# disk thread busy with large writes while bounding memory per upload.
HIGH_WATER_BYTES = 1024 * 1024
DRAIN_TIMEOUT_S = 30.0  # unread body after the response: give up and drop the connection


class FlowControlledBody(TrioBody):
    """A request body whose producer waits while :data:`HIGH_WATER_BYTES` are buffered.

    Awaiting the whole body (``await request.get_data()``) turns the wait off:
    that consumer needs everything at once, and the size limit bounds it.
    """

    def __init__(self, expected_content_length: int | None, max_content_length: int | None) -> None:
        super().__init__(expected_content_length, max_content_length)
        self._received = 0
        self._whole = False
        self._discard = False
        self._drained = trio.Event()

    def lift_size_limit(self) -> None:
        """Accept a body of any size (the route enforces its own limits)."""
        self._max_content_length = None
        if isinstance(self._must_raise, RequestEntityTooLarge):
            self._must_raise = None

    @property
    def complete(self) -> bool:
        """The whole body has arrived (it may still be buffered)."""
        return self._complete.is_set()

    def take_buffered(self) -> bytes:
        """Body bytes received but not yet read; for keeping them when the reader stops early."""
        data = bytes(self._data)
        self._data.clear()
        self._drained.set()
        return data

    def discard(self) -> None:
        """The response is out: drop what is buffered and whatever still arrives."""
        self._discard = True
        self._data.clear()
        self._drained.set()

    async def put(self, data: bytes, *, more: bool) -> None:
        """Add a received body message; waits while the buffer is full."""
        if self._discard:
            if not more:
                self.set_complete()
            return
        while (
            len(self._data) >= HIGH_WATER_BYTES and not self._whole and not self._complete.is_set()
        ):
            await self._drained.wait()
            self._drained = trio.Event()
        if data and self._must_raise is None:
            self._received += len(data)
            self._data.extend(data)
            self._has_data.set()
            if self._max_content_length is not None and self._received > self._max_content_length:
                self._must_raise = RequestEntityTooLarge()
                self.set_complete()
        if not more:
            self.set_complete()

    async def __anext__(self) -> bytes:
        data = await super().__anext__()
        self._drained.set()
        return data

    def __await__(self) -> Generator[Any, None, Any]:
        self._whole = True
        self._drained.set()
        return super().__await__()


class FlowControlledRequest(TrioRequest):
    body_class = FlowControlledBody


class _Connection(TrioASGIHTTPConnection):
    streaming_prefixes: tuple[str, ...] = ()

    async def __call__(self, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        request = self._create_request_from_scope(send)
        body = request.body
        assert isinstance(body, FlowControlledBody)
        if request.path.startswith(self.streaming_prefixes):
            body.lift_size_limit()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.handle_messages, nursery, request, receive)
            await self._respond(request, send)
            # hypercorn waits to hand over the rest of a body the app did not read:
            # take it and drop it (bounded), until it ends, or the connection
            # does (the route answered with Connection: close).
            body.discard()
            with trio.move_on_after(DRAIN_TIMEOUT_S):
                await body._complete.wait()
            nursery.cancel_scope.cancel()

    async def _respond(self, request: Request, send: ASGISendCallable) -> None:
        response = await self.app.handle_request(request)
        timeout = self.app.config["RESPONSE_TIMEOUT"]
        if isinstance(response, Response) and response.timeout != Ellipsis:
            timeout = response.timeout
        with trio.move_on_after(float("inf") if timeout is None else timeout):
            await self._send_response(send, response)

    async def handle_messages(  # type: ignore[override]
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


def install_flow_control(app: Quart, streaming_prefixes: tuple[str, ...]) -> None:
    """Make ``app`` apply backpressure to request bodies; lift the size limit under the prefixes."""
    connection = type(
        "FlowControlledConnection", (_Connection,), {"streaming_prefixes": streaming_prefixes}
    )
    app.asgi_http_class = connection
    app.request_class = FlowControlledRequest
