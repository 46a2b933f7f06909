"""The pages trioflix serves itself: Jinja templates, our ES modules and CSS.

Third-party browser code (hls.js, mpegts.js, tus-js-client) is not kept here: it
is installed from npm into ``web/node_modules`` at the repository root, pinned by
``web/package-lock.json`` (``./dev serve`` and ``./dev test`` run ``npm ci``), and
served from there by :mod:`trioflix.api.pages`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

__all__ = ["STATIC_DIR", "TEMPLATES_DIR", "VENDOR_FILES", "node_modules_dir"]

WEB_DIR: Final = Path(__file__).resolve().parent
TEMPLATES_DIR: Final = WEB_DIR / "templates"
STATIC_DIR: Final = WEB_DIR / "static"

# What /assets/vendor/<name> serves, from web/node_modules: the builds the pages load
# with plain <script> tags (each defines one global: Hls, mpegts, tus).
VENDOR_FILES: Final = {
    "hls.min.js": "hls.js/dist/hls.min.js",
    "mpegts.js": "mpegts.js/dist/mpegts.js",
    "tus.min.js": "tus-js-client/dist/tus.min.js",
}


def node_modules_dir() -> Path:
    """Where ``npm ci`` put the front-end packages: ``web/node_modules`` in the checkout."""
    return WEB_DIR.parent.parent / "web" / "node_modules"
