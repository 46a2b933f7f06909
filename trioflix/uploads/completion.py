"""What happens when an upload has all its bytes: it becomes a video being processed.

An ordinary or final upload's bytes move into the object store as
``uploads/ID/data`` (a rename on local disk; an upload to S3 is there already)
and are checked to be a video we can play (:mod:`trioflix.uploads.playable`).
Then the upload turns into a ``videos`` row and a processing job reading that
object, in one transaction, so neither exists without the other. A file that
is no video turns into a ``failed`` video saying why, with no job, and its
bytes are deleted: its owner sees the reason at once and deletes the video.
A partial upload just becomes ``complete`` and waits for its final upload to
be assembled.
"""

from __future__ import annotations

import logging
import time
from pathlib import PurePath
from typing import TYPE_CHECKING

from protocols import tus
from trioflix.jobs.queue import enqueue
from trioflix.media.library import create_video, set_failed
from trioflix.media.processing import PROCESS_VIDEO, adopt_source, process_payload
from trioflix.storage import StorageUnavailable
from trioflix.uploads import records
from trioflix.uploads.files import UploadFiles
from trioflix.uploads.multipart import data_key
from trioflix.uploads.playable import refusal

if TYPE_CHECKING:
    from trioflix.uploads.records import Upload
    from trioflix.uploads.service import Uploads

__all__ = ["assemble_final", "assemble_waiting_finals", "complete_upload", "finish_stored"]

logger = logging.getLogger(__name__)

TITLE_MAX_CHARS = 200
DESCRIPTION_MAX_CHARS = 5000


def _title(upload: Upload) -> str:
    title = (upload.metadata_text("title") or "").strip()
    if not title:
        filename = upload.metadata_text("filename") or upload.metadata_text("name") or ""
        title = PurePath(filename.replace("\\", "/")).stem.strip()
    return (title or "Untitled video")[:TITLE_MAX_CHARS]


async def complete_upload(service: Uploads, upload: Upload) -> None:
    """Turn a fully stored upload into a video being processed (call with the upload held)."""
    if upload.is_partial:
        await records.mark(service.db, upload.id, "complete")
        return
    source = data_key(upload.id)
    if isinstance(service.files, UploadFiles):
        # On local disk the file moves into the store (a rename); on object storage
        # the completed multipart upload is that object already. Before the job
        # exists, so that whichever host's worker claims it finds its source.
        await adopt_source(service.objects, service.files.path(upload.id), source)
    refused = await refusal(service.objects, source) if service.check_videos else None
    async with service.db.transaction() as tx:
        video_id = await create_video(
            tx,
            user_id=upload.user_id,
            title=_title(upload),
            description=(upload.metadata_text("description") or "")[:DESCRIPTION_MAX_CHARS],
            origin="upload",
        )
        if refused is None:
            await enqueue(
                tx,
                PROCESS_VIDEO,
                process_payload(video_id, [source]),
                subject=f"video:{video_id}",
            )
        else:
            await set_failed(tx, video_id, refused)
        await records.mark(tx, upload.id, "complete", video_id=video_id)
    if refused is None:
        service.job_enqueued()
        logger.info("upload %s complete: video %d queued", upload.id, video_id)
    else:
        logger.info("upload %s refused (video %d): %s", upload.id, video_id, refused)
        await _delete_refused(service, source)
    service.hub.notify(upload.user_id)


async def _delete_refused(service: Uploads, source: str) -> None:
    # After the transaction: deleted before it, a crash in between would leave an
    # upload that can never complete (its bytes gone, no video). An outage here
    # leaves the object behind, which is only space.
    try:
        await service.objects.delete(source)
    except StorageUnavailable:
        logger.warning("the refused upload %s stays in the store: it cannot be reached", source)


async def finish_stored(service: Uploads, upload_id: str) -> None:
    """Complete an upload whose bytes are all stored but whose completion was cut short.

    Raises:
        StorageUnavailable: Object storage is still away; call again later.
    """
    async with service.locks.hold(upload_id, evict=False):
        upload = await records.get_upload(service.db, upload_id, None)
        if upload is None or upload.state != "uploading" or not upload.tus_state().finished:
            return
        await service.files.seal(service.db, upload)
        await complete_upload(service, upload)
    logger.info("upload %s: completion caught up", upload_id)


async def assemble_final(service: Uploads, final_id: str) -> bool:
    """Concatenate a final upload's partials once all are complete.

    Safe to call at any time and more than once (after each partial finishes,
    and by housekeeping after a restart).

    Returns:
        True if the final upload is now complete.
    """
    async with service.locks.hold(final_id, evict=False):
        final = await records.get_upload(service.db, final_id, None)
        if final is None or final.state != "uploading":
            return False
        parts = await records.parts_of(service.db, final_id)
        if not parts or any(p.state != "complete" for p in parts):
            return False
        try:
            length = tus.final_length([p.tus_state() for p in parts], service.config)
        except tus.TusError as exc:  # the partials add up past the maximum
            logger.info("final upload %s cannot be assembled: %s", final_id, exc)
            await records.mark(service.db, final_id, "expired")
            return False
        assert length is not None  # every part is complete
        started = time.perf_counter()
        total = await service.files.concatenate(service.db, final, parts)
        if total != length:
            raise RuntimeError(f"final upload {final_id}: parts hold {total} bytes, not {length}")
        async with service.db.transaction() as tx:
            await records.set_length(tx, final_id, length)
            await records.commit_offset(tx, final_id, length, None)
            for part in parts:
                await records.mark(tx, part.id, "consumed")
        for part in parts:
            await service.files.remove(part)
        logger.info(
            "assembled final upload %s from %d parts (%d bytes) in %.2f s",
            final_id,
            len(parts),
            length,
            time.perf_counter() - started,
        )
        final = await records.get_upload(service.db, final_id, None)
        assert final is not None
        await complete_upload(service, final)
    return True


async def assemble_waiting_finals(service: Uploads, partial_id: str) -> None:
    """After a partial upload completes: assemble the final uploads that were waiting on it."""
    for final_id in await records.finals_waiting_on(service.db, partial_id):
        await assemble_final(service, final_id)
