"""The web pages: home, channel, video, studio, upload, login; their JS, CSS and vendor files.

Pages are thin HTML shells rendered from Jinja templates; the ES modules under
``trioflix/web/static/js`` fill them from the public JSON API, the chat websocket
and the playback URLs, exactly as any other client would. Nothing here touches the
database: a page for a channel or video that does not exist still renders, and
its script shows "not found" from the API's 404.

Files live under ``/assets/`` (``/static/`` is Quart's own route, which every app
registers): ``/assets/js/...``, ``/assets/css/...``, and ``/assets/vendor/<name>``
for the npm builds listed in :data:`trioflix.web.VENDOR_FILES`.
"""

from __future__ import annotations

import logging
from typing import Final

from quart import Blueprint, Response, render_template, send_file, send_from_directory

from trioflix.errors import APIError
from trioflix.web import STATIC_DIR, TEMPLATES_DIR, VENDOR_FILES, node_modules_dir

__all__ = ["blueprint"]

logger = logging.getLogger(__name__)

blueprint = Blueprint("pages", __name__, template_folder=str(TEMPLATES_DIR))

# Same-origin everything; blob: for the media source and hls.js's worker; ws: for chat
# and WS-FLV. No inline script or style anywhere, so none is allowed.
CONTENT_SECURITY_POLICY: Final = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        "worker-src 'self' blob:",
        "connect-src 'self' ws: wss:",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
# Our files change with the code: revalidate every time (cheap: ETag / 304).
STATIC_CACHE: Final = "no-cache"
# Vendor files are pinned by the lockfile; an hour is safe and spares reloads.
VENDOR_CACHE: Final = "public, max-age=3600"
_CHANNEL_MAX: Final = 32  # usernames are 3-32 of [a-z0-9_] (docs/api.md)


async def _page(template: str, title: str, **context: object) -> Response:
    html = await render_template(template, title=title, **context)
    response = Response(html, content_type="text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-cache"
    return response


@blueprint.get("/")
async def home() -> Response:
    return await _page("home.html", "trioflix", page="home")


@blueprint.get("/channel/<name>")
async def channel(name: str) -> Response:
    if len(name) > _CHANNEL_MAX:
        raise APIError(404, "not_found", "no such channel")
    return await _page("channel.html", name, page="channel", channel=name)


@blueprint.get("/watch/<int:video_id>")
async def watch(video_id: int) -> Response:
    return await _page("video.html", "Video", page="video", video_id=video_id)


@blueprint.get("/studio")
async def studio() -> Response:
    return await _page("studio.html", "Studio", page="studio")


@blueprint.get("/upload")
async def upload() -> Response:
    return await _page("upload.html", "Upload", page="upload")


@blueprint.get("/login")
async def login() -> Response:
    return await _page("login.html", "Sign in", page="login")


@blueprint.get("/assets/<path:filename>")
async def asset(filename: str) -> Response:
    response: Response = await send_from_directory(STATIC_DIR, filename)
    response.headers["Cache-Control"] = STATIC_CACHE
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@blueprint.get("/assets/vendor/<name>")
async def vendor(name: str) -> Response:
    relative = VENDOR_FILES.get(name)
    if relative is None:
        raise APIError(404, "not_found", "no such file")
    path = node_modules_dir() / relative
    if not path.is_file():
        logger.error("front-end package missing: %s (run `npm ci` in web/, or ./dev serve)", path)
        raise APIError(404, "not_installed", f"{relative} is not installed: run npm ci in web/")
    response: Response = await send_file(path, mimetype="text/javascript")
    response.headers["Cache-Control"] = VENDOR_CACHE
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
