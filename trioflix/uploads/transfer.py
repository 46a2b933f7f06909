"""Move one request body into an upload's file: large writes, background commits, safe endings.

The body is written :data:`~trioflix.uploads.http_body.WRITE_BYTES` at a time
(one worker thread round trip and one ``pwritev`` each, while the next write's
bytes arrive), and the fsync that lets the offset move runs beside the writing
(:class:`_Commits`), so a long request never stops reading for the disk.

However the transfer ends (body complete, client gone, evicted by a newer
request, idle too long, disk full, 413 or 460, server shutdown), the ending is
the same shielded, time-bounded step: fsync what was written and commit that
offset, or, for a checksummed body that did not verify, cut the file back to
where the request started (tus checksum: the chunk MUST be discarded).

A checksum named in a trailer (tus checksum-trailer) is only known once the
body is in, so such a body is hashed with every offered algorithm while it
streams (:class:`ExpectedChecksum`).

An upload of Resumable Uploads for HTTP also feeds every body to its running
sha-256 (:mod:`trioflix.uploads.running_digest`); a body that ends the upload
is checked against the sha-256 a ``Repr-Digest`` gave for the whole upload
(:class:`ExpectedRepresentation`). Unlike a checksum's, that check holds
nothing back: the body is committed as it goes, and kept even if the whole
upload does not match (which of its bytes are wrong is not known).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import trio

from protocols import tus
from trioflix.errors import APIError
from trioflix.storage import StorageFailure, StorageUnavailable
from trioflix.store import StoreError
from trioflix.uploads.files import COMMIT_INTERVAL_BYTES, DiskFull
from trioflix.uploads.http_body import WRITE_BYTES
from trioflix.uploads.progress import NOTIFY_INTERVAL_S

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from trioflix.uploads.files import Hasher
    from trioflix.uploads.locks import Holder
    from trioflix.uploads.running_digest import RunningSha256

__all__ = [
    "BODY_IDLE_TIMEOUT_S",
    "CLEANUP_TIMEOUT_S",
    "WRITE_LINGER_S",
    "ExpectedChecksum",
    "ExpectedRepresentation",
    "receive_body",
]

logger = logging.getLogger(__name__)

BODY_IDLE_TIMEOUT_S = 60.0  # no body byte for a minute: the connection is dead, keep what came
CLEANUP_TIMEOUT_S = 10.0  # one fsync and one database write, even on a loaded disk
# A client slower than WRITE_BYTES per this long still has its bytes written (and
# its progress shown) this often; a fast one fills a whole write well before.
WRITE_LINGER_S = 0.1


@dataclass(frozen=True)
class ExpectedChecksum:
    """What a checksummed body must match.

    Attributes:
        algorithms: The digests computed while the body streams: the one an
            ``Upload-Checksum`` header names, or every offered algorithm when the
            checksum comes in a trailer.
        resolve: The expected checksum, asked once the whole body is in; may
            raise :class:`tus.TusError` (a trailer that is missing or malformed).
    """

    algorithms: tuple[str, ...]
    resolve: Callable[[], tus.Checksum]

    @classmethod
    def given(cls, checksum: tus.Checksum) -> ExpectedChecksum:
        """A checksum known before the body (the ``Upload-Checksum`` header)."""
        return cls((checksum.algorithm,), lambda: checksum)


@dataclass(frozen=True)
class ExpectedRepresentation:
    """The sha-256 a whole upload must have (``Repr-Digest``), checked if a body ends it.

    Attributes:
        running: The upload's running sha-256, fed this body too.
        sha256: What it must be once the upload has all its bytes.
        length: The upload's length: a body that reaches it ends the upload.
            ``None``: the body's end is the upload's (``Upload-Complete: ?1``
            with no length known).
    """

    running: RunningSha256
    sha256: bytes
    length: int | None


class _Digests:
    """Several hashes of the same bytes, fed as one (runs in the disk worker thread)."""

    def __init__(self, algorithms: tuple[str, ...], *more: Hasher) -> None:
        self._hashes = {name: hashlib.new(name) for name in algorithms}
        self._more = more

    def update(self, data: bytes | memoryview, /) -> None:
        for one in self._hashes.values():
            one.update(data)
        for other in self._more:
            other.update(data)

    def digest(self, algorithm: str) -> bytes:
        return self._hashes[algorithm].digest()


class Body(Protocol):
    """A request body read in batches (:class:`~trioflix.uploads.http_body.FlowControlledBody`)."""

    async def wait_buffered(self, size: int) -> None:
        """Return once ``size`` bytes are buffered or the body has ended."""

    def take(self) -> list[bytes]:
        """Everything buffered, in order; ``[]`` if nothing is."""


class DataFile(Protocol):
    """An upload's open file (:class:`trioflix.uploads.files.DataFile`)."""

    position: int

    async def write(self, pieces: Sequence[bytes], hasher: Hasher | None = None) -> None:
        """Append ``pieces`` at :attr:`position` and move it past them."""

    async def sync(self, *, whole: bool = True) -> int:
        """Make the bytes written so far durable; returns the offset that now is.

        Args:
            whole: False while a body still streams: the file may then leave
                out its latest bytes if storing them now costs much (on object
                storage, the tail past the last part), and return less.
        """

    async def truncate(self, size: int) -> None:
        """Cut the file (and :attr:`position`) back to ``size``."""


async def receive_body(
    body: Body,
    data: DataFile,
    *,
    plan: tus.PatchPlan,
    checksum: ExpectedChecksum | None,
    holder: Holder,
    commit: Callable[[int], Awaitable[None]],
    progress: Callable[[], None],
    running: RunningSha256 | None = None,
    representation: ExpectedRepresentation | None = None,
) -> int:
    """Append ``body`` to ``data`` under ``plan``; returns the committed offset.

    Args:
        body: The request body (a :class:`~trioflix.uploads.http_body.FlowControlledBody`).
            If the transfer is cut short (client gone, evicted, server stopping),
            the bytes it had already received are written too.
        data: The upload's file, positioned at the upload's committed offset.
        plan: From :meth:`tus.UploadState.plan_patch`; supplies the byte limit.
        checksum: What the whole body must match, if the client sent a checksum.
        holder: This request's hold on the upload; eviction cancels ``holder.transfer``.
        commit: Persists a new committed offset (called only after an fsync).
        progress: Called as bytes arrive (at most every ``NOTIFY_INTERVAL_S``).
        running: The upload's running sha-256, fed every byte written (``commit``
            keeps its state).
        representation: What the whole upload must hash to, should this body
            end it (``running`` is then its ``running``).

    Returns:
        The committed offset after the body.

    Raises:
        tus.TusError: 413 past the limit (bytes up to the limit are kept), 460 on
            a checksum mismatch (nothing kept) or an upload that ends not
            matching ``representation`` (the body is kept), 400 for a checksum
            trailer that is missing or malformed (nothing kept).
        APIError: 408 after ``BODY_IDLE_TIMEOUT_S`` without a byte, 423 if a newer
            request evicted this one, 507 when the disk is full. The bytes
            received before are kept.
        StorageUnavailable: Object storage could not take a part or the tail;
            what was committed before stands.
        trio.Cancelled: The client went away or the server is stopping; the
            bytes received before are kept.
    """
    start = data.position
    if representation is not None:
        running = representation.running
    feeds = () if running is None else (running,)
    hasher = None
    if checksum is not None or feeds:
        hasher = _Digests(checksum.algorithms if checksum is not None else (), *feeds)
    verified = checksum is None
    next_progress = trio.current_time()
    refused = False  # 413, 460 or a full disk: nothing more may be written
    commits = _Commits(data, commit)
    failure: Exception | None = None
    try:
        with holder.transfer:
            async with trio.open_nursery() as nursery:
                try:
                    while pieces := await _next_write(body):
                        size = sum(map(len, pieces))
                        sent = data.position - start + size
                        if plan.limit is not None and sent > plan.limit:
                            refused = True
                            await data.write(_first(pieces, size - (sent - plan.limit)), hasher)
                            plan.check_received(sent)  # raises 413
                        await data.write(pieces, hasher)
                        holder.received = data.position
                        if checksum is None:
                            await commits.start_due(nursery)
                        if trio.current_time() >= next_progress:
                            progress()
                            next_progress = trio.current_time() + NOTIFY_INTERVAL_S
                    await commits.settle()
                    if checksum is not None:
                        assert hasher is not None
                        refused = True
                        expected = checksum.resolve()
                        tus.verify_checksum(expected, hasher.digest(expected.algorithm))  # 460
                        refused = False
                        verified = True
                    if representation is not None:
                        refused = True  # the body is in: nothing more to write, what came stays
                        _check_representation(representation, data.position)  # 460
                        refused = False
                except Exception as exc:
                    # Raised outside the nursery, so that callers get it as it is and
                    # not inside an exception group (the commit task never raises).
                    failure = exc
            if failure is not None:
                try:
                    raise failure
                finally:
                    # Its traceback holds this frame, whose local held it: a cycle
                    # that kept a cut upload's frames, tasks and buffers alive.
                    failure = None
    except DiskFull:
        refused = True
        raise APIError(
            507,
            "insufficient_storage",
            "the server's upload disk is full; the bytes received so far are kept, "
            "resume once space is freed",
        ) from None
    finally:
        with trio.move_on_after(CLEANUP_TIMEOUT_S, shield=True) as cleanup:
            if verified and not refused:
                await _keep_buffered(body, data, plan.limit, start, hasher)
            if verified:
                await commits.finish()
            else:
                await data.truncate(start)
            holder.received = commits.committed
            progress()
        if cleanup.cancelled_caught:
            # The client is told the offset committed so far and sends the rest again;
            # a store that takes this long (object storage finishing its parts) is news.
            logger.warning(
                "upload cleanup took over %.0f s: offset %d kept, the rest is resent",
                CLEANUP_TIMEOUT_S,
                commits.committed,
            )
    if commits.unavailable is not None:
        raise commits.unavailable
    if holder.evicted:
        raise APIError(423, "upload_locked", "a newer request for this upload took over")
    return commits.committed


class _Commits:
    """The committed offset, moved only after an fsync (the policy in :mod:`.files`).

    While a request goes on, an fsync starts every :data:`COMMIT_INTERVAL_BYTES`
    in a task of its own and the offset written before it is committed when it
    returns: the body keeps flowing to the disk meanwhile. One runs at a time,
    so the bytes not yet committed stay under two intervals plus one write.
    """

    def __init__(self, data: DataFile, commit: Callable[[int], Awaitable[None]]) -> None:
        self._data = data
        self._commit = commit
        self.committed = data.position
        self._synced_from = data.position  # where the last fsync started
        self._idle = trio.Event()
        self._idle.set()
        self._failure: Exception | None = None
        self._fsync_failed = False
        #: Object storage could not take the last bytes: the request must fail (503).
        self.unavailable: StorageUnavailable | None = None

    async def start_due(self, nursery: trio.Nursery) -> None:
        """Start an fsync and commit if an interval was written since the last one.

        Raises:
            OSError: A background fsync failed.
            StoreError: A background commit failed.
        """
        self._check()
        if self._data.position - self._synced_from < COMMIT_INTERVAL_BYTES:
            return
        await self.settle()  # one at a time
        self._idle = trio.Event()
        self._synced_from = self._data.position
        nursery.start_soon(self._sync_and_commit)

    async def settle(self) -> None:
        """Wait for the fsync and commit in progress, if any.

        Raises:
            OSError: A background fsync failed.
            StoreError: A background commit failed.
        """
        await self._idle.wait()
        self._check()

    def _check(self) -> None:
        if self._failure is not None:
            raise self._failure

    async def _sync_and_commit(self) -> None:
        try:
            offset = await self._data.sync(whole=False)
        except (OSError, StorageFailure) as exc:
            self._failure = exc
            self._fsync_failed = True
        else:
            try:
                await self._commit(offset)
            except StoreError as exc:
                self._failure = exc
            else:
                self.committed = offset
        finally:
            self._idle.set()

    async def finish(self) -> None:
        """The end of the request: fsync and commit everything written (call shielded)."""
        await self._idle.wait()
        position = self._data.position
        if self._fsync_failed:
            # After a failed fsync Linux may have dropped the dirty pages and a
            # later fsync can succeed all the same: nothing written since the
            # last commit is known to be on disk. The next request cuts it off.
            logger.warning("fsync failed; keeping the upload at offset %d", self.committed)
            return
        if position == self.committed:
            return
        try:
            position = await self._data.sync()
        except (OSError, StorageFailure) as exc:
            if isinstance(exc, StorageUnavailable):
                self.unavailable = exc
            logger.warning(
                "could not store the last bytes; keeping the upload at offset %d",
                self.committed,
                exc_info=True,
            )
            return
        try:
            await self._commit(position)
        except StoreError:
            logger.warning("could not commit offset %d; keeping %d", position, self.committed)
            return
        self.committed = position


async def _next_write(body: Body) -> list[bytes]:
    """The body's next bytes, up to about :data:`WRITE_BYTES`; ``[]`` at its end."""
    with trio.move_on_after(BODY_IDLE_TIMEOUT_S) as idle:
        await body.wait_buffered(1)
    if idle.cancelled_caught:
        raise APIError(408, "body_timeout", "no upload data arrived for too long")
    with trio.move_on_after(WRITE_LINGER_S):
        await body.wait_buffered(WRITE_BYTES)
    return body.take()


def _first(pieces: list[bytes], size: int) -> list[bytes]:
    """The first ``size`` bytes of ``pieces``."""
    out: list[bytes] = []
    for piece in pieces:
        if size <= 0:
            break
        out.append(piece[:size])
        size -= len(piece)
    return out


def _check_representation(representation: ExpectedRepresentation, position: int) -> None:
    """Check the whole upload's sha-256 if the body, ended, ends it at ``position``.

    Raises:
        tus.TusError: 460, the upload ends here and does not match (RFC 9530).
    """
    if representation.length is not None and position != representation.length:
        return  # the upload goes on: checked when it ends
    if representation.running.digest() != representation.sha256:
        raise tus.TusError(
            460,
            tus.ErrorCode.CHECKSUM_MISMATCH,
            "the upload does not match the sha-256 of its Repr-Digest",
        )


async def _keep_buffered(
    body: Body, data: DataFile, limit: int | None, start: int, hasher: Hasher | None
) -> None:
    # tus: "The Server SHOULD always attempt to store as much of the received data as possible."
    rest = body.take()
    if limit is not None:
        rest = _first(rest, limit - (data.position - start))
    if rest:
        try:
            await data.write(rest, hasher)
        except (OSError, StorageFailure):
            logger.warning("could not keep %d buffered bytes", sum(map(len, rest)), exc_info=True)
