"""Live playout over HTTP: HTTP-FLV and WS-FLV at ``/live/{channel}.flv``, and the
internal pull other hosts of the site relay a channel with.

Each sends the FLV header, then the channel's start-up packets (metadata,
sequence headers, current GOP), then live tags, one write per batch. The tags
are the bytes each packet encoded once on arrival, shared by every viewer. A
viewer finds the channel here or, in a cluster, relayed from its origin
(:class:`~trioflix.live.edge.lookup.LiveChannels`).

These are the ASGI versions, used under plain hypercorn and for a request that
arrives on a kept-alive connection; ``trioflix serve`` answers a new
connection's request for a live channel, and an edge's pull, in
:mod:`trioflix.direct.routes`, on the socket itself.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import trio
from quart import Blueprint, Response, request, websocket

from trioflix.cluster.pull_auth import PullTokenRejected
from trioflix.errors import APIError
from trioflix.live.channel.fanout import Transport
from trioflix.live.channel.packets import flv_bytes, flv_stream_header
from trioflix.live.channel.tracks import TrackNotFound, requested_track
from trioflix.live.channel.viewer_lifecycle import watching
from trioflix.live.edge.pull import PULL_TOKEN_HEADER, session_headers
from trioflix.live.edge.pull_source import pullable, serving_pull, still_pullable
from trioflix.state import state

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from trioflix.live.channel.stream import LiveStream
    from trioflix.live.channel.webhooks import Webhooks
    from trioflix.metrics import Metrics

__all__ = ["blueprint"]

logger = logging.getLogger(__name__)

blueprint = Blueprint("playback", __name__)

WS_SEND_TIMEOUT_S = 20.0  # a websocket viewer that takes nothing for this long is gone


def _not_live(channel: str) -> APIError:
    return APIError(404, "not_live", f"{channel} is not live")


async def _flv_body(
    live: LiveStream, remote: str | None, webhooks: Webhooks | None
) -> AsyncIterator[bytes]:
    # Runs after the request context is gone (Quart streams the body later):
    # everything it needs is passed in.
    with watching(live, Transport.HTTP_FLV, remote, webhooks) as subscriber:
        yield flv_stream_header()
        while batch := await subscriber.next_batch():
            data = flv_bytes(batch)
            live.count_sent(len(data))
            yield data


def _track(live: LiveStream) -> LiveStream:
    """The track of a multitrack publisher the ``track`` query parameter asks for."""
    try:
        return requested_track(live, request.args.get("track"))
    except TrackNotFound as exc:
        raise APIError(404, "no_such_track", str(exc)) from None


@blueprint.get("/live/<channel>.flv")
async def http_flv(channel: str) -> Response:
    live = await state().channels.find(channel)
    if live is None:
        raise _not_live(channel)
    live = _track(live)
    response = Response(
        _flv_body(live, request.remote_addr, state().webhooks),
        content_type="video/x-flv",
        headers={"Cache-Control": "no-cache", "Access-Control-Allow-Origin": "*"},
    )
    response.timeout = None  # a live stream has no end time
    return response


@blueprint.websocket("/live/<channel>.flv")
async def ws_flv(channel: str) -> None:
    live = await state().channels.find(channel)
    if live is None:
        await websocket.close(4404, f"{channel} is not live")
        return
    try:
        live = requested_track(live, websocket.args.get("track"))
    except TrackNotFound as exc:
        await websocket.close(4404, str(exc))
        return
    await websocket.accept()
    with watching(live, Transport.WS_FLV, websocket.remote_addr, state().webhooks) as subscriber:
        await websocket.send(flv_stream_header())
        while batch := await subscriber.next_batch():
            data = flv_bytes(batch)
            with trio.fail_after(WS_SEND_TIMEOUT_S):
                await websocket.send(data)
            live.count_sent(len(data))
        await websocket.close(1000, f"{channel} went offline")


async def _pull_body(
    live: LiveStream, metrics: Metrics, serving: Callable[[], bool]
) -> AsyncIterator[bytes]:
    # It ends when this host stops serving the channel to the site (its origin lease
    # lapsed): the edge then follows the lease, or ends its relay.
    with serving_pull(live, metrics) as subscriber:
        yield flv_stream_header()
        while serving() and (batch := await subscriber.next_batch()):
            data = flv_bytes(batch)
            live.count_sent(len(data))
            yield data


@blueprint.get("/internal/live/<channel>.flv")
async def internal_pull(channel: str) -> Response:
    """Another host of the site relays a channel published here (an edge pull).

    Only with a pull token made with the site's secret, for this channel, unexpired;
    it serves only a channel live on this host (never one relayed from elsewhere)
    while this host holds the channel's origin lease.
    """
    app_state = state()
    try:
        app_state.pull_tokens.verify(
            request.headers.get(PULL_TOKEN_HEADER, ""), channel, time.time()
        )
    except PullTokenRejected as exc:
        raise APIError(403, "pull_refused", str(exc)) from None
    registry = app_state.registry
    live = pullable(registry, channel)
    if live is None:
        raise _not_live(channel)
    response = Response(
        _pull_body(live, app_state.metrics, lambda: still_pullable(registry, live)),
        content_type="video/x-flv",
        headers={"Cache-Control": "no-cache", **session_headers(live)},
    )
    response.timeout = None
    return response
