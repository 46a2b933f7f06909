"""Live playout over HTTP: HTTP-FLV and WS-FLV at ``/live/{channel}.flv``.

Both send the FLV header, then the channel's start-up packets (metadata,
sequence headers, current GOP), then live tags, one write per batch. The tags
are the bytes each packet encoded once on arrival, shared by every viewer.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import trio
from quart import Blueprint, Response, request, websocket

from trioflix.app import state
from trioflix.errors import APIError
from trioflix.live.fanout import Protocol
from trioflix.live.packets import flv_stream_header

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from trioflix.live.fanout import Subscriber
    from trioflix.live.stream import LiveStream
    from trioflix.live.webhooks import Webhooks

__all__ = ["blueprint"]

logger = logging.getLogger(__name__)

blueprint = Blueprint("playback", __name__)

WS_SEND_TIMEOUT_S = 20.0  # a websocket viewer that takes nothing for this long is gone


def _live_or_404(channel: str) -> LiveStream:
    live = state().registry.get(channel)
    if live is None:
        raise APIError(404, "not_live", f"{channel} is not live")
    return live


def _play_event(live: LiveStream, protocol: Protocol) -> dict[str, Any]:
    return {
        "channel": live.channel,
        "session_id": live.session_id,
        "protocol": protocol.value,
        "remote": request.remote_addr if protocol is Protocol.HTTP_FLV else websocket.remote_addr,
    }


async def _flv_body(
    live: LiveStream, subscriber: Subscriber, event: dict[str, Any], webhooks: Webhooks | None
) -> AsyncIterator[bytes]:
    # Runs after the request context is gone (Quart streams the body later):
    # everything it needs is passed in.
    try:
        yield flv_stream_header()
        while batch := await subscriber.next_batch():
            data = b"".join(packet.flv_tag for packet in batch)
            live.count_sent(len(data))
            yield data
    finally:
        live.unsubscribe(subscriber)
        if webhooks is not None:
            webhooks.notify("play.end", event)


@blueprint.get("/live/<channel>.flv")
async def http_flv(channel: str) -> Response:
    live = _live_or_404(channel)
    subscriber = live.subscribe(Protocol.HTTP_FLV)
    event = _play_event(live, Protocol.HTTP_FLV)
    if (webhooks := state().webhooks) is not None:
        webhooks.notify("play.start", event)
    response = Response(
        _flv_body(live, subscriber, event, webhooks),
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
    subscriber = live.subscribe(Protocol.WS_FLV)
    event = _play_event(live, Protocol.WS_FLV)
    webhooks = state().webhooks
    if webhooks is not None:
        webhooks.notify("play.start", event)
    try:
        await websocket.send(flv_stream_header())
        while batch := await subscriber.next_batch():
            data = b"".join(packet.flv_tag for packet in batch)
            with trio.fail_after(WS_SEND_TIMEOUT_S):
                await websocket.send(data)
            live.count_sent(len(data))
        await websocket.close(1000, f"{channel} went offline")
    finally:
        live.unsubscribe(subscriber)
        if webhooks is not None:
            webhooks.notify("play.end", event)
