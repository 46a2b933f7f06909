"""LL-HLS answers, whichever path a request takes: ``master-ll.m3u8``,
``{rendition}/ll.m3u8`` (blocking reloads) and its parts, segments and init segments.

A low-latency player makes about eight times the requests of a classic one (a
blocking reload and a part every part duration), so these answers come from
memory (:class:`~trioflix.live.hls.cmaf.CMAFRendition`), with no database or disk
access. ``trioflix serve`` answers them on the socket
(:mod:`trioflix.direct.ll_hls`), other servers and HTTP/2 through Quart
(:mod:`trioflix.api.hls`): both call the functions here and only frame the
:class:`Answer` (or the :class:`~trioflix.errors.APIError`) differently.

Playlists block (RFC 8216bis 6.2.5.2): ``_HLS_msn``/``_HLS_part`` wait, on the
version events of :class:`~trioflix.live.hls.cmaf.CMAFRendition`, until the
playlist has that part, for at most three target durations (then 503); a request
too far ahead is a 400. A request for the part the preload hint names waits for
it the same way. Blocked requests per channel are bounded (503 beyond).

In a cluster, a host that does not write the channel's HLS relays the origin's
(:mod:`trioflix.api.hls_relay`): the same request, its delivery directives
included, goes to the origin, one fetch for every player asking the same thing
at once, and the origin's answer (its JSON errors too) is this host's. The
player's playback token stays on this host, which counts it; the origin's
master playlist is fetched once with a placeholder in its place.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Final, TypeGuard, TypeVar, TypeVarTuple

import trio

from protocols import hls
from trioflix.api.hls_relay import FETCH_LIMIT_S, elsewhere, fetch, fetch_master, playlist_keep_s
from trioflix.cluster.pull_auth import PullTokenRejected
from trioflix.errors import APIError
from trioflix.live.hls.cmaf import WaitersExhausted

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from trioflix.cluster.lease import Origin
    from trioflix.live.edge.hls_proxy import Fetched
    from trioflix.live.hls.cmaf import CMAFRendition
    from trioflix.live.hls.writer import HLSSession
    from trioflix.state import AppState

__all__ = [
    "BLOCK_TARGETS",
    "IMMUTABLE",
    "MASTER_WAIT_S",
    "MEDIA_HEADERS",
    "NO_CACHE",
    "PLAYLIST_TYPE",
    "RENDITION",
    "Answer",
    "Player",
    "block",
    "is_ll_file",
    "ll_file",
    "ll_playlist",
    "master_ll",
    "playback_token",
    "session_or_404",
    "valid_token",
]

T = TypeVar("T")
Args = TypeVarTuple("Args")

PLAYLIST_TYPE: Final = "application/vnd.apple.mpegurl"
FMP4_TYPE: Final = "video/mp4"
# RFC 8216bis 6.2.5.2: a blocking request that nothing satisfies within three target
# durations is answered 503.
BLOCK_TARGETS: Final = 3
# A player asks for the master playlist right after the publish; the first segment
# takes one target duration to exist. Waiting beats a 404 that players give up on.
MASTER_WAIT_S: Final = 10.0
MEDIA_HEADERS: Final = {"Access-Control-Allow-Origin": "*"}  # embeddable anywhere
NO_CACHE: Final = "no-cache"
# A part's or segment's name is never reused with other bytes (the session and
# numbers are in it).
IMMUTABLE: Final = "public, max-age=3600, immutable"
# A relayed part or segment is asked for within seconds of its listing by nearly every
# player; one far behind costs one more fetch. Shorter than MPEG-TS segments' 90 s: an
# LL rendition's parts and segments are the same media twice.
RELAYED_FILE_KEEP_S: Final = 30.0
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{8,32}$")
RENDITION = re.compile(r"^(source|\d{2,4}p|track\d{1,3})$")  # track<N>: a multitrack publisher's
# ll-{session}-{msn}.m4s (a segment), ll-{session}-{msn}.{part}.m4s,
# init-{session}-{msn}-{n}.mp4 (the map of segment msn on, the host's n-th)
_LL_FILE = re.compile(r"^ll-(\d{1,18})-(\d{1,18})(?:\.(\d{1,6}))?\.m4s$")
_LL_INIT = re.compile(r"^init-(\d{1,18})-\d{1,18}-\d{1,6}\.mp4$")


@dataclass(frozen=True, slots=True)
class Answer:
    """An answer: its body, type and caching; every one is public media.

    ``status`` is 200 but for an answer relayed from the origin (:func:`_relayed`),
    which may be the origin's JSON error; this host's own errors are raised as
    :class:`~trioflix.errors.APIError`.
    """

    body: bytes | memoryview  # a part or segment: a view of the rendition's buffer
    content_type: str
    cache_control: str | None
    status: int = 200

    @property
    def headers(self) -> dict[str, str]:
        if self.cache_control is None:
            return dict(MEDIA_HEADERS)
        return {**MEDIA_HEADERS, "Cache-Control": self.cache_control}


def _relayed(fetched: Fetched) -> Answer:
    """The origin's answer as this host gives it: its status, body, type and caching.

    Raises:
        APIError: 502, the origin's status is not one HTTP defines.
    """
    try:
        HTTPStatus(fetched.status)
    except ValueError:
        raise APIError(
            502, "origin_bad_answer", f"the origin answered with status {fetched.status}"
        ) from None
    headers = fetched.headers
    return Answer(
        fetched.body,
        headers.get("content-type", "application/octet-stream"),
        headers.get("cache-control"),
        fetched.status,
    )


@dataclass(frozen=True, slots=True)
class Player:
    """Who asks for a media playlist, as far as counting viewers goes."""

    token: str | None  # the ``vs`` its master playlist gave it
    client: str | None  # its address (behind trusted proxies, the one they name)
    user_agent: str
    pull_token: str | None  # another host's fetch carries one

    def key(self) -> str:
        """The viewer it counts as: its playback session, else its client."""
        if valid_token(self.token):
            return self.token
        # No token (a media playlist opened directly): count the client instead.
        return f"{self.client}|{self.user_agent[:200]}"

    def is_internal(self, app_state: AppState, channel: str) -> bool:
        """The request is another host's fetch (it counts its players itself)."""
        if self.pull_token is None:
            return False
        try:
            app_state.pull_tokens.verify(self.pull_token, channel, time.time())
        except PullTokenRejected:
            return False
        return True


def valid_token(token: str | None) -> TypeGuard[str]:
    """``token`` has the form of a playback session token (``vs``)."""
    return token is not None and _TOKEN.match(token) is not None


def playback_token(given: str | None) -> str:
    """The player's playback session token ``given`` (its ``vs``), or a new one."""
    return given if valid_token(given) else secrets.token_urlsafe(12)


def session_or_404(app_state: AppState, channel: str, session_id: int | None = None) -> HLSSession:
    session = app_state.hls.session(channel, session_id)
    if session is None:
        raise APIError(404, "not_live", f"{channel} has no live HLS stream")
    return session


def _ll_or_404(session: HLSSession, rendition: str) -> CMAFRendition:
    ll = session.low_latency(rendition)
    if ll is None:
        raise APIError(404, "not_found", "no LL-HLS playlist for this rendition")
    return ll


async def master_ll(app_state: AppState, channel: str, token: str) -> Answer:
    """The LL-HLS master playlist: every rendition's LL playlist, with playback token
    ``token`` in their URIs."""
    origin = await elsewhere(app_state, channel, app_state.hls.session(channel), recent=True)
    if origin is not None:
        fetched = await fetch_master(
            app_state,
            origin,
            channel,
            "master-ll.m3u8",
            token,
            limit_s=MASTER_WAIT_S + FETCH_LIMIT_S,  # the origin waits for its first part
        )
        return _relayed(fetched)
    session = session_or_404(app_state, channel)
    ll = _ll_or_404(session, session.source.name)
    if ll.playlist.last_part is None and not session.ended:
        first = hls.ReloadRequest(msn=ll.playlist.media_sequence, part=0)
        with trio.move_on_after(MASTER_WAIT_S):
            await ll.wait_playlist(first)
    if ll.playlist.last_part is None:
        raise APIError(404, "not_ready", f"{channel} has no LL-HLS part yet")
    text = session.render_master_ll(f"?vs={token}")
    return Answer(text.encode(), PLAYLIST_TYPE, NO_CACHE)


async def ll_playlist(
    app_state: AppState,
    channel: str,
    rendition: str,
    query: tuple[str | None, str | None, str | None],
    player: Player,
) -> Answer:
    """An LL-HLS media playlist; ``query`` is ``(_HLS_msn, _HLS_part, _HLS_skip)``:
    the first two block, the last asks for a delta update."""
    try:
        wanted = hls.ReloadRequest.parse(*query)
    except hls.HLSError as exc:
        raise APIError(400, "bad_request", str(exc)) from None
    origin = await elsewhere(app_state, channel, app_state.hls.session(channel), recent=True)
    if origin is not None:
        return await _relayed_playlist(app_state, origin, channel, rendition, wanted, player)
    session = session_or_404(app_state, channel)
    ll = _ll_or_404(session, rendition)
    if ll.playlist.reload(wanted) is not hls.Reload.READY:
        decision = await block(session, ll.wait_playlist, wanted)
        if decision is hls.Reload.TOO_FAR:
            raise APIError(400, "too_far_ahead", "_HLS_msn/_HLS_part too far past the playlist")
    if not session.ended and not ll.playlist.ended and not player.is_internal(app_state, channel):
        app_state.hls.player_seen(channel, session, player.key(), trio.current_time())
    body = ll.render(skip=wanted.skip, reports=session.ll_reports(rendition))
    return Answer(body, PLAYLIST_TYPE, NO_CACHE)


async def _relayed_playlist(
    app_state: AppState,
    origin: Origin,
    channel: str,
    rendition: str,
    wanted: hls.ReloadRequest,
    player: Player,
) -> Answer:
    """The origin's answer to the same playlist request, without the player's token, so
    that every player asking for the same part shares one fetch."""
    if RENDITION.match(rendition) is None:
        raise APIError(404, "not_found", "no LL-HLS playlist for this rendition")
    directives = []
    if wanted.msn is not None:
        directives.append(f"_HLS_msn={wanted.msn}")
    if wanted.part is not None:
        directives.append(f"_HLS_part={wanted.part}")
    if wanted.skip:
        directives.append("_HLS_skip=YES")
    path = f"{rendition}/ll.m3u8" + (f"?{'&'.join(directives)}" if directives else "")
    fetched = await fetch(
        app_state,
        origin,
        channel,
        path,
        keep_s=playlist_keep_s(app_state),
        limit_s=_block_limit_s(app_state) if wanted.msn is not None else FETCH_LIMIT_S,
    )
    if fetched.status == 200 and b"#EXT-X-ENDLIST" not in fetched.body:
        app_state.hls.player_seen(channel, None, player.key(), trio.current_time())
    return _relayed(fetched)


def _block_limit_s(app_state: AppState) -> float:
    """How long a relayed blocking request may take: the origin's block (the hosts of a
    site share ``TRIOFLIX_HLS_SEGMENT``), then the fetch itself."""
    return BLOCK_TARGETS * app_state.settings.hls_segment + FETCH_LIMIT_S


def is_ll_file(rendition: str, name: str) -> bool:
    """``name`` (under ``rendition``) is an LL-HLS part, segment or init segment."""
    return (
        _LL_FILE.match(name) is not None or _LL_INIT.match(name) is not None
    ) and RENDITION.match(rendition) is not None


async def ll_file(app_state: AppState, channel: str, rendition: str, name: str) -> Answer:
    """An LL-HLS part, segment or init segment (``name`` passes :func:`is_ll_file`);
    a part not made yet (the preload hint's) is waited for."""
    match = _LL_FILE.match(name) or _LL_INIT.match(name)
    assert match is not None
    session = app_state.hls.session(channel, int(match.group(1)))
    origin = await elsewhere(app_state, channel, session, recent=True)
    if origin is not None:
        is_part = match.re is _LL_FILE and match.group(3) is not None  # may block
        fetched = await fetch(
            app_state,
            origin,
            channel,
            f"{rendition}/{name}",
            keep_s=RELAYED_FILE_KEEP_S,
            limit_s=_block_limit_s(app_state) if is_part else FETCH_LIMIT_S,
        )
        return _relayed(fetched)
    if session is None:
        raise APIError(404, "not_found", "no such part")
    ll = _ll_or_404(session, rendition)
    data: bytes | memoryview | None
    if match.re is _LL_INIT:
        data = ll.init_segment(name)
    elif match.group(3) is None:
        data = ll.segment(int(match.group(2)))
    else:
        data = await block(session, ll.wait_part, int(match.group(2)), int(match.group(3)))
    if data is None:
        raise APIError(404, "not_found", "part expired, not yet made, or never to be")
    return Answer(data, FMP4_TYPE, IMMUTABLE)


async def block(session: HLSSession, wait: Callable[[*Args], Awaitable[T]], *args: *Args) -> T:
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
