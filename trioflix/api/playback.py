"""Live playout over HTTP: HTTP-FLV and WS-FLV at ``/live/{channel}.flv``.

Both send the FLV header, then the channel's start-up packets (metadata,
sequence headers, current GOP), then live tags, one write per batch. The tags
are the bytes each packet encoded once on arrival, shared by every viewer.

These are the ASGI versions, used under plain hypercorn and for a request that
arrives on a kept-alive connection; ``trioflix serve`` answers a new
connection's request for a live channel in :mod:`trioflix.direct.routes`, on the
socket itself.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import trio
from quart import Blueprint, Response, request, websocket

from trioflix.errors import APIError
from trioflix.live.channel.fanout import Transport
from trioflix.live.channel.packets import flv_bytes, flv_stream_header
from trioflix.live.channel.viewer_lifecycle import watching
from trioflix.state import state

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from trioflix.live.channel.stream import LiveStream
    from trioflix.live.channel.webhooks import Webhooks

__all__ = ["blueprint"]

logger = logging.getLogger(__name__)

blueprint = Blueprint("playback", __name__)

WS_SEND_TIMEOUT_S = 20.0  # a websocket viewer that takes nothing for this long is gone


def _live_or_404(channel: str) -> LiveStream:
    live = state().registry.get(channel)
    if live is None:
        raise APIError(404, "not_live", f"{channel} is not live")
    return live


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


@blueprint.get("/live/<channel>.flv")
async def http_flv(channel: str) -> Response:
    live = _live_or_404(channel)
    response = Response(
        _flv_body(live, request.remote_addr, state().webhooks),
        content_type="video/x-flv",
        headers={"Cache-Control": "no-cache", "Access-Control-Allow-Origin": "*"},
    )
    response.timeout = None  # a live stream has no end time
    return response


@blueprint.websocket("/live/<channel>.flv")
async def ws_flv(channel: str) -> None:
    live = state().registry.get(channel)
    if live is None:
        await websocket.close(4404, f"{channel} is not live")
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
