"""What every resumable-upload protocol does with a stored upload: find the caller's,
stream a request body into it, finish it.

tus (:mod:`trioflix.uploads.tus_handler`) and Resumable Uploads for HTTP
(:mod:`trioflix.uploads.resumable_handler`) decide what a request may do, each by
its own rules; both then store bytes the same way, so an upload has the same
durability (fsync before an offset is acknowledged), lock takeover, expiry and
processing whichever protocol carried it.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from protocols import tus
from trioflix.errors import APIError
from trioflix.uploads import records
from trioflix.uploads.completion import assemble_waiting_finals, complete_upload
from trioflix.uploads.housekeeping import drop_data
from trioflix.uploads.transfer import receive_body

if TYPE_CHECKING:
    from trioflix.store.users import User
    from trioflix.uploads.locks import Holder
    from trioflix.uploads.records import Upload
    from trioflix.uploads.running_digest import RunningSha256
    from trioflix.uploads.service import Uploads
    from trioflix.uploads.transfer import Body, ExpectedChecksum, ExpectedRepresentation

__all__ = [
    "after_release",
    "finish_upload",
    "now",
    "owned_upload",
    "receive_upload",
    "terminate_upload",
]

logger = logging.getLogger(__name__)


def now() -> datetime:
    """The current time, timezone-aware (the protocols take time as an input)."""
    return datetime.now(UTC)


async def owned_upload(service: Uploads, user: User, upload_id: str) -> Upload:
    """The caller's upload, or 404 (unknown, or someone else's) / 410 (terminated or expired)."""
    upload = await records.get_upload(service.db, upload_id, user.id)
    if upload is None:
        raise APIError(404, "not_found", "no such upload")
    if upload.state == "expired":
        raise tus.TusError(410, tus.ErrorCode.UPLOAD_EXPIRED, "this upload has expired")
    if upload.state == "terminated":
        raise APIError(410, "upload_terminated", "this upload was terminated")
    return upload


async def receive_upload(
    service: Uploads,
    body: Body,
    upload: Upload,
    req: tus.PatchRequest,
    holder: Holder,
    checksum: ExpectedChecksum | None,
    running: RunningSha256 | None = None,
    representation: ExpectedRepresentation | None = None,
) -> Upload:
    """Stream ``body`` into ``upload`` (held); returns the upload as stored after.

    An upload that reached its length is finished (:func:`finish_upload`).
    ``running`` (the upload's running sha-256, at its committed offset) is fed
    the body, and its state stored with each offset committed;
    ``representation`` is checked if the body ends the upload
    (:func:`~trioflix.uploads.transfer.receive_body`).

    Raises:
        tus.TusError: What :meth:`tus.UploadState.plan_patch` and
            :func:`~trioflix.uploads.transfer.receive_body` raise.
        APIError: As :func:`~trioflix.uploads.transfer.receive_body` raises.
    """
    plan = upload.tus_state().plan_patch(req, service.config, now=now())
    if plan.declared_length is not None:
        await records.set_length(service.db, upload.id, plan.declared_length)
    holder.received = upload.offset

    async with service.files.opened(service.db, upload) as data:

        async def commit(offset: int) -> None:
            await data.commit(service.db, offset, time.time() + service.expiry_s)
            state = None if running is None else running.state_at(offset)
            if state is not None:
                # After the offset: a crash in between leaves a digest that says it
                # covers less, never one that claims bytes it has not seen.
                await records.save_digest(service.db, upload.id, offset, state)

        await receive_body(
            body,
            data,
            plan=plan,
            checksum=checksum,
            holder=holder,
            commit=commit,
            progress=lambda: service.hub.notify(upload.user_id),
            running=running,
            representation=representation,
        )
    stored = await records.get_upload(service.db, upload.id, None)
    assert stored is not None
    if stored.tus_state().finished and stored.state == "uploading":
        stored = await finish_upload(service, stored)
    return stored


async def finish_upload(service: Uploads, stored: Upload) -> Upload:
    """Seal the bytes of an upload (held) that has all of them and queue its processing."""
    await service.files.seal(service.db, stored)
    await complete_upload(service, stored)
    finished = await records.get_upload(service.db, stored.id, None)
    assert finished is not None
    return finished


async def after_release(service: Uploads, upload: Upload) -> None:
    """Work that needs other uploads' locks, done once this upload is released."""
    if upload.is_partial and upload.state == "complete":
        await assemble_waiting_finals(service, upload.id)


async def terminate_upload(service: Uploads, user: User, upload_id: str) -> None:
    """End the caller's upload: later requests get 410, its unfinished bytes go."""
    async with service.locks.hold(upload_id):
        upload = await owned_upload(service, user, upload_id)
        await records.mark(service.db, upload_id, "terminated")
        if upload.state == "uploading" or (upload.state == "complete" and upload.is_partial):
            # A finished ordinary upload's bytes already belong to its video. With
            # the storage away they stay for housekeeping; the upload is ended.
            await drop_data(service, upload)
    logger.info("upload %s terminated", upload_id)
