"""Move one request body into an upload's file: bounded chunks, periodic commits, safe endings.

However the transfer ends (body complete, client gone, evicted by a newer
request, idle too long, disk full, 413 or 460, server shutdown), the ending is
the same shielded, time-bounded step: fsync what was written and commit that
offset, or, for a checksummed body that did not verify, cut the file back to
where the request started (tus checksum: the chunk MUST be discarded).
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Protocol

import trio

from protocols import tus
from trioflix.errors import APIError
from trioflix.store import StoreError
from trioflix.uploads.files import COMMIT_INTERVAL_BYTES, DiskFull
from trioflix.uploads.progress import NOTIFY_INTERVAL_S

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from trioflix.uploads.files import DataFile
    from trioflix.uploads.locks import Holder

__all__ = ["BODY_IDLE_TIMEOUT_S", "CLEANUP_TIMEOUT_S", "receive_body"]

logger = logging.getLogger(__name__)

BODY_IDLE_TIMEOUT_S = 60.0  # no body byte for a minute: the connection is dead, keep what came
CLEANUP_TIMEOUT_S = 10.0  # one fsync and one database write, even on a loaded disk


class Body(Protocol):
    """A request body that can also hand over what it has buffered but not yet yielded."""

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    def take_buffered(self) -> bytes: ...


async def receive_body(
    body: Body,
    data: DataFile,
    *,
    plan: tus.PatchPlan,
    checksum: tus.Checksum | None,
    holder: Holder,
    commit: Callable[[int], Awaitable[None]],
    progress: Callable[[], None],
) -> int:
    """Append ``body`` to ``data`` under ``plan``; returns the committed offset.

    Args:
        body: The request body (a :class:`~trioflix.uploads.http_body.FlowControlledBody`).
            If the transfer is cut short (client gone, evicted, server stopping),
            the bytes it had already received are written too.
        data: The upload's file, positioned at the upload's committed offset.
        plan: From :meth:`tus.UploadState.plan_patch`; supplies the byte limit.
        checksum: The expected checksum of the whole body, if the client sent one.
        holder: This request's hold on the upload; eviction cancels ``holder.transfer``.
        commit: Persists a new committed offset (called only after an fsync).
        progress: Called as bytes arrive (at most every ``NOTIFY_INTERVAL_S``).

    Returns:
        The committed offset after the body.

    Raises:
        tus.TusError: 413 past the limit (bytes up to the limit are kept), 460 on
            a checksum mismatch (nothing kept).
        APIError: 408 after ``BODY_IDLE_TIMEOUT_S`` without a byte, 423 if a newer
            request evicted this one, 507 when the disk is full. The bytes
            received before are kept.
        trio.Cancelled: The client went away or the server is stopping; the
            bytes received before are kept.
    """
    start = committed = data.position
    hasher = hashlib.new(checksum.algorithm) if checksum is not None else None
    verified = checksum is None
    next_progress = trio.current_time()
    chunks = aiter(body)
    refused = False  # 413, 460 or a full disk: nothing more may be written
    try:
        with holder.transfer:
            while True:
                with trio.move_on_after(BODY_IDLE_TIMEOUT_S) as idle:
                    chunk = await anext(chunks, None)
                if idle.cancelled_caught:
                    raise APIError(408, "body_timeout", "no upload data arrived for too long")
                if chunk is None:
                    break
                sent = data.position - start + len(chunk)
                if plan.limit is not None and sent > plan.limit:
                    refused = True
                    await data.write(chunk[: len(chunk) - (sent - plan.limit)], hasher)
                    plan.check_received(sent)  # raises 413
                await data.write(chunk, hasher)
                holder.received = data.position
                if hasher is None and data.position - committed >= COMMIT_INTERVAL_BYTES:
                    await data.sync()
                    await commit(data.position)
                    committed = data.position
                if trio.current_time() >= next_progress:
                    progress()
                    next_progress = trio.current_time() + NOTIFY_INTERVAL_S
            if checksum is not None:
                assert hasher is not None
                refused = True
                tus.verify_checksum(checksum, hasher.digest())  # raises 460
                refused = False
                verified = True
    except DiskFull:
        refused = True
        raise APIError(
            507,
            "insufficient_storage",
            "the server's upload disk is full; the bytes received so far are kept, "
            "resume once space is freed",
        ) from None
    finally:
        with trio.move_on_after(CLEANUP_TIMEOUT_S, shield=True):
            if verified and not refused:
                await _keep_buffered(body, data, plan.limit, start)
            committed = await _finish(data, start, committed, verified, commit)
            holder.received = committed
            progress()
    if holder.evicted:
        raise APIError(423, "upload_locked", "a newer request for this upload took over")
    return committed


async def _keep_buffered(body: Body, data: DataFile, limit: int | None, start: int) -> None:
    # tus: "The Server SHOULD always attempt to store as much of the received data as possible."
    rest = body.take_buffered()
    if limit is not None:
        rest = rest[: max(limit - (data.position - start), 0)]
    if rest:
        try:
            await data.write(rest)
        except OSError:
            logger.warning("could not keep %d buffered bytes", len(rest), exc_info=True)


async def _finish(
    data: DataFile,
    start: int,
    committed: int,
    verified: bool,
    commit: Callable[[int], Awaitable[None]],
) -> int:
    if not verified:
        await data.truncate(start)
        return committed
    if data.position == committed:
        return committed
    try:
        await data.sync()
    except OSError:
        # Nothing past the last commit is known to be on disk; the next request
        # cuts the file back to it.
        logger.warning("fsync failed; keeping the upload at offset %d", committed, exc_info=True)
        return committed
    try:
        await commit(data.position)
    except StoreError:
        logger.warning("could not commit offset %d; keeping %d", data.position, committed)
        return committed
    return data.position
