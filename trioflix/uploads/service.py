"""The per-process upload service: what the tus routes, housekeeping and jobs share.

One :class:`Uploads` is built with the app's other services
(:func:`trioflix.services.build_state`) and lives in its state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from protocols import tus
from trioflix.uploads.files import UploadFiles
from trioflix.uploads.locks import UploadLocks
from trioflix.uploads.multipart import UploadObjects
from trioflix.uploads.progress import ProgressHub
from trioflix.uploads.quota import UploadQuota
from trioflix.uploads.shared_locks import SharedUploadLocks

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from trioflix.config import Settings
    from trioflix.storage import ObjectStore
    from trioflix.store import Database

__all__ = [
    "EXTENSIONS",
    "EXTENSIONS_WITHOUT_TRAILERS",
    "TUS_PATH",
    "TUS_UPLOAD_ROUTE",
    "Uploads",
]

#: Where the tus endpoints live (the creation URL; uploads are ``TUS_PATH/<id>``).
TUS_PATH = "/api/upload/video/tus"
#: The upload URLs' route, as Quart names it (and as requests are counted in /metrics).
TUS_UPLOAD_ROUTE = f"{TUS_PATH}/<upload_id>"

#: What ``trioflix serve`` implements and advertises: every extension of tus 1.0.0.
EXTENSIONS: tuple[tus.Extension, ...] = tuple(tus.Extension)
#: The same without checksum-trailer, where request trailers cannot reach the app:
#: ASGI has no message for them, so under plain hypercorn the checksum could never
#: be seen. ``trioflix serve`` delivers them (:mod:`trioflix.asgi_internals`).
EXTENSIONS_WITHOUT_TRAILERS = tuple(
    extension for extension in EXTENSIONS if extension is not tus.Extension.CHECKSUM_TRAILER
)


class Uploads:
    """Shared upload state of one server process.

    Args:
        settings: The server's settings.
        get_db: The database (available once the services started).
        request_trailers: Whether request trailers reach the app (``trioflix serve``
            delivers them; plain hypercorn cannot).
        job_enqueued: Called after a processing job was enqueued (wakes the workers).
        get_objects: The object store (available once the services started).

    Attributes:
        config: The tus capabilities, with ``TRIOFLIX_MAX_UPLOAD`` as the limit
            (checksum-trailer only where the server delivers request trailers).
        data_dir: The server's data directory.
        files: Where upload bytes go: one file per upload in ``DATA_DIR/uploads``
            when media is on local disk, a multipart upload per upload when it is on
            object storage (``TRIOFLIX_STORAGE_URL=s3://...``).
        locks: Per-upload request serialisation with takeover: in-process, or across
            hosts through PostgreSQL for uploads on object storage.
        hub: Live progress wake-ups for status streams.
        expiry_s: How long an unfinished upload lives after its last commit.
        check_videos: Whether a finished upload is checked to be a video before
            its job is queued (``TRIOFLIX_CHECK_UPLOADS``).
        quota: Each user's limits on bytes in flight and stored.
    """

    def __init__(
        self,
        settings: Settings,
        get_db: Callable[[], Database],
        request_trailers: Callable[[], bool],
        job_enqueued: Callable[[], None],
        get_objects: Callable[[], ObjectStore],
    ) -> None:
        self._get_db = get_db
        self._get_objects = get_objects
        self._request_trailers = request_trailers
        self.data_dir: Path = settings.data_dir
        self._configs = {
            trailers: tus.TusConfig(
                extensions=EXTENSIONS if trailers else EXTENSIONS_WITHOUT_TRAILERS,
                max_size=settings.max_upload,
            )
            for trailers in (False, True)
        }
        self.files: UploadFiles | UploadObjects = (
            UploadObjects(settings.data_dir / "uploads", get_objects, settings.upload_part_size)
            if urlsplit(settings.storage_url or "").scheme == "s3"
            else UploadFiles(settings.data_dir / "uploads")
        )
        # Uploads on object storage can be continued on any host that shares the
        # database (PostgreSQL); one host alone keeps its in-process lock.
        self.locks: UploadLocks | SharedUploadLocks = (
            SharedUploadLocks(UploadLocks(), get_db)
            if isinstance(self.files, UploadObjects) and settings.database_url
            else UploadLocks()
        )
        self.hub = ProgressHub()
        self.expiry_s = float(settings.upload_expiry)
        self.check_videos = settings.check_uploads
        self.quota = UploadQuota(in_flight=settings.upload_in_flight, total=settings.upload_quota)
        self.job_enqueued = job_enqueued

    @property
    def config(self) -> tus.TusConfig:
        return self._configs[self._request_trailers()]

    @property
    def db(self) -> Database:
        return self._get_db()

    @property
    def objects(self) -> ObjectStore:
        """The media object store, where a finished upload's bytes go."""
        return self._get_objects()
