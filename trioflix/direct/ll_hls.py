"""LL-HLS on the socket: blocking playlist reloads, parts, segments, init segments and
the LL master playlist, each request on a kept-alive connection.

A low-latency player makes a request every part duration (about eight times a
classic player's), so what each request costs is what a viewer costs. Through
ASGI a request passes hypercorn's h11 glue, its app queue and task switches,
Quart's request and response objects and its hooks: most of the time of an
answer that memory already holds (docs/benchmarks.md, "LL-HLS served by the
front door"). Here the
request head the front door parsed is answered with one write, and the
connection goes back to the front door for the player's next request.

The answers are :mod:`trioflix.api.ll_hls`'s, exactly as over ASGI: the same
body, status, type, caching, CORS and security headers, and the same JSON error.
On a host that relays the channel from its origin (a cluster), they are the
origin's, fetched while the connection waits here.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from email.utils import formatdate
from functools import lru_cache, partial
from http import HTTPStatus
from typing import TYPE_CHECKING, Final

import trio

from trioflix.access import record_request
from trioflix.api import ll_hls
from trioflix.api.ll_hls import MEDIA_HEADERS, Answer, Player, is_ll_file, playback_token
from trioflix.api.security_headers import ALWAYS
from trioflix.errors import APIError, error_body
from trioflix.live.edge.pull import PULL_TOKEN_HEADER
from trioflix.logs import new_request_id, request_id

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from trioflix.direct.front import Head
    from trioflix.state import AppState

    Serve = Callable[[AppState, Head, Player], Awaitable[Answer]]

__all__ = ["LLTarget", "ll_hls_target", "send_head_and_body", "serve_ll_hls"]

# The route names Quart gives them, for /metrics and the access log.
MASTER_ROUTE: Final = "/live/<channel>/master-ll.m3u8"
PLAYLIST_ROUTE: Final = "/live/<channel>/<rendition>/ll.m3u8"
FILE_ROUTE: Final = "/live/<channel>/<rendition>/<segment>"
# The kinds of answer whose leading header lines are kept (status, type, caching): this
# host's own are a handful; relayed ones carry the origin's type and caching.
ANSWER_KINDS: Final = 32
_ALWAYS_LINES: Final = "".join(f"{name}: {value}\r\n" for name, value in ALWAYS.items())


@dataclass(frozen=True, slots=True)
class LLTarget:
    """What an LL-HLS request asks for: its route's name and the answer's maker."""

    route: str
    serve: Serve


def ll_hls_target(path: str) -> LLTarget | None:
    """The LL-HLS answer ``path`` (percent-decoded) asks for, if it is one."""
    match path.split("/"):
        case ["", "live", channel, "master-ll.m3u8"] if channel:
            return LLTarget(MASTER_ROUTE, partial(_master, channel))
        case ["", "live", channel, rendition, "ll.m3u8"] if channel and rendition:
            return LLTarget(PLAYLIST_ROUTE, partial(_playlist, channel, rendition))
        case ["", "live", channel, rendition, name] if channel and is_ll_file(rendition, name):
            return LLTarget(FILE_ROUTE, partial(_file, channel, rendition, name))
    return None


async def _master(channel: str, app_state: AppState, head: Head, _player: Player) -> Answer:
    return await ll_hls.master_ll(app_state, channel, playback_token(head.query.get("vs")))


async def _playlist(
    channel: str, rendition: str, app_state: AppState, head: Head, player: Player
) -> Answer:
    args = head.query
    query = (args.get("_HLS_msn"), args.get("_HLS_part"), args.get("_HLS_skip"))
    return await ll_hls.ll_playlist(app_state, channel, rendition, query, player)


async def _file(
    channel: str, rendition: str, name: str, app_state: AppState, _head: Head, _player: Player
) -> Answer:
    return await ll_hls.ll_file(app_state, channel, rendition, name)


async def serve_ll_hls(
    stream: trio.SocketStream,
    head: Head,
    target: LLTarget,
    *,
    app_state: AppState,
    client: str | None,
) -> bool:
    """Answer the LL-HLS request ``head``; ``True`` if the connection may carry another
    request (the client did not ask to close it).

    Raises:
        trio.BrokenResourceError: The client went away.
    """
    started = time.perf_counter()
    rid = new_request_id(head.headers.get("x-request-id", ""))
    player = Player(
        token=head.query.get("vs"),
        client=client,
        user_agent=head.headers.get("user-agent", ""),
        pull_token=head.headers.get(PULL_TOKEN_HEADER),
    )
    token = request_id.set(rid)
    try:
        answer = await target.serve(app_state, head, player)
        status, body = answer.status, answer.body
        leading = _answer_lines(status, answer.content_type, answer.cache_control)
    except APIError as exc:
        status, body = exc.status, error_body(exc.code, exc.message, field=exc.field)
        headers = {"Content-Type": "application/json", **exc.headers, **MEDIA_HEADERS}
        leading = _status_and_fields(status, headers)
    finally:
        request_id.reset(token)
    keep_alive = "close" not in head.headers.get("connection", "").lower()
    response = leading + _rest_of_head(len(body), rid, keep_alive=keep_alive)
    await send_head_and_body(stream.socket, response, body)
    record_request(
        app_state.metrics,
        head.method,
        head.path,
        target.route,
        status,
        time.perf_counter() - started,
        rid,
        client,
    )
    return keep_alive


def _status_and_fields(status: int, fields: Mapping[str, str]) -> bytes:
    """The status line and ``fields``, each on its line."""
    lines = "".join(f"{name}: {value}\r\n" for name, value in fields.items())
    return f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n{lines}".encode("latin-1")


@lru_cache(maxsize=ANSWER_KINDS)
def _answer_lines(status: int, content_type: str, cache_control: str | None) -> bytes:
    """The status line, type, CORS and caching of an answer: a player's eight requests a
    second get a few kinds of answer, whose lines are made once."""
    headers = Answer(b"", content_type, cache_control, status).headers
    return _status_and_fields(status, {"Content-Type": content_type, **headers})


def _rest_of_head(length: int, rid: str, *, keep_alive: bool) -> bytes:
    """The rest of an answer's head after its type and caching: its length, request id,
    the headers every answer has, the date, and the blank line."""
    close = "" if keep_alive else "Connection: close\r\n"
    return (
        f"Content-Length: {length}\r\nX-Request-ID: {rid}\r\n{_ALWAYS_LINES}"
        f"Date: {_http_date(int(time.time()))}\r\n{close}\r\n"
    ).encode("latin-1")


@lru_cache(maxsize=1)
def _http_date(second: int) -> str:
    """The Date header's value: the same for every answer within a second."""
    return formatdate(second, usegmt=True)


async def send_head_and_body(
    socket: trio.socket.SocketType, head: bytes, body: bytes | memoryview
) -> None:
    """Send ``head`` then ``body`` as one write would, without joining them: a part is
    tens to hundreds of kilobytes, and the join was a fresh buffer and a copy of it for
    every request. Raises ``BrokenResourceError`` when the peer is gone.

    The first write is ``os.writev`` on the non-blocking socket (as the HTTP-FLV path's
    ``os.write``): it nearly always takes the whole answer, and ``socket.sendmsg``
    yields to the scheduler once more after a write that succeeded. Only what it could
    not take waits for the socket."""
    try:
        try:
            sent = os.writev(socket.fileno(), (head, body))  # closed: fileno -1, EBADF
        except BlockingIOError:
            sent = 0
        if sent < len(head):
            sent += await _send_rest(socket, memoryview(head)[sent:])
        rest = memoryview(body)[sent - len(head) :]
        if rest:
            await _send_rest(socket, rest)
    except OSError as exc:
        raise trio.BrokenResourceError(f"socket connection broken: {exc}") from exc


async def _send_rest(socket: trio.socket.SocketType, view: memoryview) -> int:
    sent = len(view)
    while view:
        view = view[await socket.send(view) :]
    return sent
