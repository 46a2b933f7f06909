"""Request trailers for the ASGI routes of ``trioflix serve``.

ASGI has no message for the trailer fields that may follow a chunked request
body, and hypercorn (0.18, pinned) reads them with h11 and drops them. tus's
checksum-trailer extension sends ``Upload-Checksum`` that way, so the worker's
HTTP/1.1 connections keep them: when a request body ends, its trailer fields
are put in the request's scope,

    scope["extensions"]["trioflix.request_trailers"] == {"headers": [(name, value), ...]}

(lower-case names, as h11 gives them), before the app receives the body's last
``http.request`` message. A scope without the key came over a connection that
cannot deliver trailers: plain ``hypercorn`` without this worker, or HTTP/2
(hypercorn ignores h2's trailer frames too).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import h11
from hypercorn.protocol.h11 import H11Protocol
from hypercorn.protocol.http_stream import HTTPStream
from hypercorn.trio.tcp_server import TCPServer

if TYPE_CHECKING:
    from collections.abc import Mapping

    from hypercorn.protocol import ProtocolWrapper

__all__ = ["REQUEST_TRAILERS", "TrailerKeepingTCPServer", "request_trailers"]

REQUEST_TRAILERS = "trioflix.request_trailers"


def request_trailers(scope: Mapping[str, Any]) -> list[tuple[bytes, bytes]] | None:
    """The trailer fields of the request whose body has ended; ``None``: not deliverable here."""
    trailers = scope.get("extensions", {}).get(REQUEST_TRAILERS)
    return None if trailers is None else trailers["headers"]


class _TrailerKeepingConnection(h11.Connection):
    """An h11 server connection that hands each request's trailers to its ASGI scope."""

    def __init__(self, protocol: H11Protocol, max_incomplete_event_size: int) -> None:
        super().__init__(h11.SERVER, max_incomplete_event_size=max_incomplete_event_size)
        self._protocol = protocol

    def next_event(self) -> h11.Event | type[h11.PAUSED] | type[h11.NEED_DATA]:
        event = super().next_event()
        if type(event) is h11.EndOfMessage:
            stream = self._protocol.stream
            # The request was seen (it made the stream); a websocket's is never here.
            if isinstance(stream, HTTPStream):
                stream.scope["extensions"][REQUEST_TRAILERS] = {"headers": list(event.headers)}
        return event


class TrailerKeepingTCPServer(TCPServer):
    """hypercorn's ``TCPServer`` whose HTTP/1.1 requests keep their trailers.

    ``TCPServer.run`` builds its ``ProtocolWrapper`` and assigns it to
    ``self.protocol`` before the first byte is handled; this property swaps the
    fresh ``H11Protocol``'s h11 connection (nothing was fed to it yet) for one
    that keeps trailers. Everything else is hypercorn's.
    """

    @property
    def protocol(self) -> ProtocolWrapper:
        return self._wrapper

    @protocol.setter
    def protocol(self, wrapper: ProtocolWrapper) -> None:
        inner = wrapper.protocol
        if isinstance(inner, H11Protocol):
            inner.connection = _TrailerKeepingConnection(
                inner, max_incomplete_event_size=inner.config.h11_max_incomplete_size
            )
        self._wrapper = wrapper
