"""The security headers: the pages' Content-Security-Policy, and what every answer carries.

The pages run only their own scripts (no inline script or style anywhere, so
none is allowed). Their media comes from this host, or, when the media is stored
elsewhere, from the origin it is redirected to: ``TRIOFLIX_MEDIA_BASE_URL`` (a
CDN), or an S3 endpoint's presigned URLs (path-style, so the endpoint's origin).
hls.js fetches playlists and segments (``connect-src``), mpegts.js too, and both
feed the ``<video>`` through a ``blob:`` MediaSource (``media-src``); hls.js runs a
``blob:`` worker; thumbnails and emotes are images (``img-src``). tus-js-client
uploads with fetch/XHR to this host.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

from trioflix.config import ConfigError

if TYPE_CHECKING:
    from quart import Response

    from trioflix.config import Settings

__all__ = ["add_security_headers", "content_security_policy", "media_origins"]

# Every answer: a browser never guesses a type other than the one given (an
# uploaded file served as text must not run as a script).
ALWAYS: Final = {"X-Content-Type-Options": "nosniff"}
# HTML pages: never framed (clickjacking), and no path or query in the Referer
# sent to other origins.
PAGES: Final = {"X-Frame-Options": "DENY", "Referrer-Policy": "same-origin"}


def media_origins(settings: Settings) -> tuple[str, ...]:
    """The origins other than this host's that the pages load media from."""
    urls = [settings.media_base_url]
    if settings.storage_url and settings.storage_url.startswith("s3:"):
        try:
            storage = settings.storage()
        except ConfigError:
            storage = None  # the services refuse to start on it; nothing is served
        urls.append(getattr(storage, "endpoint_url", None))
    origins = []
    for url in urls:
        if url is not None:
            parts = urlsplit(url)
            origins.append(f"{parts.scheme}://{parts.netloc}")
    return tuple(dict.fromkeys(origins))


def content_security_policy(media: tuple[str, ...] = ()) -> str:
    """The pages' policy, allowing media (and images, and fetches) from ``media`` too."""
    extra = "".join(f" {origin}" for origin in media)
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src 'self' data: blob:{extra}",
            f"media-src 'self' blob:{extra}",
            "worker-src 'self' blob:",
            # 'self' covers the page's own ws:/wss: in CSP Level 3, but not in
            # every browser still in use: the chat and WS-FLV sockets need them.
            f"connect-src 'self' ws: wss:{extra}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def add_security_headers(response: Response, policy: str) -> None:
    """Set what every answer carries, and, on an HTML page, its policy and framing rules."""
    for name, value in ALWAYS.items():
        response.headers.setdefault(name, value)
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", policy)
        for name, value in PAGES.items():
            response.headers.setdefault(name, value)
