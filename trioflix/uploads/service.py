"""The per-process upload service: what the tus routes, housekeeping and jobs share.

One :class:`Uploads` lives in ``app.extensions`` (installed with the uploads
blueprint); :func:`uploads` finds it from a request or from the service nursery.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from quart import current_app

from protocols import tus
from trioflix.uploads.files import UploadFiles
from trioflix.uploads.locks import UploadLocks
from trioflix.uploads.progress import ProgressHub

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from quart import Quart

    from trioflix.app import AppState
    from trioflix.store import Database

__all__ = [
    "EXTENSIONS",
    "EXTENSIONS_WITHOUT_TRAILERS",
    "TUS_PATH",
    "TUS_UPLOAD_ROUTE",
    "Uploads",
    "install_uploads",
    "uploads",
    "uploads_of",
]

#: Where the tus endpoints live (the creation URL; uploads are ``TUS_PATH/<id>``).
TUS_PATH = "/api/upload/video/tus"
#: The upload URLs' route, as Quart names it (and as requests are counted in /metrics).
TUS_UPLOAD_ROUTE = f"{TUS_PATH}/<upload_id>"
_KEY = "trioflix.uploads"

#: What ``trioflix serve`` implements and advertises: every extension of tus 1.0.0.
EXTENSIONS: tuple[tus.Extension, ...] = tuple(tus.Extension)
#: The same without checksum-trailer, where request trailers cannot reach the app:
#: ASGI has no message for them, so under plain hypercorn the checksum could never
#: be seen. ``trioflix serve`` delivers them (:mod:`trioflix.direct.trailers`).
EXTENSIONS_WITHOUT_TRAILERS = tuple(
    extension for extension in EXTENSIONS if extension is not tus.Extension.CHECKSUM_TRAILER
)


class Uploads:
    """Shared upload state of one server process.

    Attributes:
        config: The tus capabilities, with ``TRIOFLIX_MAX_UPLOAD`` as the limit
            (checksum-trailer only where the server delivers request trailers).
        files: The upload data files.
        locks: Per-upload request serialisation with takeover.
        hub: Live progress wake-ups for status streams.
        expiry_s: How long an unfinished upload lives after its last commit.
        job_enqueued: Called after a processing job was enqueued (wakes the workers).
    """

    def __init__(self, app_state: AppState) -> None:
        self._app_state = app_state
        settings = app_state.settings
        self._configs = {
            trailers: tus.TusConfig(
                extensions=EXTENSIONS if trailers else EXTENSIONS_WITHOUT_TRAILERS,
                max_size=settings.max_upload,
            )
            for trailers in (False, True)
        }
        self.files = UploadFiles(settings.data_dir / "uploads")
        self.locks = UploadLocks()
        self.hub = ProgressHub()
        self.expiry_s = float(settings.upload_expiry)
        self.job_enqueued: Callable[[], None] = lambda: None

    @property
    def config(self) -> tus.TusConfig:
        return self._configs[self._app_state.request_trailers]

    @property
    def db(self) -> Database:
        return self._app_state.db

    @property
    def data_dir(self) -> Path:
        return self._app_state.settings.data_dir


def install_uploads(app: Quart, app_state: AppState) -> Uploads:
    service = app.extensions[_KEY] = Uploads(app_state)
    return service


def uploads_of(app: Quart) -> Uploads:
    """``app``'s :class:`Uploads`."""
    return cast("Uploads", app.extensions[_KEY])


def uploads() -> Uploads:
    """The running app's :class:`Uploads` (needs an app context)."""
    return uploads_of(current_app)
