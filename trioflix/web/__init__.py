"""The pages trioflix serves itself: Jinja templates, our ES modules and CSS.

Third-party browser code (hls.js, mpegts.js, tus-js-client) is not kept in git: it
is installed from npm into ``web/node_modules`` at the repository root, pinned by
``web/package-lock.json`` (``./dev serve`` and ``./dev test`` run ``npm ci``). The
package build (``setup.py``) copies the builds the pages load into ``vendor/`` here,
so an installed trioflix carries them; a source checkout serves them from
``web/node_modules``. :func:`vendor_file` is that rule, :mod:`trioflix.api.pages`
serves what it names.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Final

__all__ = [
    "STATIC_DIR",
    "TEMPLATES_DIR",
    "VENDOR_DIR",
    "VENDOR_FILES",
    "VENDOR_VERSIONS",
    "assets_digest",
    "vendor_file",
]

WEB_DIR: Final = Path(__file__).resolve().parent
TEMPLATES_DIR: Final = WEB_DIR / "templates"
STATIC_DIR: Final = WEB_DIR / "static"
# Filled by the package build, absent in a source checkout (.gitignore).
VENDOR_DIR: Final = WEB_DIR / "vendor"
# The build writes it last, so its presence means VENDOR_DIR is complete: each npm
# package's version, as web/package-lock.json pins it.
VENDOR_VERSIONS: Final = "versions.json"

# What /assets/vendor/<name> serves, and where npm puts it under web/node_modules: the
# builds the pages load with plain <script> tags (each defines one global: Hls, mpegts, tus).
VENDOR_FILES: Final = {
    "hls.min.js": "hls.js/dist/hls.min.js",
    "mpegts.js": "mpegts.js/dist/mpegts.js",
    "tus.min.js": "tus-js-client/dist/tus.min.js",
}
_DIGEST_CHARS: Final = 16  # 64 bits: no two releases collide in any cache


def vendor_file(name: str) -> Path | None:
    """The file ``/assets/vendor/<name>`` serves, or ``None`` for a name not in the list.

    The package's own copy when the build made one (an installed trioflix), else
    ``web/node_modules`` in the source checkout this package runs from. The file may be
    missing (``npm ci`` not run).
    """
    relative = VENDOR_FILES.get(name)
    if relative is None:
        return None
    if (VENDOR_DIR / VENDOR_VERSIONS).is_file():
        return VENDOR_DIR / name
    return WEB_DIR.parent.parent / "web" / "node_modules" / relative


def assets_digest() -> str:
    """A hash of every file under ``/assets/``: it names this release's assets in URLs.

    Blocking (reads every file): run it in a thread.
    """
    digest = hashlib.sha256()
    files: list[tuple[str, Path | None]] = [
        (str(p.relative_to(STATIC_DIR)), p) for p in STATIC_DIR.rglob("*")
    ]
    files += [(f"vendor/{name}", vendor_file(name)) for name in VENDOR_FILES]
    for label, path in sorted((label, p) for label, p in files if p is not None and p.is_file()):
        digest.update(f"{label}\0{path.stat().st_size}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:_DIGEST_CHARS]
