"""Live HLS over HTTP: ``/live/{channel}/master.m3u8``, media playlists and segments;
LL-HLS beside it: ``master-ll.m3u8``, ``{rendition}/ll.m3u8`` and its parts.

Playlists are served from memory (the text the writer last published, which it
writes to disk too); segments from their files, which appear only complete
(temporary name, then rename). The master playlist gives each player a playback
session token (``vs``) in its variant URIs, so that HLS viewers can be counted by
the media-playlist reloads they make (:mod:`trioflix.live.hls.playback_sessions`).

The LL-HLS answers are :mod:`trioflix.api.ll_hls`'s, which ``trioflix serve``
gives on the socket too (:mod:`trioflix.direct.ll_hls`).

In a cluster, a channel whose origin is another host is served from the origin's
HLS, MPEG-TS and LL-HLS alike, through :mod:`trioflix.api.hls_relay` (coalesced and
cached), so every host answers with the same playlists and segments; the same goes
for a channel that left this host (a takeover), whose lingering output is then
stale. The edge counts its players for the site
(:meth:`~trioflix.live.hls.hub.HLSHub.player_seen`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final, TypeVar, TypeVarTuple

import trio
from quart import Blueprint, Response, request

from trioflix.api import ll_hls
from trioflix.api.hls_relay import FETCH_LIMIT_S, elsewhere, fetch, fetch_master, playlist_keep_s
from trioflix.api.ll_hls import (
    IMMUTABLE,
    MASTER_WAIT_S,
    MEDIA_HEADERS,
    NO_CACHE,
    PLAYLIST_TYPE,
    RENDITION,
    Answer,
    Player,
    is_ll_file,
    playback_token,
    session_or_404,
    valid_token,
)
from trioflix.errors import APIError
from trioflix.live.edge.pull import PULL_TOKEN_HEADER
from trioflix.state import state

if TYPE_CHECKING:
    from pathlib import Path

    from trioflix.live.edge.hls_proxy import Fetched

__all__ = ["blueprint"]

blueprint = Blueprint("hls", __name__)

T = TypeVar("T")
Args = TypeVarTuple("Args")

SEGMENT_TYPE: Final = "video/mp2t"
# The master playlist may be held back up to MASTER_WAIT_S for the stream's first segment.
MASTER_FETCH_LIMIT_S: Final = MASTER_WAIT_S + FETCH_LIMIT_S
# A segment's name never changes content: kept while it can be listed (a window of
# six segments of at most 10 s) and a little longer.
SEGMENT_KEEP_S: Final = 90.0
_SEGMENT = re.compile(r"^seg-(\d{1,18})-(\d{6,12})\.ts$")


def _passed_on(fetched: Fetched) -> Response:
    """The origin's answer as this host gives it: same status, body and headers."""
    return Response(fetched.body, fetched.status, headers=dict(fetched.headers))


def _player() -> Player:
    """The requesting player, for viewer counting."""
    return Player(
        token=request.args.get("vs"),
        client=request.remote_addr,
        user_agent=request.headers.get("User-Agent", ""),
        pull_token=request.headers.get(PULL_TOKEN_HEADER),
    )


def _playlist(text: str) -> Response:
    return _answered(Answer(text.encode(), PLAYLIST_TYPE, NO_CACHE))


def _answered(answer: Answer) -> Response:
    body = answer.body
    return Response(
        body if isinstance(body, bytes) else body.tobytes(),  # Quart takes bytes only
        answer.status,
        content_type=answer.content_type,
        headers=answer.headers,
    )


@blueprint.get("/live/<channel>/master.m3u8")
async def master(channel: str) -> Response:
    token = playback_token(request.args.get("vs"))
    app_state = state()
    origin = await elsewhere(app_state, channel, app_state.hls.session(channel))
    if origin is not None:
        fetched = await fetch_master(
            app_state, origin, channel, "master.m3u8", token, limit_s=MASTER_FETCH_LIMIT_S
        )
        return _passed_on(fetched)
    session = session_or_404(state(), channel)
    if not session.master_ready.is_set():
        with trio.move_on_after(ll_hls.MASTER_WAIT_S):  # read at each call: tests shorten it
            await session.master_ready.wait()
        if not session.source.segments_added:
            raise APIError(404, "not_ready", f"{channel} has no HLS segment yet")
    return _playlist(session.render_master(f"?vs={token}"))


@blueprint.get("/live/<channel>/<rendition>/index.m3u8")
async def media_playlist(channel: str, rendition: str) -> Response:
    if not RENDITION.match(rendition):
        raise APIError(404, "not_found", "no such rendition")
    app_state = state()
    hub = app_state.hls
    origin = await elsewhere(app_state, channel, hub.session(channel))
    if origin is not None:
        fetched = await fetch(
            app_state,
            origin,
            channel,
            f"{rendition}/index.m3u8",
            keep_s=playlist_keep_s(app_state),
            limit_s=FETCH_LIMIT_S,
        )
        if fetched.status == 200 and b"#EXT-X-ENDLIST" not in fetched.body:
            hub.player_seen(channel, None, _player().key(), trio.current_time())
        return _passed_on(fetched)
    session = session_or_404(state(), channel)
    playlist = session.rendition(rendition)
    if playlist is None:
        raise APIError(404, "not_found", "no such rendition")
    player = _player()
    live = not session.ended and not playlist.playlist.ended
    if live and not player.is_internal(state(), channel):
        hub.player_seen(channel, session, player.key(), trio.current_time())
    return _playlist(playlist.text)


@blueprint.get("/live/<channel>/master-ll.m3u8")
async def master_ll(channel: str) -> Response:
    """The LL-HLS master playlist: every rendition's LL playlist, with a playback token."""
    token = playback_token(request.args.get("vs"))
    return _answered(await ll_hls.master_ll(state(), channel, token))


@blueprint.get("/live/<channel>/<rendition>/ll.m3u8")
async def ll_playlist(channel: str, rendition: str) -> Response:
    """An LL-HLS media playlist; ``_HLS_msn``, ``_HLS_part`` block, ``_HLS_skip`` deltas."""
    args = request.args
    query = (args.get("_HLS_msn"), args.get("_HLS_part"), args.get("_HLS_skip"))
    return _answered(await ll_hls.ll_playlist(state(), channel, rendition, query, _player()))


@blueprint.delete("/live/<channel>/players/<token>")
async def player_left(channel: str, token: str) -> Response:
    """A player ends its playback session ``token`` (the ``vs`` of its master playlist):
    it stops counting as a viewer now rather than once its reloads are missed. The
    token is the player's secret, so no other client can end it."""
    if not valid_token(token):
        raise APIError(404, "not_found", "no such playback session")
    await state().hls.player_left(channel, token)
    return Response("", status=204, headers=MEDIA_HEADERS)


@blueprint.get("/live/<channel>/<rendition>/<segment>")
async def segment(channel: str, rendition: str, segment: str) -> Response:
    if is_ll_file(rendition, segment):
        return _answered(await ll_hls.ll_file(state(), channel, rendition, segment))
    match = _SEGMENT.match(segment)
    if match is None or not RENDITION.match(rendition):
        raise APIError(404, "not_found", "no such segment")
    session = state().hls.session(channel, int(match.group(1)))
    playlist = session.rendition(rendition) if session is not None else None
    # A segment's name is unique across the hosts of a site (its media sequence number
    # goes on from host to host), so a file this host has is the one to serve, even
    # of a session that went on elsewhere.
    data = await _read_segment(playlist.segment_path(segment)) if playlist else None
    if data is None:
        origin = await elsewhere(state(), channel, session)
        if origin is not None:
            fetched = await fetch(
                state(),
                origin,
                channel,
                f"{rendition}/{segment}",
                keep_s=SEGMENT_KEEP_S,
                limit_s=FETCH_LIMIT_S,
            )
            return _passed_on(fetched)
        if playlist is None:
            raise APIError(404, "not_found", "no such segment")
        raise APIError(404, "not_found", "segment expired or not yet written")
    # Names are unique per session and a file never changes once it exists.
    return _answered(Answer(data, SEGMENT_TYPE, IMMUTABLE))


async def _read_segment(path: Path) -> bytes | None:
    try:
        return await trio.to_thread.run_sync(path.read_bytes, limiter=state().hls.limiter)
    except FileNotFoundError:
        return None
