"""Live HLS over HTTP: ``/live/{channel}/master.m3u8``, media playlists and segments.

Playlists are served from memory (the text the writer last published, which it
writes to disk too); segments from their files, which appear only complete
(temporary name, then rename). The master playlist gives each player a playback
session token (``vs``) in its variant URIs, so that HLS viewers can be counted by
the media-playlist reloads they make (:mod:`trioflix.live.hls.playback_sessions`).
"""

from __future__ import annotations

import re
import secrets
from typing import TYPE_CHECKING, Final

import trio
from quart import Blueprint, Response, request

from trioflix.errors import APIError
from trioflix.state import state

if TYPE_CHECKING:
    from trioflix.live.hls.writer import HLSSession

__all__ = ["blueprint"]

blueprint = Blueprint("hls", __name__)

PLAYLIST_TYPE: Final = "application/vnd.apple.mpegurl"
SEGMENT_TYPE: Final = "video/mp2t"
# A player asks for the master playlist right after the publish; the first segment
# takes one target duration to exist. Waiting beats a 404 that players give up on.
MASTER_WAIT_S: Final = 10.0
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{8,32}$")
_RENDITION = re.compile(r"^(source|\d{2,4}p)$")
_SEGMENT = re.compile(r"^seg-(\d{1,18})-(\d{6,12})\.ts$")
_HEADERS: Final = {"Access-Control-Allow-Origin": "*"}


def _session_or_404(channel: str, session_id: int | None = None) -> HLSSession:
    session = state().hls.session(channel, session_id)
    if session is None:
        raise APIError(404, "not_live", f"{channel} has no live HLS stream")
    return session


def _playlist(text: str) -> Response:
    return Response(
        text,
        content_type=PLAYLIST_TYPE,
        headers={**_HEADERS, "Cache-Control": "no-cache"},
    )


def _viewer_key(token: str | None) -> str:
    if token and _TOKEN.match(token):
        return token
    # No token (a media playlist opened directly): count the client instead.
    agent = request.headers.get("User-Agent", "")[:200]
    return f"{request.remote_addr}|{agent}"


@blueprint.get("/live/<channel>/master.m3u8")
async def master(channel: str) -> Response:
    session = _session_or_404(channel)
    if not session.master_ready.is_set():
        with trio.move_on_after(MASTER_WAIT_S):
            await session.master_ready.wait()
        if not session.source.segments_added:
            raise APIError(404, "not_ready", f"{channel} has no HLS segment yet")
    token = request.args.get("vs")
    if not (token and _TOKEN.match(token)):
        token = secrets.token_urlsafe(12)
    return _playlist(session.render_master(f"?vs={token}"))


@blueprint.get("/live/<channel>/<rendition>/index.m3u8")
async def media_playlist(channel: str, rendition: str) -> Response:
    if not _RENDITION.match(rendition):
        raise APIError(404, "not_found", "no such rendition")
    session = _session_or_404(channel)
    playlist = session.rendition(rendition)
    if playlist is None:
        raise APIError(404, "not_found", "no such rendition")
    if not session.ended and not playlist.playlist.ended:
        session.hub.viewers.seen(
            session.stream,
            _viewer_key(request.args.get("vs")),
            trio.current_time(),
            session.target_duration_s,
        )
    return _playlist(playlist.text)


@blueprint.get("/live/<channel>/<rendition>/<segment>")
async def segment(channel: str, rendition: str, segment: str) -> Response:
    match = _SEGMENT.match(segment)
    if match is None or not _RENDITION.match(rendition):
        raise APIError(404, "not_found", "no such segment")
    session = _session_or_404(channel, int(match.group(1)))
    playlist = session.rendition(rendition)
    if playlist is None:
        raise APIError(404, "not_found", "no such segment")
    path = playlist.segment_path(segment)
    try:
        data = await trio.to_thread.run_sync(path.read_bytes, limiter=session.hub.limiter)
    except FileNotFoundError:
        raise APIError(404, "not_found", "segment expired or not yet written") from None
    return Response(
        data,
        content_type=SEGMENT_TYPE,
        # Names are unique per session and a file never changes once it exists.
        headers={**_HEADERS, "Cache-Control": "public, max-age=3600, immutable"},
    )
