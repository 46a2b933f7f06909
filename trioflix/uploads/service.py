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

__all__ = ["EXTENSIONS", "TUS_PATH", "Uploads", "install_uploads", "uploads"]

#: Where the tus endpoints live (the creation URL; uploads are ``TUS_PATH/<id>``).
TUS_PATH = "/api/upload/video/tus"
_KEY = "trioflix.uploads"

#: What this server implements and therefore advertises. checksum-trailer is
#: absent: ASGI has no way to deliver request trailers to an application
#: (hypercorn reads and drops them), so we could never see the checksum.
EXTENSIONS: tuple[tus.Extension, ...] = (
    tus.Extension.CREATION,
    tus.Extension.CREATION_WITH_UPLOAD,
    tus.Extension.CREATION_DEFER_LENGTH,
    tus.Extension.EXPIRATION,
    tus.Extension.CHECKSUM,
    tus.Extension.TERMINATION,
    tus.Extension.CONCATENATION,
    tus.Extension.CONCATENATION_UNFINISHED,
)


class Uploads:
    """Shared upload state of one server process.

    Attributes:
        config: The tus capabilities, with ``TRIOFLIX_MAX_UPLOAD`` as the limit.
        files: The upload data files.
        locks: Per-upload request serialisation with takeover.
        hub: Live progress wake-ups for status streams.
        expiry_s: How long an unfinished upload lives after its last commit.
        job_enqueued: Called after a processing job was enqueued (wakes the workers).
    """

    def __init__(self, app_state: AppState) -> None:
        self._app_state = app_state
        settings = app_state.settings
        self.config = tus.TusConfig(extensions=EXTENSIONS, max_size=settings.max_upload)
        self.files = UploadFiles(settings.data_dir / "uploads")
        self.locks = UploadLocks()
        self.hub = ProgressHub()
        self.expiry_s = float(settings.upload_expiry)
        self.job_enqueued: Callable[[], None] = lambda: None

    @property
    def db(self) -> Database:
        return self._app_state.db

    @property
    def data_dir(self) -> Path:
        return self._app_state.settings.data_dir


def install_uploads(app: Quart, app_state: AppState) -> Uploads:
    service = app.extensions[_KEY] = Uploads(app_state)
    return service


def uploads() -> Uploads:
    """The running app's :class:`Uploads` (needs an app context)."""
    return cast("Uploads", current_app.extensions[_KEY])
