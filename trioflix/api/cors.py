"""Cross-origin access: the API for the configured origins alone, the media for any.

The API's routes act for the user whose token a request carries, so only the
sites the operator lists in ``TRIOFLIX_CORS_ORIGINS`` may call them from a
browser: their pre-flights are answered, and their answers readable. Any other
origin's pre-flight is refused with 403 and its answers carry no
``Access-Control-Allow-Origin``, so the browser keeps them from the page. The
media (live HLS and FLV, thumbnails, videos, emote images) is public and meant to
be embedded anywhere, so it answers every origin with ``*``. tus uploads answer
for themselves (``trioflix.uploads.tus_handler``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from quart import Response, request

from trioflix.errors import APIError
from trioflix.uploads.service import TUS_PATH

if TYPE_CHECKING:
    from collections.abc import Collection

__all__ = ["add_cors_headers", "answer_preflight", "is_media"]

API_PREFIX: Final = "/api/"
# Public media: playable and embeddable from any site.
MEDIA_PREFIXES: Final = ("/live/", "/videos/", "/api/emotes/")
ALLOW_METHODS: Final = "GET, POST, PUT, PATCH, DELETE"
ALLOW_HEADERS: Final = "Authorization, Content-Type, X-Request-ID"
EXPOSE_HEADERS: Final = "Retry-After, X-Request-ID, Location"
MAX_AGE_S: Final = 600  # browsers cap it near here anyway (Chromium: 2 hours)


def is_media(path: str) -> bool:
    return path.startswith(MEDIA_PREFIXES)


def _is_api(path: str) -> bool:
    """An API route this module answers for (tus answers its own pre-flights)."""
    return path.startswith(API_PREFIX) and not is_media(path) and not path.startswith(TUS_PATH)


def answer_preflight(origins: Collection[str]) -> Response | None:
    """The answer to a pre-flight of an API route; ``None`` for any other request.

    Raises:
        APIError: 403 ``cors_origin_refused`` for an origin not in ``origins``.
    """
    if (
        request.method != "OPTIONS"
        or "Access-Control-Request-Method" not in request.headers
        or not _is_api(request.path)
    ):
        return None
    origin = request.headers.get("Origin", "")
    if origin not in origins:
        raise APIError(403, "cors_origin_refused", f"the origin {origin!r} may not call this API")
    response = Response("", 204)
    response.headers["Access-Control-Allow-Methods"] = ALLOW_METHODS
    response.headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
    response.headers["Access-Control-Max-Age"] = str(MAX_AGE_S)
    return response


def add_cors_headers(response: Response, origins: Collection[str]) -> None:
    """``*`` on the media; the request's origin on the API, when it is one of ``origins``."""
    if is_media(request.path):
        response.headers.setdefault("Access-Control-Allow-Origin", "*")
        return
    if not _is_api(request.path):
        return
    response.vary.add("Origin")  # a cache must not hand one origin's answer to another
    origin = request.headers.get("Origin")
    if origin is not None and origin in origins:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
