"""The web pages: home, channel, video, studio, upload, login; their JS, CSS and vendor files.

Pages are thin HTML shells rendered from Jinja templates; the ES modules under
``trioflix/web/static/js`` fill them from the public JSON API, the chat websocket
and the playback URLs, exactly as any other client would. The page routes read the
database only to answer 404 for what is not there: a channel without an account, a
video that does not exist, and (with the video shell, so that its owner's script
still shows the processing progress) a video not yet ready, which only its owner
may see and the page request carries no token. ``/channel/Alice`` redirects to the
stored spelling, ``/channel/alice``. An unknown path asked for by a browser (it
prefers HTML) gets the same 404 page; ``/api/...`` and every other client get the
JSON error.

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
    redirect,
    render_template,
    request,
    send_file,
    send_from_directory,
)
from werkzeug.exceptions import NotFound

from trioflix.auth.accounts import canonical_name
from trioflix.errors import APIError, error_response
from trioflix.media.library import get_video
from trioflix.state import state
from trioflix.store.users import get_user_by_name
from trioflix.web import STATIC_DIR, TEMPLATES_DIR, assets_digest, vendor_file

if TYPE_CHECKING:
    from pathlib import Path

    from werkzeug.wrappers import Response as WerkzeugResponse

__all__ = ["blueprint"]

logger = logging.getLogger(__name__)

blueprint = Blueprint("pages", __name__, template_folder=str(TEMPLATES_DIR))

# Unversioned URLs (and a digest from another release): revalidate every time (cheap:
# ETag / 304), since the file behind them changes with the release.
STATIC_CACHE: Final = "no-cache"
# A URL with this release's digest names these exact bytes: keep them as long as HTTP allows.
VERSIONED_CACHE: Final = "public, max-age=31536000, immutable"
_DIGEST_KEY: Final = "TRIOFLIX_ASSETS_DIGEST"


@blueprint.before_app_serving
async def _hash_assets() -> None:
    current_app.config[_DIGEST_KEY] = await trio.to_thread.run_sync(assets_digest)


def _assets_base() -> str:
    digest = current_app.config.get(_DIGEST_KEY)
    return "/assets" if digest is None else f"/assets/v/{digest}"


async def _page(template: str, title: str, *, status: int = 200, **context: object) -> Response:
    html = await render_template(template, title=title, assets=_assets_base(), **context)
    response = Response(html, status=status, content_type="text/html; charset=utf-8")
    # Its Content-Security-Policy and framing rules: trioflix.api.security_headers.
    response.headers["Cache-Control"] = "no-cache"
    return response


@blueprint.get("/")
async def home() -> Response:
    return await _page("home.html", "trioflix", page="home")


async def _not_found(heading: str, sentence: str) -> Response:
    return await _page(
        "not_found.html",
        "Not found",
        status=404,
        page="not-found",
        heading=heading,
        sentence=sentence,
    )


@blueprint.app_errorhandler(NotFound)
async def unknown_path(exc: NotFound) -> Response:
    """An unmatched route: the 404 page for a browser, the JSON error for anyone else."""
    # Browsers ask for text/html first; API clients, scripts and media requests ask
    # for JSON or */*, which keeps the JSON error (a tie goes to the first listed).
    wants = request.accept_mimetypes.best_match(["application/json", "text/html"])
    if request.path.startswith("/api/") or wants != "text/html":
        return error_response(404, "not_found", exc.description or "not found")
    return await _not_found("Page not found", "There is no page at this address.")


@blueprint.get("/channel/<name>")
async def channel(name: str) -> Response | WerkzeugResponse:
    canonical = canonical_name(name)
    user = await get_user_by_name(state().db, canonical) if canonical is not None else None
    if user is None:
        return await _not_found("Channel not found", f"There is no channel called “{name}”.")
    if user.name != name:
        # Permanent: names are stored lowercase, so this spelling always means that one.
        return redirect(f"/channel/{user.name}", 301)
    return await _page("channel.html", name, page="channel", channel=name)


@blueprint.get("/watch/<int:video_id>")
async def watch(video_id: int) -> Response:
    video = await get_video(state().db, video_id)
    if video is None:
        return await _not_found("Video not found", "There is no video at this address.")
    # A video not yet ready is its owner's alone, and a page request carries no token:
    # 404, with the video page itself so that the owner's script shows its progress.
    status = 200 if video.state == "ready" else 404
    return await _page("video.html", "Video", status=status, page="video", video_id=video_id)


@blueprint.get("/studio")
async def studio() -> Response:
    # The cover field says, and checks before sending, how large a cover may be.
    max_cover = state().settings.max_cover
    return await _page(
        "studio.html", "Studio", page="studio", max_cover=max_cover, max_cover_text=_size(max_cover)
    )


def _size(size: int) -> str:
    """``size`` bytes as people read it: ``2 MiB``, ``512 KiB``, ``1.5 MiB``."""
    for unit, scale in (("MiB", 1024**2), ("KiB", 1024)):
        if size >= scale:
            return f"{size / scale:.3g} {unit}"
    return f"{size} bytes"


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
