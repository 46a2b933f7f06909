"""Live thumbnails over HTTP: ``GET /live/{channel}/thumbnail.jpg``.

The pictures are made and cached by the app's
:class:`~trioflix.media.live_thumbnails.ThumbnailCache` on the channel's origin;
another host of the site fetches the origin's, so that every host shows the same.
"""

from __future__ import annotations

from urllib.parse import quote

import trio
from quart import Blueprint, Response

from trioflix.cluster.site import SiteUnavailable
from trioflix.errors import APIError
from trioflix.media.live_thumbnails import CACHE_S, ThumbnailError
from trioflix.slim_imports import hidden
from trioflix.state import state

with hidden("rich", "pygments"):  # httpx's command-line client, which the server never runs
    import httpx

__all__ = ["blueprint"]

blueprint = Blueprint("thumbnails", __name__)

FETCH_TIMEOUT_S = 5.0  # the origin decodes one keyframe (well under a second) or has it cached


@blueprint.get("/live/<channel>/thumbnail.jpg")
async def thumbnail(channel: str) -> Response:
    """A recent picture of a live channel; 404 ``not_live`` when it is not live."""
    app_state = state()
    cache = app_state.thumbnails
    stream = app_state.registry.get(channel)
    if stream is None:
        cache.forget(channel)
        return await _from_origin(channel)
    config, keyframe = stream.video_config, stream.latest_keyframe()
    if config is None or keyframe is None:
        raise APIError(404, "not_ready", f"{channel} has no picture yet")
    try:
        jpeg = await cache.get(channel, stream.session_id, config, keyframe)
    except ThumbnailError:
        raise APIError(404, "not_ready", f"{channel} has no picture yet") from None
    return Response(
        jpeg,
        content_type="image/jpeg",
        headers={"Cache-Control": f"public, max-age={int(CACHE_S)}"},
    )


async def _from_origin(channel: str) -> Response:
    """The origin's thumbnail of ``channel``, when another host of the site is its origin."""
    try:
        origin = await state().site.remote_origin(channel)
    except SiteUnavailable:
        origin = None
    if origin is None:
        raise APIError(404, "not_live", f"{channel} is not live")
    url = f"{origin.advertise_url}/live/{quote(channel, safe='')}/thumbnail.jpg"
    try:
        with trio.fail_after(FETCH_TIMEOUT_S):
            async with httpx.AsyncClient() as client:
                fetched = await client.get(url)
    except (httpx.HTTPError, trio.TooSlowError):
        raise APIError(404, "not_ready", f"{channel} has no picture yet") from None
    if fetched.status_code != 200:  # the origin's own 404, passed on
        return Response(fetched.content, fetched.status_code, content_type="application/json")
    return Response(
        fetched.content,
        content_type="image/jpeg",
        headers={"Cache-Control": fetched.headers.get("Cache-Control", "no-cache")},
    )
