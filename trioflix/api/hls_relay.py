"""Live HLS of a channel whose origin is another host of the site: which host that is,
and its answer fetched through this host's
:class:`~trioflix.live.edge.hls_proxy.HLSProxy` (coalesced and cached).

Both the MPEG-TS routes (:mod:`trioflix.api.hls`) and the LL-HLS answers
(:mod:`trioflix.api.ll_hls`, which the front door gives on the socket too) relay
through here, so every host answers with the origin's names, numbers and bytes.
The fetches carry an internal token, so the origin does not count this host as a
player; this host counts its players for the site instead.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Final
from urllib.parse import quote

from trioflix.cluster.site import SiteUnavailable
from trioflix.errors import APIError
from trioflix.live.edge.hls_proxy import OriginUnavailable
from trioflix.live.edge.pull import PULL_TOKEN_HEADER

if TYPE_CHECKING:
    from trioflix.cluster.lease import Origin
    from trioflix.live.edge.hls_proxy import Fetched
    from trioflix.live.hls.writer import HLSSession
    from trioflix.state import AppState

__all__ = ["EDGE_TOKEN", "FETCH_LIMIT_S", "elsewhere", "fetch", "fetch_master", "playlist_keep_s"]

# An edge asking the origin: a segment or playlist takes milliseconds; longer limits
# (a master playlist held back for the first segment, a blocking reload) are the caller's.
FETCH_LIMIT_S: Final = 5.0
#: An edge fetches the origin's master playlists with this token in their URIs and puts
#: each player's own in its place.
EDGE_TOKEN: Final = "edge-token-placeholder"


async def elsewhere(
    app_state: AppState, channel: str, session: HLSSession | None, *, recent: bool = False
) -> Origin | None:
    """The channel's origin if it is another host and this one has no live HLS of it.

    Args:
        recent: A lookup up to :data:`~trioflix.live.edge.relays.FOLLOW_POLL_S` old will
            do (:class:`~trioflix.live.edge.recent_origins.RecentOrigins`): the
            LL-HLS requests, eight a second per player.

    Raises:
        APIError: 503, Redis cannot say who the origin is and this host has no
            output of the channel at all.
    """
    if session is not None and not session.ended:
        return None
    try:
        if recent:
            return await app_state.recent_origins.get(channel, app_state.site.remote_origin)
        return await app_state.site.remote_origin(channel)
    except SiteUnavailable:
        if session is not None:
            return None  # this host's lingering output is the best it knows
        raise APIError(
            503, "origin_unavailable", f"cannot tell which host serves {channel}"
        ) from None


async def fetch(
    app_state: AppState, origin: Origin, channel: str, path: str, *, keep_s: float, limit_s: float
) -> Fetched:
    """``path`` (under the channel, with its query) of the origin's HLS, through this
    host's proxy.

    Raises:
        APIError: this host relays no HLS, or the origin is unreachable, too slow or
            answered badly (502/503/504, the proxy's codes).
    """
    proxy = app_state.hls_proxy
    if proxy is None:
        raise APIError(503, "origin_unavailable", "this host relays no HLS")
    url = f"{origin.advertise_url}/live/{quote(channel, safe='')}/{path}"
    headers = {PULL_TOKEN_HEADER: app_state.pull_tokens.issue(channel, time.time())}
    try:
        fetched = await proxy.get(
            url, channel=channel, keep_s=keep_s, limit_s=limit_s, headers=headers
        )
    except OriginUnavailable as exc:
        app_state.recent_origins.forget(channel)  # it may be the origin no more
        raise APIError(exc.status, exc.code, f"{channel}: {exc}") from None
    if fetched.status >= 400:
        app_state.recent_origins.forget(channel)
    return fetched


async def fetch_master(
    app_state: AppState, origin: Origin, channel: str, name: str, token: str, *, limit_s: float
) -> Fetched:
    """The origin's master playlist ``name``, fetched once for every player of this host
    (with :data:`EDGE_TOKEN`), with playback token ``token`` in its URIs; an error
    answer as the origin gave it.

    Raises:
        APIError: as :func:`fetch`.
    """
    fetched = await fetch(
        app_state,
        origin,
        channel,
        f"{name}?vs={EDGE_TOKEN}",
        keep_s=playlist_keep_s(app_state),
        limit_s=limit_s,
    )
    if fetched.status != 200:
        return fetched
    mine = fetched.body.replace(f"?vs={EDGE_TOKEN}".encode(), f"?vs={token}".encode())
    return dataclasses.replace(fetched, body=mine)


def playlist_keep_s(app_state: AppState) -> float:
    """How long a relayed playlist is served from the cache.

    A playlist changes with every segment (an LL one with every part): a quarter of
    the target duration keeps a player at most that far behind, while the origin
    sees one fetch per edge per quarter target however many players reload. A
    blocking reload's answer lists the part asked for, which stays true.
    """
    return app_state.settings.hls_segment / 4
