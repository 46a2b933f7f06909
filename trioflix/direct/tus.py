"""tus requests on the socket: upload bodies from the socket to the file without ASGI.

Under ASGI a request body reaches the app as one message per 64 KiB socket
read, each passing hypercorn's h11 glue, its app queue and a task switch, and
Quart's body buffer: for one large PATCH that is most of the server's time
(docs/benchmarks.md, "Uploads"). Here the body is read from the socket by the
upload's own writer when it wants more (:class:`SocketBody`): h11 frames it,
nothing else sits between the socket and the file. The answers are
:func:`trioflix.uploads.tus_handler.handle_tus`'s, exactly as over ASGI.
"""

from __future__ import annotations

import logging
import time
from email.utils import formatdate
from typing import TYPE_CHECKING

import h11
import trio

from trioflix.access import record_request
from trioflix.direct.front import HEAD_LIMIT, Head, client_address
from trioflix.logs import new_request_id, request_id
from trioflix.uploads.service import TUS_PATH, TUS_UPLOAD_ROUTE
from trioflix.uploads.tus_handler import TusAnswer, TusCall, handle_tus

if TYPE_CHECKING:
    from protocols import tus
    from trioflix.state import AppState
    from trioflix.uploads.service import Uploads

__all__ = ["SocketBody", "serve_tus_request", "tus_target"]

logger = logging.getLogger(__name__)

# One socket read of body bytes. On the benchmark machine a 1 GiB PATCH went
# through this path at the same speed with 64 and 256 KiB reads and 20% slower
# with 1 MiB ones (larger copies through h11's buffer).
READ_BYTES = 256 * 1024
_ROUTES = {"creation": TUS_PATH, "upload": TUS_UPLOAD_ROUTE}  # as Quart names them
_BUG = b'{"error": {"code": "internal_error", "message": "internal server error"}}'


def tus_target(path: str) -> tuple[tus.Resource, str | None] | None:
    """Which tus resource ``path`` is (the creation URL, or an upload and its id), if any."""
    if path == TUS_PATH:
        return "creation", None
    upload_id = path.removeprefix(f"{TUS_PATH}/")
    if upload_id != path and upload_id and "/" not in upload_id:
        return "upload", upload_id
    return None


class SocketBody:
    """A request body read from the socket when it is asked for (a ``TusBody``).

    Nothing reads ahead: while the upload's file is being written the bytes wait
    in the socket's receive buffer, and TCP slows a client that is faster than
    the disk. ``Expect: 100-continue`` is answered at the first read.
    """

    def __init__(self, conn: h11.Connection, stream: trio.SocketStream) -> None:
        self._conn = conn
        self._stream = stream
        self._pieces: list[bytes] = []
        self._buffered = 0
        self._complete = False
        self.trailers: list[tuple[bytes, bytes]] = []  # set when the body ends

    @property
    def complete(self) -> bool:
        return self._complete

    async def wait_buffered(self, size: int) -> None:
        """Read until ``size`` bytes are buffered or the body has ended.

        Raises:
            trio.BrokenResourceError: The client went away before the body ended.
        """
        while self._buffered < size and not self._complete:
            try:
                event = self._conn.next_event()
            except h11.RemoteProtocolError as exc:  # EOF or garbage inside the body
                raise trio.BrokenResourceError(f"request body cut short: {exc}") from None
            if event is h11.NEED_DATA:
                if self._conn.they_are_waiting_for_100_continue:
                    await self._stream.send_all(
                        self._conn.send(h11.InformationalResponse(status_code=100, headers=[]))
                    )
                self._conn.receive_data(await self._stream.receive_some(READ_BYTES))
            elif type(event) is h11.Data:
                self._pieces.append(event.data)
                self._buffered += len(event.data)
            elif type(event) is h11.EndOfMessage:
                self.trailers = list(event.headers)
                self._complete = True

    def take(self) -> list[bytes]:
        pieces = self._pieces
        self._pieces = []
        self._buffered = 0
        return pieces


class _Fields:
    """h11's header list as ``tus.HeaderSource`` (repeated fields kept)."""

    def __init__(self, headers: list[tuple[bytes, bytes]]) -> None:
        self._headers = headers

    def items(self) -> list[tuple[str, str]]:
        return [(name.decode("latin-1"), value.decode("latin-1")) for name, value in self._headers]


async def serve_tus_request(
    stream: trio.SocketStream,
    head: Head,
    data: bytes,
    *,
    service: Uploads,
    app_state: AppState,
) -> bytes | None:
    """Answer the tus request at the start of ``data`` (its head is ``head``).

    Returns the bytes read past the request when the connection may carry
    another one, ``None`` when it must close (the client asked, or the body was
    not read to its end).

    Raises:
        trio.BrokenResourceError: The client went away.
    """
    target = tus_target(head.path)
    assert target is not None  # the route was chosen by this path
    started = time.perf_counter()
    rid = new_request_id(head.headers.get("x-request-id", ""))
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=HEAD_LIMIT)
    conn.receive_data(data)
    request = conn.next_event()
    assert isinstance(request, h11.Request)  # the front door parsed the same bytes
    body = SocketBody(conn, stream)
    call = TusCall(
        method=head.method,
        headers=_Fields(list(request.headers)),
        body=body,
        trailers=lambda: body.trailers,
    )
    token = request_id.set(rid)
    try:
        try:
            answer = await handle_tus(service, app_state, call, *target)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise
        except Exception:
            logger.exception("unhandled error")
            answer = TusAnswer(500, [("Content-Type", "application/json")], _BUG)
        if not head.has_body:
            await body.wait_buffered(1)  # h11 ends an empty body without reading
        reusable = body.complete
        await stream.send_all(_response(conn, answer, rid, head.method, reusable=reusable))
    finally:
        request_id.reset(token)
    record_request(
        app_state.metrics,
        head.method,
        head.path,
        _ROUTES[target[0]],
        answer.status,
        time.perf_counter() - started,
        rid,
        client_address(stream, head, app_state.settings.trusted_proxies),
    )
    if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
        return None
    conn.start_next_cycle()
    return bytes(conn.trailing_data[0])


def _response(
    conn: h11.Connection, answer: TusAnswer, rid: str, method: str, *, reusable: bool
) -> bytes:
    headers = [*answer.headers, ("Date", formatdate(usegmt=True)), ("X-Request-ID", rid)]
    if answer.status != 204:
        headers.append(("Content-Length", str(len(answer.body))))
    if not reusable:
        # The rest of the body is never read: the connection cannot carry another request.
        headers.append(("Connection", "close"))
    out = conn.send(h11.Response(status_code=answer.status, headers=headers))
    assert out is not None
    if answer.body and method != "HEAD":
        out += conn.send(h11.Data(data=answer.body)) or b""
    out += conn.send(h11.EndOfMessage()) or b""
    return out
