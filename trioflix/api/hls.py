"""Live HLS over HTTP: ``/live/{channel}/master.m3u8``, media playlists and segments;
LL-HLS beside it: ``master-ll.m3u8``, ``{rendition}/ll.m3u8`` and its parts.

Playlists are served from memory (the text the writer last published, which it
writes to disk too); segments from their files, which appear only complete
(temporary name, then rename). The master playlist gives each player a playback
session token (``vs``) in its variant URIs, so that HLS viewers can be counted by
the media-playlist reloads they make (:mod:`trioflix.live.hls.playback_sessions`).

LL-HLS playlists block (RFC 8216bis 6.2.5.2): ``_HLS_msn``/``_HLS_part`` wait, on
the version events of :class:`~trioflix.live.hls.cmaf.CMAFRendition`, until the playlist
has that part, for at most three target durations (then 503); a request too far ahead
is a 400. A request for the part the preload hint names waits for it the same way.
Blocked requests per channel are bounded (503 beyond). LL-HLS is served by the host
that writes the channel's HLS; other hosts of a site answer 404 for it, and players
fall back to the MPEG-TS playlists, which every host serves.

In a cluster, a channel whose origin is another host is served from the origin's
HLS through :class:`~trioflix.live.edge.hls_proxy.HLSProxy` (coalesced and cached),
so every host answers with the same playlists and segments; the same goes for a
channel that left this host (a takeover), whose lingering output is then stale.
The proxy's fetches carry an internal token, so the origin does not count the
edge as a player; the edge counts its players for the site instead
(:meth:`~trioflix.live.hls.hub.HLSHub.player_seen`).
"""

from __future__ import annotations

import re
import secrets
import time
from typing import TYPE_CHECKING, Final, TypeVar, TypeVarTuple
from urllib.parse import quote

import trio
from quart import Blueprint, Response, request

from protocols import hls
from trioflix.cluster.pull_auth import PullTokenRejected
from trioflix.cluster.site import SiteUnavailable
from trioflix.errors import APIError
from trioflix.live.edge.hls_proxy import OriginUnavailable
from trioflix.live.edge.pull import PULL_TOKEN_HEADER
from trioflix.live.hls.cmaf import WaitersExhausted
from trioflix.state import state

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    from trioflix.cluster.lease import Origin
    from trioflix.live.edge.hls_proxy import Fetched
    from trioflix.live.hls.cmaf import CMAFRendition
    from trioflix.live.hls.writer import HLSSession

__all__ = ["blueprint"]

blueprint = Blueprint("hls", __name__)

T = TypeVar("T")
Args = TypeVarTuple("Args")

PLAYLIST_TYPE: Final = "application/vnd.apple.mpegurl"
SEGMENT_TYPE: Final = "video/mp2t"
FMP4_TYPE: Final = "video/mp4"
# RFC 8216bis 6.2.5.2: a blocking request that nothing satisfies within three target
# durations is answered 503.
BLOCK_TARGETS: Final = 3
# A player asks for the master playlist right after the publish; the first segment
# takes one target duration to exist. Waiting beats a 404 that players give up on.
MASTER_WAIT_S: Final = 10.0
# An edge asking the origin: a segment or playlist takes milliseconds; the master
# playlist may be held back up to MASTER_WAIT_S for the stream's first segment.
FETCH_LIMIT_S: Final = 5.0
MASTER_FETCH_LIMIT_S: Final = MASTER_WAIT_S + FETCH_LIMIT_S
# A segment's name never changes content: kept while it can be listed (a window of
# six segments of at most 10 s) and a little longer.
SEGMENT_KEEP_S: Final = 90.0
# An edge fetches the origin's master playlist with this token in its URIs and puts
# each player's own in its place.
_EDGE_TOKEN: Final = "edge-token-placeholder"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{8,32}$")
_RENDITION = re.compile(r"^(source|\d{2,4}p|track\d{1,3})$")  # track<N>: a multitrack publisher's
_SEGMENT = re.compile(r"^seg-(\d{1,18})-(\d{6,12})\.ts$")
# LL-HLS: ll-{session}-{msn}.m4s (a segment), ll-{session}-{msn}.{part}.m4s, init-{session}-{n}.mp4
_LL_FILE = re.compile(r"^ll-(\d{1,18})-(\d{1,18})(?:\.(\d{1,6}))?\.m4s$")
_LL_INIT = re.compile(r"^init-(\d{1,18})-\d{1,6}\.mp4$")
_HEADERS: Final = {"Access-Control-Allow-Origin": "*"}


def _session_or_404(channel: str, session_id: int | None = None) -> HLSSession:
    session = state().hls.session(channel, session_id)
    if session is None:
        raise APIError(404, "not_live", f"{channel} has no live HLS stream")
    return session


async def _elsewhere(channel: str, session: HLSSession | None) -> Origin | None:
    """The channel's origin if it is another host and this one has no live HLS of it."""
    if session is not None and not session.ended:
        return None
    try:
        return await state().site.remote_origin(channel)
    except SiteUnavailable:
        if session is not None:
            return None  # this host's lingering output is the best it knows
        raise APIError(
            503, "origin_unavailable", f"cannot tell which host serves {channel}"
        ) from None


async def _fetch(origin: Origin, channel: str, path: str, *, keep_s: float) -> Fetched:
    """``path`` (under the channel) of the origin's HLS, through this host's proxy."""
    app_state = state()
    proxy = app_state.hls_proxy
    if proxy is None:
        raise APIError(503, "origin_unavailable", "this host relays no HLS")
    url = f"{origin.advertise_url}/live/{quote(channel, safe='')}/{path}"
    headers = {PULL_TOKEN_HEADER: app_state.pull_tokens.issue(channel, time.time())}
    limit_s = MASTER_FETCH_LIMIT_S if path.startswith("master.m3u8") else FETCH_LIMIT_S
    try:
        return await proxy.get(url, keep_s=keep_s, limit_s=limit_s, headers=headers)
    except OriginUnavailable as exc:
        raise APIError(exc.status, exc.code, f"{channel}: {exc}") from None


def _passed_on(fetched: Fetched, body: bytes | None = None) -> Response:
    """The origin's answer as this host gives it: same status, body and headers."""
    return Response(
        fetched.body if body is None else body, fetched.status, headers=dict(fetched.headers)
    )


def _playlist_keep_s() -> float:
    # A playlist changes with every segment: a quarter of the target duration keeps a
    # player at most that far behind, while the origin sees one fetch per edge per
    # quarter target however many players reload.
    return state().settings.hls_segment / 4


def _internal(channel: str) -> bool:
    """The request is another host's fetch (it counts its players itself)."""
    token = request.headers.get(PULL_TOKEN_HEADER)
    if token is None:
        return False
    try:
        state().pull_tokens.verify(token, channel, time.time())
    except PullTokenRejected:
        return False
    return True


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
    token = request.args.get("vs")
    if not (token and _TOKEN.match(token)):
        token = secrets.token_urlsafe(12)
    local = state().hls.session(channel)
    origin = await _elsewhere(channel, local)
    if origin is not None:
        fetched = await _fetch(
            origin, channel, f"master.m3u8?vs={_EDGE_TOKEN}", keep_s=_playlist_keep_s()
        )
        if fetched.status != 200:
            return _passed_on(fetched)
        mine = fetched.body.replace(f"?vs={_EDGE_TOKEN}".encode(), f"?vs={token}".encode())
        return _passed_on(fetched, mine)
    session = _session_or_404(channel)
    if not session.master_ready.is_set():
        with trio.move_on_after(MASTER_WAIT_S):
            await session.master_ready.wait()
        if not session.source.segments_added:
            raise APIError(404, "not_ready", f"{channel} has no HLS segment yet")
    return _playlist(session.render_master(f"?vs={token}"))


@blueprint.get("/live/<channel>/<rendition>/index.m3u8")
async def media_playlist(channel: str, rendition: str) -> Response:
    if not _RENDITION.match(rendition):
        raise APIError(404, "not_found", "no such rendition")
    hub = state().hls
    origin = await _elsewhere(channel, hub.session(channel))
    if origin is not None:
        fetched = await _fetch(
            origin, channel, f"{rendition}/index.m3u8", keep_s=_playlist_keep_s()
        )
        if fetched.status == 200 and b"#EXT-X-ENDLIST" not in fetched.body:
            key = _viewer_key(request.args.get("vs"))
            hub.player_seen(channel, None, key, trio.current_time())
        return _passed_on(fetched)
    session = _session_or_404(channel)
    playlist = session.rendition(rendition)
    if playlist is None:
        raise APIError(404, "not_found", "no such rendition")
    if not session.ended and not playlist.playlist.ended and not _internal(channel):
        key = _viewer_key(request.args.get("vs"))
        hub.player_seen(channel, session, key, trio.current_time())
    return _playlist(playlist.text)


def _ll_or_404(session: HLSSession, rendition: str) -> CMAFRendition:
    ll = session.low_latency(rendition)
    if ll is None:
        raise APIError(404, "not_found", "no LL-HLS playlist for this rendition")
    return ll


@blueprint.get("/live/<channel>/master-ll.m3u8")
async def master_ll(channel: str) -> Response:
    """The LL-HLS master playlist: every rendition's LL playlist, with a playback token."""
    token = request.args.get("vs")
    if not (token and _TOKEN.match(token)):
        token = secrets.token_urlsafe(12)
    session = _session_or_404(channel)
    ll = _ll_or_404(session, session.source.name)
    if ll.playlist.last_part is None and not session.ended:
        first = hls.ReloadRequest(msn=ll.playlist.media_sequence, part=0)
        with trio.move_on_after(MASTER_WAIT_S):
            await ll.wait_playlist(first)
    if ll.playlist.last_part is None:
        raise APIError(404, "not_ready", f"{channel} has no LL-HLS part yet")
    return _playlist(session.render_master_ll(f"?vs={token}"))


@blueprint.get("/live/<channel>/<rendition>/ll.m3u8")
async def ll_playlist(channel: str, rendition: str) -> Response:
    """An LL-HLS media playlist; ``_HLS_msn``, ``_HLS_part`` block, ``_HLS_skip`` deltas."""
    try:
        wanted = hls.ReloadRequest.parse(
            request.args.get("_HLS_msn"),
            request.args.get("_HLS_part"),
            request.args.get("_HLS_skip"),
        )
    except hls.HLSError as exc:
        raise APIError(400, "bad_request", str(exc)) from None
    session = _session_or_404(channel)
    ll = _ll_or_404(session, rendition)
    if ll.playlist.reload(wanted) is not hls.Reload.READY:
        decision = await _block(session, ll.wait_playlist, wanted)
        if decision is hls.Reload.TOO_FAR:
            raise APIError(400, "too_far_ahead", "_HLS_msn/_HLS_part too far past the playlist")
    if not session.ended and not ll.playlist.ended and not _internal(channel):
        key = _viewer_key(request.args.get("vs"))
        state().hls.player_seen(channel, session, key, trio.current_time())
    return Response(
        ll.render(skip=wanted.skip, reports=session.ll_reports(rendition)),
        content_type=PLAYLIST_TYPE,
        headers={**_HEADERS, "Cache-Control": "no-cache"},
    )


async def _block(session: HLSSession, wait: Callable[[*Args], Awaitable[T]], *args: *Args) -> T:
    """Run a blocking wait of an LL-HLS request: counted against the channel's bound,
    limited to three target durations (RFC 8216bis 6.2.5.2); 503 past either."""
    try:
        with (
            session.ll_waiters.admit(),
            trio.move_on_after(BLOCK_TARGETS * session.target_duration_s),
        ):
            return await wait(*args)
    except WaitersExhausted:
        raise APIError(
            503, "too_many_waiters", "too many blocked requests on this channel"
        ) from None
    raise APIError(503, "not_yet", "nothing new within three target durations")


async def _ll_file(session: HLSSession, rendition: str, name: str) -> Response:
    ll = _ll_or_404(session, rendition)
    match = _LL_FILE.match(name)
    if match is None:
        data = ll.init_segment(name)
    elif match.group(3) is None:
        data = ll.segment(int(match.group(2)))
    else:
        data = await _block(session, ll.wait_part, int(match.group(2)), int(match.group(3)))
    if data is None:
        raise APIError(404, "not_found", "part expired, not yet made, or never to be")
    return Response(
        data,
        content_type=FMP4_TYPE,
        # A name is never reused with other bytes (the session and numbers are in it).
        headers={**_HEADERS, "Cache-Control": "public, max-age=3600, immutable"},
    )


@blueprint.delete("/live/<channel>/players/<token>")
async def player_left(channel: str, token: str) -> Response:
    """A player ends its playback session ``token`` (the ``vs`` of its master playlist):
    it stops counting as a viewer now rather than once its reloads are missed. The
    token is the player's secret, so no other client can end it."""
    if not _TOKEN.match(token):
        raise APIError(404, "not_found", "no such playback session")
    await state().hls.player_left(channel, token)
    return Response("", status=204, headers=_HEADERS)


@blueprint.get("/live/<channel>/<rendition>/<segment>")
async def segment(channel: str, rendition: str, segment: str) -> Response:
    ll_match = _LL_FILE.match(segment) or _LL_INIT.match(segment)
    if ll_match is not None and _RENDITION.match(rendition):
        ll_session = state().hls.session(channel, int(ll_match.group(1)))
        if ll_session is None:
            raise APIError(404, "not_found", "no such part")
        return await _ll_file(ll_session, rendition, segment)
    match = _SEGMENT.match(segment)
    if match is None or not _RENDITION.match(rendition):
        raise APIError(404, "not_found", "no such segment")
    session = state().hls.session(channel, int(match.group(1)))
    playlist = session.rendition(rendition) if session is not None else None
    # A segment's name is unique across the hosts of a site (its media sequence number
    # goes on from host to host), so a file this host has is the one to serve, even
    # of a session that went on elsewhere.
    data = await _read_segment(playlist.segment_path(segment)) if playlist else None
    if data is None:
        origin = await _elsewhere(channel, session)
        if origin is not None:
            fetched = await _fetch(origin, channel, f"{rendition}/{segment}", keep_s=SEGMENT_KEEP_S)
            return _passed_on(fetched)
        if playlist is None:
            raise APIError(404, "not_found", "no such segment")
        raise APIError(404, "not_found", "segment expired or not yet written")
    return Response(
        data,
        content_type=SEGMENT_TYPE,
        # Names are unique per session and a file never changes once it exists.
        headers={**_HEADERS, "Cache-Control": "public, max-age=3600, immutable"},
    )


async def _read_segment(path: Path) -> bytes | None:
    try:
        return await trio.to_thread.run_sync(path.read_bytes, limiter=state().hls.limiter)
    except FileNotFoundError:
        return None
