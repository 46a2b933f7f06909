"""Live thumbnails over HTTP: ``GET /live/{channel}/thumbnail.jpg``.

The pictures are made and cached by the app's
:class:`~trioflix.media.live_thumbnails.ThumbnailCache`.
"""

from __future__ import annotations

from quart import Blueprint, Response

from trioflix.errors import APIError
from trioflix.media.live_thumbnails import CACHE_S, ThumbnailError
from trioflix.state import state

__all__ = ["blueprint"]

blueprint = Blueprint("thumbnails", __name__)


@blueprint.get("/live/<channel>/thumbnail.jpg")
async def thumbnail(channel: str) -> Response:
    """A recent picture of a live channel; 404 ``not_live`` when it is not live."""
    app_state = state()
    cache = app_state.thumbnails
    stream = app_state.registry.get(channel)
    if stream is None:
        cache.forget(channel)
        raise APIError(404, "not_live", f"{channel} is not live")
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
