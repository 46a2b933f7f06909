"""tus upload bytes on object storage: a multipart upload, a local spool, a durable tail.

Upload ``ID`` is a multipart upload to ``uploads/ID/data``, begun when the upload
is created. A PATCH's bytes go to a spool file on local disk
(``DATA_DIR/uploads/ID.spool``); each time a whole part has arrived
(``TRIOFLIX_UPLOAD_PART_SIZE``) it is sent as the next part, from a file of its
own, while a fresh spool takes the bytes after it. At most
:data:`PARTS_IN_FLIGHT` parts are sent at once, so an upload holds at most that
many parts and one more of local disk whatever its size.

The bytes past the last whole part, the *tail*, are made durable before an
offset that counts them is committed: the spool is written whole as the object
``uploads/ID/tail``, replacing the last one (an object write is atomic). The
committed offset is the committed parts (their bytes in the row's
``part_bytes``, the parts themselves in ``upload_object_parts``) plus the first
``offset - part_bytes`` bytes of the tail, so it only ever names bytes that are
in the store. Any host can therefore answer HEAD and continue the upload: its
PATCH reads the tail back into a spool of its own and goes on.

A part number is never sent twice (SeaweedFS lists both sends): a request
numbers its parts after every part the store lists, and a part that was sent but
never committed (the server died, or the body's checksum did not match) keeps
its number and is left out when the upload completes.

Completion copies the tail into the last part inside the store (the last part
may be smaller than 5 MiB), completes the multipart upload and deletes the tail.
Concatenation builds the final upload from the partial uploads' objects with
copied parts; see :meth:`UploadObjects.concatenate`.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import trio

from trioflix.storage import MIN_PART_SIZE, StorageError, StorageFailure, UploadNotFound
from trioflix.uploads import records
from trioflix.uploads.files import DISK_LIMITER, DiskFull, write_all

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Sequence
    from pathlib import Path

    from trioflix.storage import ObjectInfo, ObjectStore, Part
    from trioflix.store import Database
    from trioflix.uploads.files import Hasher
    from trioflix.uploads.records import Upload

__all__ = ["PARTS_IN_FLIGHT", "SpooledUpload", "UploadObjects", "data_key", "tail_key"]

logger = logging.getLogger(__name__)

# Parts of one upload sent at once while its body goes on being read. A part's
# send is mostly waiting for the store, so one at a time leaves the link idle
# between parts; four keep it busy, for at most five parts of local disk per
# upload (four sending, one filling). Into SeaweedFS on loopback with 64 MiB
# PATCHes of 8 MiB parts: 120 MiB/s with four, 88 with two (a busier machine),
# 67 with one (an earlier run); peak RSS within 3 MiB of one in flight.
PARTS_IN_FLIGHT = 4


def data_key(upload_id: str) -> str:
    """The key of an upload's bytes: the multipart upload's target, the whole upload once done."""
    return f"uploads/{upload_id}/data"


def tail_key(upload_id: str) -> str:
    """The key of an unfinished upload's bytes past its last whole part."""
    return f"uploads/{upload_id}/tail"


def _split(pieces: Sequence[bytes], size: int) -> tuple[list[bytes], list[bytes]]:
    """``pieces`` cut after ``size`` bytes: (the first ``size`` bytes, the rest)."""
    for index, piece in enumerate(pieces):
        if size < len(piece):
            return [*pieces[:index], piece[:size]], [piece[size:], *pieces[index + 1 :]]
        size -= len(piece)
    return list(pieces), []


def _open_spool(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)


def _close_spool(fd: int, path: Path) -> None:
    os.close(fd)
    _remove(path)


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _open_fresh_spool(path: Path) -> int:
    """Open an empty spool at ``path``, removing the part files a killed server left."""
    for leftover in path.parent.glob(f"{path.stem}.*{path.suffix}"):
        _remove(leftover)
    return _open_spool(path)


def _rotate(fd: int, spool: Path, part_path: Path) -> int:
    """Rename the full spool to ``part_path`` and open an empty one in its place.

    Returns:
        The new spool's descriptor (``fd`` is closed).
    """
    os.rename(spool, part_path)
    try:
        new_fd = _open_spool(spool)
    except BaseException:
        os.rename(part_path, spool)
        raise
    os.close(fd)
    return new_fd


@dataclass(frozen=True, slots=True)
class _Durable:
    """What is in the store: ``parts`` (``part_bytes`` bytes) then the tail, ``offset`` in all."""

    parts: tuple[Part, ...]
    part_bytes: int
    offset: int


@dataclass(eq=False, slots=True)
class _Sending:
    """A whole part on its way to the store from a file of its own (``ID.NUMBER.spool``)."""

    number: int
    path: Path
    size: int
    done: trio.Event = field(default_factory=trio.Event)
    part: Part | None = None  # the store's answer, once it has the part
    # Shielded: a request cut short still has its parts stored (and committed)
    # in its shielded end; only closing the upload cancels a send.
    scope: trio.CancelScope = field(default_factory=lambda: trio.CancelScope(shield=True))


class SpooledUpload:
    """An upload being written to object storage, with the calls of a local data file.

    :meth:`write` spools and sends whole parts, :meth:`sync` writes the tail
    object, :meth:`commit` records in the database what :meth:`sync` made
    durable, :meth:`truncate` forgets a discarded body.

    Up to :data:`PARTS_IN_FLIGHT` parts are sent at once, each from its own
    file, in tasks of ``nursery`` while :meth:`write` goes on filling the next:
    a full spool is renamed to ``ID.NUMBER.spool`` for its send (removed once
    the send returns) and a fresh spool takes its place. Parts join the stored
    parts in upload order, whatever order the store answers in, so the offsets
    :meth:`sync` returns only ever cover parts that are all in the store.

    Resource handling:
        Opened by :meth:`UploadObjects.opened`, which cancels the sends still
        running and closes it (:meth:`aclose`, shielded): the spools are removed.
    """

    def __init__(
        self,
        *,
        store: ObjectStore,
        upload: Upload,
        parts: list[Part],
        next_number: int,
        spool: Path,
        fd: int,
        part_size: int,
        nursery: trio.Nursery,
    ) -> None:
        assert upload.multipart_id is not None
        self._store = store
        self._upload_id = upload.id
        self._multipart_id = upload.multipart_id
        self._spool = spool
        self._fd = fd
        self._part_size = part_size
        self._nursery = nursery
        self._parts = list(parts)  # stored, committed or not, in upload order
        self._part_bytes = upload.part_bytes  # the bytes of _parts
        self._sending: deque[_Sending] = deque()  # sent after _parts, in upload order
        self._sent_bytes = upload.part_bytes  # _part_bytes and the bytes of _sending
        self._answered = trio.Event()  # set whenever a send returns
        self._failure: StorageFailure | OSError | None = None  # a send that failed
        self._next_number = next_number
        self._spooled = 0  # bytes in the spool: the upload's bytes from _sent_bytes on
        # Writes, tail writes and spool rewinds take turns: the tail is the
        # spool's whole file, and sending a part replaces the spool.
        self._lock = trio.Lock()
        self._durable = _Durable(tuple(parts), upload.part_bytes, upload.offset)
        self._recorded = len(parts)  # parts of _durable already in the database
        self.position = upload.offset

    async def write(self, pieces: Sequence[bytes], hasher: Hasher | None = None) -> None:
        """Append ``pieces`` at :attr:`position`, sending each whole part as it fills.

        Waits while :data:`PARTS_IN_FLIGHT` parts are being sent.

        Raises:
            DiskFull: The spool's disk filled up; :attr:`position` counts the bytes kept.
            StorageUnavailable: A part could not be sent (this one or an earlier one).
        """
        async with self._lock:
            self._check()
            rest = list(pieces)
            while rest:
                if self._spooled >= self._part_size:
                    await self._send_part()
                now, rest = _split(rest, self._part_size - self._spooled)
                try:
                    written = await trio.to_thread.run_sync(
                        write_all, self._fd, self._spooled, now, hasher, limiter=DISK_LIMITER
                    )
                except DiskFull:
                    self._spooled = await trio.to_thread.run_sync(
                        os.lseek, self._fd, 0, os.SEEK_END, limiter=DISK_LIMITER
                    )
                    self.position = self._sent_bytes + self._spooled
                    raise
                self._spooled += written
                self.position += written
            if self._spooled >= self._part_size:
                await self._send_part()

    def _check(self) -> None:
        if self._failure is not None:
            raise self._failure

    async def _send_part(self) -> None:
        """Hand the full spool to a task that sends it, once fewer parts are in flight."""
        while len(self._sending) >= PARTS_IN_FLIGHT:
            self._answered = trio.Event()
            await self._answered.wait()
            self._check()
        number = self._next_number
        self._next_number += 1  # spent even if the send fails: a number goes out once
        path = self._spool.with_name(f"{self._upload_id}.{number}.spool")
        self._fd = await trio.to_thread.run_sync(
            _rotate, self._fd, self._spool, path, limiter=DISK_LIMITER
        )
        sending = _Sending(number, path, self._spooled)
        self._sending.append(sending)
        self._sent_bytes += self._spooled
        self._spooled = 0
        self._nursery.start_soon(self._send, sending)

    async def _send(self, sending: _Sending) -> None:
        try:
            with sending.scope:
                sending.part = await self._store.upload_part(
                    data_key(self._upload_id),
                    self._multipart_id,
                    sending.number,
                    sending.path,
                    length=sending.size,
                )
        except (StorageFailure, OSError) as exc:
            if self._failure is None:
                self._failure = exc
        finally:
            if sending.part is None and self._failure is None:
                self._failure = StorageError(f"part {sending.number} was not sent")
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(_remove, sending.path, limiter=DISK_LIMITER)
            sending.done.set()
            # Stored parts join _parts in order; one that beat an earlier part
            # to the store waits in _sending until that part is stored too.
            while self._sending and self._sending[0].part is not None:
                stored = self._sending.popleft().part
                assert stored is not None
                self._parts.append(stored)
                self._part_bytes += stored.size
            self._answered.set()

    async def _answer_all(self) -> None:
        """Wait until every part sent has been answered (stored, or failed)."""
        for sending in list(self._sending):
            await sending.done.wait()

    async def sync(self, *, whole: bool = True) -> int:
        """Make the bytes written so far durable; returns the offset that now is.

        The parts stored are durable already. ``whole`` waits for the parts in
        flight and writes the tail object too; without it (while a body
        streams) the offset moves to the end of the stored parts, if that is
        past the durable offset, and costs no request.

        Raises:
            StorageUnavailable: A part or the tail could not be stored; the last
                durable state stands.
        """
        if not whole:
            if self._part_bytes > self._durable.offset:
                self._durable = _Durable(tuple(self._parts), self._part_bytes, self._part_bytes)
            return self._durable.offset
        async with self._lock:
            await self._answer_all()
            self._check()
            if self.position > self._durable.offset:
                if self._spooled:
                    await self._store.put_file(tail_key(self._upload_id), self._spool)
                self._durable = _Durable(tuple(self._parts), self._part_bytes, self.position)
            return self._durable.offset

    async def commit(self, db: Database, offset: int, expires_at: float | None) -> None:
        """Record the state the last :meth:`sync` made durable, ``offset`` bytes."""
        durable = self._durable
        assert durable.offset == offset
        async with db.transaction() as tx:
            await records.commit_parts(
                tx,
                self._upload_id,
                durable.parts[self._recorded :],
                part_bytes=durable.part_bytes,
                offset=durable.offset,
                expires_at=expires_at,
            )
        self._recorded = len(durable.parts)

    async def truncate(self, size: int) -> None:
        """Go back to ``size``, the durable offset (a checksummed body that did not match).

        Parts sent since are forgotten (their numbers are not reused); the spool
        is the tail again, read back from the store if a part send emptied it.
        """
        async with self._lock:
            durable = self._durable
            assert size == durable.offset
            await self._answer_all()
            self._failure = None
            if self._sent_bytes == durable.part_bytes:
                await trio.to_thread.run_sync(
                    os.ftruncate, self._fd, size - durable.part_bytes, limiter=DISK_LIMITER
                )
                self._spooled = size - durable.part_bytes
            else:
                self._parts = list(durable.parts)
                self._part_bytes = self._sent_bytes = durable.part_bytes
                self._sending.clear()
                await self.load_tail(size - durable.part_bytes)
            self.position = size

    async def load_tail(self, length: int) -> None:
        """Fill the spool with the first ``length`` bytes of the tail object.

        Raises:
            StorageUnavailable: The store could not be read.
            StorageError: The tail object is missing or shorter than ``length``.
        """
        await trio.to_thread.run_sync(os.ftruncate, self._fd, 0, limiter=DISK_LIMITER)
        self._spooled = 0
        if length == 0:
            return
        reader = await self._store.open_read(tail_key(self._upload_id), length=length)
        async with reader:
            while chunk := await reader.receive_some():
                self._spooled += await trio.to_thread.run_sync(
                    write_all, self._fd, self._spooled, [chunk], None, limiter=DISK_LIMITER
                )
        if self._spooled != length:
            raise StorageError(
                f"upload {self._upload_id}: the tail holds {self._spooled} bytes, not {length}"
            )

    async def aclose(self) -> None:
        """Cancel the sends still running (their tasks end soon after) and remove the spool."""
        for sending in self._sending:
            sending.scope.cancel()
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(_close_spool, self._fd, self._spool, limiter=DISK_LIMITER)


def _next_number(*part_lists: Sequence[Part]) -> int:
    """The part number after every one in ``part_lists``."""
    return max((part.number for parts in part_lists for part in parts), default=0) + 1


class UploadObjects:
    """The upload bytes of a server whose media is on object storage.

    Args:
        spool_dir: Where the spools go (``DATA_DIR/uploads``).
        get_store: The opened object store (available once the services run).
        part_size: The size of every part but the last (``TRIOFLIX_UPLOAD_PART_SIZE``).
    """

    def __init__(
        self, spool_dir: Path, get_store: Callable[[], ObjectStore], part_size: int
    ) -> None:
        self._spool_dir = spool_dir
        self._get_store = get_store
        self.part_size = part_size

    def spool_path(self, upload_id: str) -> Path:
        # Upload ids are hex (records.new_upload_id), so this never leaves the directory.
        return self._spool_dir / f"{upload_id}.spool"

    async def create(self, upload_id: str, *, final: bool) -> str | None:
        """Begin the upload's multipart upload; a final upload's begins when it is assembled."""
        if final:
            return None
        return await self._get_store().create_multipart(data_key(upload_id))

    @contextlib.asynccontextmanager
    async def opened(self, db: Database, upload: Upload) -> AsyncIterator[SpooledUpload]:
        """``upload`` open at its committed offset, its tail read back into a fresh spool.

        On the way out the parts still being sent are cancelled and waited for,
        and the spools are removed.
        """
        assert upload.multipart_id is not None
        store = self._get_store()
        parts = await records.stored_parts(db, upload.id)
        listed = await store.list_parts(data_key(upload.id), upload.multipart_id)
        spool = self.spool_path(upload.id)
        fd = await trio.to_thread.run_sync(_open_fresh_spool, spool, limiter=DISK_LIMITER)
        failure: Exception | None = None
        async with trio.open_nursery() as nursery:
            data = SpooledUpload(
                store=store,
                upload=upload,
                parts=parts,
                next_number=_next_number(parts, listed),
                spool=spool,
                fd=fd,
                part_size=self.part_size,
                nursery=nursery,
            )
            try:
                await data.load_tail(upload.offset - upload.part_bytes)
                yield data
            except Exception as exc:
                # Raised outside the nursery, so that callers get it as it is and
                # not inside an exception group (the sends never raise).
                failure = exc
            finally:
                await data.aclose()
        if failure is not None:
            raise failure

    async def seal(self, db: Database, upload: Upload) -> None:
        """Make a fully stored upload the object ``uploads/ID/data`` and drop its tail.

        Safe to repeat: a multipart upload already completed is found as its object.

        Raises:
            StorageUnavailable: The store is unreachable; nothing is lost, call again.
        """
        assert upload.multipart_id is not None
        store = self._get_store()
        key = data_key(upload.id)
        parts = await records.stored_parts(db, upload.id)
        try:
            if upload.offset > upload.part_bytes:
                listed = await store.list_parts(key, upload.multipart_id)
                last = await store.upload_part_copy(
                    key, upload.multipart_id, _next_number(parts, listed), tail_key(upload.id)
                )
                if last.size != upload.offset - upload.part_bytes:
                    raise StorageError(
                        f"upload {upload.id}: the tail holds {last.size} bytes,"
                        f" not {upload.offset - upload.part_bytes}"
                    )
                parts.append(last)
            info = await self._complete(store, key, upload.multipart_id, parts)
        except UploadNotFound:
            # Completed already, by a request that stopped before recording it.
            info = await store.head(key)
        if info.size != upload.offset:
            raise StorageError(f"upload {upload.id}: stored {info.size} bytes, not {upload.offset}")
        await store.delete(tail_key(upload.id))

    @staticmethod
    async def _complete(
        store: ObjectStore, key: str, multipart_id: str, parts: Sequence[Part]
    ) -> ObjectInfo:
        if parts:
            return await store.complete_multipart(key, multipart_id, parts)
        # An empty upload: a multipart upload cannot have no part.
        await store.abort_multipart(key, multipart_id)
        return await store.put_bytes(key, b"")

    async def concatenate(self, db: Database, final: Upload, partials: Sequence[Upload]) -> int:
        """Build the final upload's object from its partial uploads' objects, in the store.

        Each partial becomes a part copied inside the store, without a download
        (a partial over 5 GiB, S3's limit on a copied part, several:
        :meth:`~trioflix.storage.ObjectStore.copy_parts`). S3 refuses a part
        under 5 MiB unless it is the last, so a partial that small (and any
        after it until the joined bytes reach 5 MiB) is read into the spool and
        sent as one part with them.

        Returns:
            The final upload's length.
        """
        store = self._get_store()
        key = data_key(final.id)
        if final.multipart_id is not None:
            # An earlier assembly stopped half-way: start over with a fresh upload,
            # so no part number is sent twice.
            with contextlib.suppress(UploadNotFound):
                await store.abort_multipart(key, final.multipart_id)
        multipart_id = await store.create_multipart(key)
        await records.set_multipart(db, final.id, multipart_id)
        spool = self.spool_path(final.id)
        fd = await trio.to_thread.run_sync(_open_spool, spool, limiter=DISK_LIMITER)
        parts: list[Part] = []
        spooled = 0
        try:
            for index, partial in enumerate(partials):
                last = index == len(partials) - 1
                source = data_key(partial.id)
                if spooled == 0 and (last or (partial.length or 0) >= MIN_PART_SIZE):
                    parts += await store.copy_parts(key, multipart_id, len(parts) + 1, source)
                    continue
                reader = await store.open_read(source) if partial.length else None
                if reader is not None:
                    async with reader:
                        while chunk := await reader.receive_some():
                            spooled += await trio.to_thread.run_sync(
                                write_all, fd, spooled, [chunk], None, limiter=DISK_LIMITER
                            )
                if spooled >= MIN_PART_SIZE or (last and spooled):
                    parts.append(
                        await store.upload_part(
                            key, multipart_id, len(parts) + 1, spool, length=spooled
                        )
                    )
                    await trio.to_thread.run_sync(os.ftruncate, fd, 0, limiter=DISK_LIMITER)
                    spooled = 0
        finally:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(_close_spool, fd, spool, limiter=DISK_LIMITER)
        info = await self._complete(store, key, multipart_id, parts)
        return info.size

    async def remove(self, upload: Upload) -> None:
        """Abort the upload's multipart upload and delete its objects (tail, data)."""
        store = self._get_store()
        if upload.multipart_id is not None:
            with contextlib.suppress(UploadNotFound):
                await store.abort_multipart(data_key(upload.id), upload.multipart_id)
        await store.delete_prefix(f"uploads/{upload.id}/")
