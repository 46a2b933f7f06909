"""Upload housekeeping, a service task: reap expired uploads, finish interrupted assemblies.

Every :data:`SWEEP_INTERVAL_S` (and once at start, which also catches up after
a crash) it

- completes uploads whose bytes are all stored but whose completion was cut
  short (object storage away at that moment, or the server stopped);
- deletes the data of unfinished uploads past their ``expires_at`` (on object
  storage: aborts the multipart upload and deletes the tail) and leaves a
  tombstone, so that the client hears 410 rather than 404;
- removes what terminated and expired uploads left on object storage while it
  was away (:func:`drop_data`: the row keeps its multipart id until then);
- purges tombstones older than :data:`TOMBSTONE_KEEP_S`;
- assembles final uploads whose partials are all complete (the server may have
  stopped between the last partial byte and the concatenation).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import trio

from trioflix.storage import StorageFailure, StorageUnavailable
from trioflix.store import StoreError
from trioflix.uploads import records
from trioflix.uploads.completion import assemble_final, finish_stored

if TYPE_CHECKING:
    from trioflix.uploads.records import Upload
    from trioflix.uploads.service import Uploads

__all__ = ["SWEEP_INTERVAL_S", "drop_data", "run_housekeeping", "sweep"]

logger = logging.getLogger(__name__)

SWEEP_INTERVAL_S = 60.0  # expiry is measured in hours; a minute late is fine
TOMBSTONE_KEEP_S = 7 * 24 * 3600.0  # a client coming back within a week hears 410
BATCH = 100  # uploads per sweep and query: a sweep never loads an unbounded list


async def drop_data(service: Uploads, upload: Upload) -> bool:
    """Remove the bytes of ``upload``, terminated or expired (its row marked so already).

    On object storage that is aborting its multipart upload and deleting its
    objects. With the storage away they stay, and so does the multipart id in
    the row, which marks the upload for :func:`sweep` to clean once the storage
    answers: the termination or expiry itself stands.

    Returns:
        Whether the bytes are gone.
    """
    try:
        await service.files.remove(upload)
    except StorageUnavailable as exc:
        logger.warning("upload %s: its data stays until the storage is back: %s", upload.id, exc)
        return False
    if upload.multipart_id is not None:
        await records.forget_multipart(service.db, upload.id)
    return True


async def sweep(service: Uploads) -> int:
    """One housekeeping pass. Returns the number of uploads that expired."""
    expired = 0
    for upload in await records.list_data_left(service.db, BATCH):
        if not await drop_data(service, upload):
            break  # the storage is still away: the next sweep tries again
    for upload_id in await records.list_stored_unfinished(service.db, BATCH):
        await finish_stored(service, upload_id)
    for upload in await records.list_expired(service.db, time.time(), BATCH):
        if service.locks.holder(upload.id) is not None:
            continue  # a request is writing it right now: its commit slides the expiry
        async with service.locks.hold(upload.id, evict=False):
            current = await records.get_upload(service.db, upload.id, None)
            if current is None or current.state != "uploading" or current.expires_at is None:
                continue
            if current.expires_at > time.time():
                continue  # a PATCH slid its expiry meanwhile
            await records.mark(service.db, upload.id, "expired")
            await drop_data(service, current)
            expired += 1
            logger.info("upload %s expired at offset %d", upload.id, current.offset)
    await records.purge_tombstones(service.db, time.time() - TOMBSTONE_KEEP_S)
    for final_id in await records.list_pending_finals(service.db, BATCH):
        await assemble_final(service, final_id)
    return expired


async def run_housekeeping(
    service: Uploads,
    interval_s: float = SWEEP_INTERVAL_S,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    task_status.started()
    while True:
        try:
            await sweep(service)
        except (StoreError, StorageFailure) as exc:
            logger.warning("upload housekeeping skipped a sweep: %s", exc)
        await trio.sleep(interval_s)
