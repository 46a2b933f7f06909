"""The web pages: home, channel, video, studio, upload, login; their JS, CSS and vendor files.

Pages are thin HTML shells rendered from Jinja templates; the ES modules under
``trioflix/web/static/js`` fill them from the public JSON API, the chat websocket
and the playback URLs, exactly as any other client would. Nothing here touches the
database: a page for a channel or video that does not exist still renders, and
its script shows "not found" from the API's 404.

Files live under ``/assets/`` (``/static/`` is Quart's own route, which every app
registers): ``/assets/js/...``, ``/assets/css/...``, and ``/assets/vendor/<name>``
for the npm builds listed in :data:`trioflix.web.VENDOR_FILES`. Pages link them as
``/assets/v/<digest>/...``, the digest being a hash of all of them read at start
(:func:`trioflix.web.assets_digest`): browsers keep those for a year, and a release
that changes any file changes every URL, so a new page never runs with an old
player. Our ES modules import each other by relative URL, so they stay under the same
digest. The unversioned URLs still answer, revalidated on every use.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

import trio
from quart import (
    Blueprint,
    Response,
    current_app,
    render_template,
    send_file,
    send_from_directory,
)

from trioflix.errors import APIError
from trioflix.web import STATIC_DIR, TEMPLATES_DIR, assets_digest, vendor_file

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["blueprint"]

logger = logging.getLogger(__name__)

blueprint = Blueprint("pages", __name__, template_folder=str(TEMPLATES_DIR))

# Unversioned URLs (and a digest from another release): revalidate every time (cheap:
# ETag / 304), since the file behind them changes with the release.
STATIC_CACHE: Final = "no-cache"
# A URL with this release's digest names these exact bytes: keep them as long as HTTP allows.
VERSIONED_CACHE: Final = "public, max-age=31536000, immutable"
_DIGEST_KEY: Final = "TRIOFLIX_ASSETS_DIGEST"
_CHANNEL_MAX: Final = 32  # usernames are 3-32 of [a-z0-9_] (docs/api.md)


@blueprint.before_app_serving
async def _hash_assets() -> None:
    current_app.config[_DIGEST_KEY] = await trio.to_thread.run_sync(assets_digest)


def _assets_base() -> str:
    digest = current_app.config.get(_DIGEST_KEY)
    return "/assets" if digest is None else f"/assets/v/{digest}"


async def _page(template: str, title: str, **context: object) -> Response:
    html = await render_template(template, title=title, assets=_assets_base(), **context)
    response = Response(html, content_type="text/html; charset=utf-8")
    # Its Content-Security-Policy and framing rules: trioflix.api.security_headers.
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
    return await _static(filename, STATIC_CACHE)


@blueprint.get("/assets/vendor/<name>")
async def vendor(name: str) -> Response:
    return await _vendor(name, STATIC_CACHE)


@blueprint.get("/assets/v/<digest>/<path:filename>")
async def versioned_asset(digest: str, filename: str) -> Response:
    cache = VERSIONED_CACHE if digest == current_app.config.get(_DIGEST_KEY) else STATIC_CACHE
    name = filename.removeprefix("vendor/")
    if name != filename:
        return await _vendor(name, cache)
    return await _static(filename, cache)


async def _static(filename: str, cache: str) -> Response:
    # send_from_directory refuses ".." but follows a symlink out of the directory.
    if not await trio.to_thread.run_sync(_inside, STATIC_DIR, filename):
        raise APIError(404, "not_found", "no such file")
    response: Response = await send_from_directory(STATIC_DIR, filename)
    response.headers["Cache-Control"] = cache
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _inside(root: Path, filename: str) -> bool:
    """Whether ``root/filename``, every symlink followed, is still under ``root`` (blocking)."""
    return (root / filename).resolve().is_relative_to(root.resolve())


async def _vendor(name: str, cache: str) -> Response:
    path = vendor_file(name)
    if path is None:
        raise APIError(404, "not_found", "no such file")
    if not path.is_file():
        logger.error("front-end package missing: %s (run `npm ci` in web/, or ./dev serve)", path)
        raise APIError(404, "not_installed", f"{name} is not installed: run npm ci in web/")
    response: Response = await send_file(path, mimetype="text/javascript")
    response.headers["Cache-Control"] = cache
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
