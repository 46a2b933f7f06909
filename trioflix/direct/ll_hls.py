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

import time
from dataclasses import dataclass
from email.utils import formatdate
from functools import partial
from http import HTTPStatus
from typing import TYPE_CHECKING, Final

from trioflix.access import record_request
from trioflix.api import ll_hls
from trioflix.api.ll_hls import MEDIA_HEADERS, Player, is_ll_file, playback_token
from trioflix.api.security_headers import ALWAYS
from trioflix.direct.front import send_all
from trioflix.errors import APIError, error_body
from trioflix.live.edge.pull import PULL_TOKEN_HEADER
from trioflix.logs import new_request_id, request_id

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import trio

    from trioflix.api.ll_hls import Answer
    from trioflix.direct.front import Head
    from trioflix.state import AppState

    Serve = Callable[[AppState, Head, Player], Awaitable[Answer]]

__all__ = ["LLTarget", "ll_hls_target", "serve_ll_hls"]

# The route names Quart gives them, for /metrics and the access log.
MASTER_ROUTE: Final = "/live/<channel>/master-ll.m3u8"
PLAYLIST_ROUTE: Final = "/live/<channel>/<rendition>/ll.m3u8"
FILE_ROUTE: Final = "/live/<channel>/<rendition>/<segment>"


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
        headers = {"Content-Type": answer.content_type, **answer.headers}
    except APIError as exc:
        status, body = exc.status, error_body(exc.code, exc.message, field=exc.field)
        headers = {"Content-Type": "application/json", **exc.headers, **MEDIA_HEADERS}
    finally:
        request_id.reset(token)
    keep_alive = "close" not in head.headers.get("connection", "").lower()
    fields = {
        **headers,
        "Content-Length": str(len(body)),
        "X-Request-ID": rid,
        **ALWAYS,
        "Date": formatdate(usegmt=True),
    }
    if not keep_alive:
        fields["Connection"] = "close"
    lines = "".join(f"{name}: {value}\r\n" for name, value in fields.items())
    response_head = f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n{lines}\r\n"
    await send_all(stream.socket, response_head.encode("latin-1") + body)
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
