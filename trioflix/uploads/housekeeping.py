"""Upload housekeeping, a service task: reap expired uploads, finish interrupted assemblies.

Every :data:`SWEEP_INTERVAL_S` (and once at start, which also catches up after
a crash) it

- completes uploads whose bytes are all stored but whose completion was cut
  short (object storage away at that moment, or the server stopped);
- deletes the data of unfinished uploads past their ``expires_at`` (on object
  storage: aborts the multipart upload and deletes the tail) and leaves a
  tombstone, so that the client hears 410 rather than 404;
- purges tombstones older than :data:`TOMBSTONE_KEEP_S`;
- assembles final uploads whose partials are all complete (the server may have
  stopped between the last partial byte and the concatenation).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import trio

from trioflix.storage import StorageFailure
from trioflix.store import StoreError
from trioflix.uploads import records
from trioflix.uploads.completion import assemble_final, finish_stored

if TYPE_CHECKING:
    from trioflix.uploads.service import Uploads

__all__ = ["SWEEP_INTERVAL_S", "run_housekeeping", "sweep"]

logger = logging.getLogger(__name__)

SWEEP_INTERVAL_S = 60.0  # expiry is measured in hours; a minute late is fine
TOMBSTONE_KEEP_S = 7 * 24 * 3600.0  # a client coming back within a week hears 410
BATCH = 100  # uploads per sweep and query: a sweep never loads an unbounded list


async def sweep(service: Uploads) -> int:
    """One housekeeping pass. Returns the number of uploads that expired."""
    expired = 0
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
            await service.files.remove(current)
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
