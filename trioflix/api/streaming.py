"""Going live: ``/api/streaming/{start,stop,status}`` and the public ``/api/channels``."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
from quart import Blueprint, g, request

from trioflix.api._http import Body, json_body, require_user
from trioflix.cluster.site import SiteUnavailable
from trioflix.errors import APIError
from trioflix.live.channel.fanout import VIEWER_PROTOCOLS
from trioflix.live.channel.ingest import ingest_figures
from trioflix.live.channel.registry import STOPPED_BY_STREAMER
from trioflix.live.hls.playback_sessions import PROTOCOL as HLS_PROTOCOL
from trioflix.state import state
from trioflix.store import live_sessions, users

if TYPE_CHECKING:
    from trioflix.live.channel.stream import LiveStream
    from trioflix.store.live_sessions import LiveSession

__all__ = ["blueprint", "playback_urls"]

blueprint = Blueprint("streaming", __name__)

Title = Annotated[str, msgspec.Meta(max_length=live_sessions.MAX_TITLE)]
Description = Annotated[str, msgspec.Meta(max_length=live_sessions.MAX_DESCRIPTION)]


class StartBody(Body):
    title: Title | None = None
    description: Description | None = None


def playback_urls(channel: str) -> dict[str, Any]:
    """Where viewers watch ``channel``, as seen from the requesting client."""
    host = request.host
    hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    scheme = request.scheme
    ws_scheme = "wss" if scheme == "https" else "ws"
    urls: dict[str, Any] = {
        "http_flv": f"{scheme}://{host}/live/{channel}.flv",
        "ws_flv": f"{ws_scheme}://{host}/live/{channel}.flv",
        "hls": f"{scheme}://{host}/live/{channel}/master.m3u8",
    }
    port = _rtmp_port()
    if port is not None:
        urls["rtmp"] = f"rtmp://{hostname}:{port}/live/{channel}"
    # LL-HLS is offered where a player gets it from every host: live here, or in a
    # cluster on an origin that serves it, which this host relays (api/hls_relay.py);
    # until the origin's record is read, one set up as this host is.
    # WHEP only live on a single host (only the origin serves it, and a balancer may
    # send the next request to another host), for a stream WebRTC can carry (no
    # B-frames, H.264). Players choose them by their presence.
    app_state = state()
    settings = app_state.settings
    live = app_state.registry.get(channel)
    if _ll_hls_offered(channel, live):
        urls["ll_hls"] = f"{scheme}://{host}/live/{channel}/master-ll.m3u8"
    if live is not None and settings.redis_url is None:
        if app_state.whep.refusal(live) is None:
            urls["whep"] = f"{scheme}://{host}/live/{channel}/whep"
        # A B-frame source is not, but the ladder's rungs are: they are listed regardless.
        playable = app_state.whep.playable(live)
        if playable:
            urls["whep_renditions"] = [
                {"name": name, "width": stream.stats.width, "height": stream.stats.height}
                for name, stream in playable
            ]
    return urls


def _ll_hls_offered(channel: str, live: LiveStream | None) -> bool:
    """Whether this host serves ``channel``'s LL-HLS (``live``: its stream here, if any)."""
    app_state = state()
    if live is not None:
        return app_state.settings.hls and app_state.settings.hls_part is not None
    return app_state.hls_proxy is not None and app_state.site.origin_serves_ll_hls(channel)


def _rtmp_port() -> int | None:
    """The RTMP port clients reach: the balancer's in front of a site, else this host's."""
    app_state = state()
    if app_state.rtmp_address is None:
        return None
    return app_state.settings.public_rtmp_port or app_state.rtmp_address[1]


def _viewers(channel: str) -> dict[str, int]:
    """The channel's viewers on the whole site by protocol: every protocol this server
    serves, 0 included, so that the shape does not change as viewers come and go or the
    channel goes offline."""
    app_state = state()
    counts = dict.fromkeys(VIEWER_PROTOCOLS, 0)
    if app_state.settings.hls:
        counts[HLS_PROTOCOL] = 0
    here = app_state.channels.viewers_here(channel)
    counts.update(app_state.site.viewers(channel, here) or {})
    return {"total": sum(counts.values()), **counts}


async def _stopped(user_id: int) -> dict[str, Any] | None:
    """The streamer's stop that refuses the encoder now: when, until when (``None``:
    until they start again) and the reason the encoder is given."""
    stop = await state().registry.stream_stop(user_id)
    if stop is None:
        return None
    return {"at": stop.at, "until": stop.until, "reason": STOPPED_BY_STREAMER}


async def _status(user_id: int, channel: str) -> dict[str, Any]:
    app_state = state()
    session = await live_sessions.active_session(app_state.db, user_id)
    last = session or await live_sessions.last_session(app_state.db, user_id)
    live = app_state.registry.get(channel)
    local_state = app_state.registry.state_of(channel)
    state_name = local_state or (session.state if session is not None else "offline")
    started = session.started_at if session is not None else None
    rtmp_port = _rtmp_port()
    return {
        "state": state_name,
        "channel": channel,
        "session": session.public() if session is not None else None,
        # The newest session, ended or not: the studio's title and description for
        # the next stream default to its.
        "last_session": last.public() if last is not None else None,
        "stopped": await _stopped(user_id),
        "uptime_s": round(time.time() - started, 1) if started and state_name != "ready" else 0,
        "ingest": ingest_figures(live) if live is not None else app_state.site.ingest(channel),
        "viewers": _viewers(channel),
        "playback": playback_urls(channel),
        "publish": {
            "server": f"rtmp://{request.host.rsplit(':', 1)[0]}:{rtmp_port}/live"
            if rtmp_port
            else None
        },
    }


@blueprint.post("/api/streaming/start")
@require_user
async def start() -> dict[str, Any]:
    """Set the title and description; the session goes live when the encoder publishes.

    Also ends a stop (``POST /api/streaming/stop``): the encoder may publish again.
    """
    body = await json_body(StartBody, allow_empty=True)
    await live_sessions.prepare_session(
        state().db, g.user.id, title=body.title, description=body.description
    )
    return await _status(g.user.id, g.user.name)


@blueprint.get("/api/streaming/start")
@blueprint.get("/api/streaming/status")
@require_user
async def status() -> dict[str, Any]:
    return await _status(g.user.id, g.user.name)


@blueprint.post("/api/streaming/stop")
@require_user
async def stop() -> dict[str, Any]:
    """End the session now and disconnect the publisher, on whichever host it publishes to.

    The channel stays ended: its encoder is refused until the streamer starts again
    (``POST /api/streaming/start``) or the stop cooldown passes. The stop is stored
    before the publisher is disconnected, so an encoder reconnecting at once (on any
    host of the site) is refused too.
    """
    app_state = state()
    reason = "stopped by the streamer"
    previous = await live_sessions.stopped_at(app_state.db, g.user.id)
    await live_sessions.record_stop(app_state.db, g.user.id, time.time())
    stopped = await app_state.registry.stop_channel(g.user.name, reason)
    if not stopped:
        try:
            stopped = await app_state.site.stop_on_origin(g.user.name, reason)
        except SiteUnavailable as exc:
            # Ending the stored session alone would leave the encoder on the air.
            raise APIError(
                503, "origin_unavailable", str(exc), headers={"Retry-After": "1"}
            ) from None
    if not stopped:
        session = await live_sessions.active_session(app_state.db, g.user.id)
        if session is None:
            # Nothing was stopped, so the encoder is refused no more than before.
            if previous is None:
                await live_sessions.clear_stop(app_state.db, g.user.id)
            else:
                await live_sessions.record_stop(app_state.db, g.user.id, previous)
            raise APIError(409, "not_live", "there is no live or prepared session to stop")
        await live_sessions.end_session(app_state.db, session.id, "stopped by the streamer")
    last = await live_sessions.last_session(app_state.db, g.user.id)
    return {
        "state": "offline",
        "session": last.public() if last is not None else None,
        "stopped": await _stopped(g.user.id),
    }


def _channel_entry(session: LiveSession, channel: str, display: str) -> dict[str, Any]:
    return {
        "name": channel,
        "display_name": display,
        "title": session.title,
        "started_at": session.started_at,
        "viewers": _viewers(channel)["total"],
        "playback": playback_urls(channel),
        "thumbnail": f"/live/{channel}/thumbnail.jpg",
    }


@blueprint.get("/api/channels")
async def channels() -> dict[str, Any]:
    """Who is live now (public)."""
    entries = await live_sessions.live_sessions(state().db)
    return {"channels": [_channel_entry(*entry) for entry in entries]}


@blueprint.get("/api/channels/<name>")
async def channel(name: str) -> dict[str, Any]:
    app_state = state()
    user = await users.get_user_by_name(app_state.db, name)
    if user is None:
        raise APIError(404, "not_found", "no such channel")
    session = await live_sessions.last_session(app_state.db, user.id)
    is_live = session is not None and session.state == "live"
    entry: dict[str, Any] = {
        "name": user.name,
        "display_name": user.display_name,
        "state": app_state.registry.state_of(user.name)
        or (session.state if session else "offline"),
        "live": is_live,
        "session": session.public() if session is not None else None,
        "viewers": _viewers(user.name)["total"],
    }
    if is_live:
        entry["playback"] = playback_urls(user.name)
    return entry
