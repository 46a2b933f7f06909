"""tus upload bytes on object storage: a multipart upload, parts from memory, a durable tail.

Upload ``ID`` is a multipart upload to ``uploads/ID/data``, begun when the upload
is created. A PATCH's bytes are copied into a buffer in memory the size of one
part (``TRIOFLIX_UPLOAD_PART_SIZE``); each time it is full it is sent as the next
part, from memory, while another buffer takes the bytes after it. At most
:data:`PARTS_IN_FLIGHT` parts are sent at once; of these, :data:`PARTS_FROM_MEMORY`
go from their buffer, and a part that fills while that many are under way is
written to a file of its own (``DATA_DIR/uploads/ID.NUMBER.spool``) and sent
from there, its buffer taking the next bytes. So an upload holds at most
``PARTS_FROM_MEMORY + 1`` parts of memory and ``PARTS_IN_FLIGHT -
PARTS_FROM_MEMORY`` parts of local disk, whatever its size, and none of local
disk while the store keeps up (8 MiB PATCHes of 8 MiB parts never touch it).

Nothing here needs the local disk to be durable: an offset is acknowledged
(committed) only for bytes that are in the store. The bytes past the last whole
part, the *tail*, are made durable before an offset that counts them is
committed: the buffer is written as the object ``uploads/ID/tail``, replacing
the last one (an object write is atomic). The committed offset is the committed
parts (their bytes in the row's ``part_bytes``, the parts themselves in
``upload_object_parts``) plus the first ``offset - part_bytes`` bytes of the
tail, so it only ever names bytes that are in the store; a crash of the host
loses only bytes that were never acknowledged (the buffer, the spill files).
Any host can therefore answer HEAD and continue the upload: its PATCH reads the
tail back into a buffer of its own and goes on.

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
import errno
import logging
import mmap
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

__all__ = [
    "PARTS_FROM_MEMORY",
    "PARTS_IN_FLIGHT",
    "SpooledUpload",
    "UploadObjects",
    "data_key",
    "tail_key",
]

logger = logging.getLogger(__name__)

# Parts of one upload sent at once while its body goes on being read. A part's
# send is mostly waiting for the store, so one at a time leaves the link idle
# between parts; four keep it busy. Into SeaweedFS on loopback with 64 MiB
# PATCHes of 8 MiB parts: 120 MiB/s with four, 88 with two (a busier machine),
# 67 with one (an earlier run).
PARTS_IN_FLIGHT = 4
# Of those, the sends made from the part's buffer in memory; the others go from
# a file each. One keeps memory at two parts per upload (one filling, one being
# sent) and is all a PATCH of one part needs: with 8 MiB PATCHes of 8 MiB parts
# no byte touches the local disk, while a faster body than the store takes
# spills to disk, not to memory.
PARTS_FROM_MEMORY = 1


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


def _new_buffer(size: int) -> mmap.mmap:
    """A part's buffer: ``size`` bytes of anonymous memory, a mapping of its own.

    Not a ``bytearray``: its pages are taken only as bytes arrive (a 1 MiB tail
    costs 1 MiB) and go back to the kernel when it is dropped, without moving
    malloc's thresholds. glibc raises them when a block this large that it
    mapped is freed, and its heap then keeps freed body pieces: in the
    tus-into-S3 benchmark ``bytearray`` buffers cost 6 to 7 MiB more peak RSS
    (117 and 128 MiB against 111 and 121, with 8 and 64 MiB PATCHes).
    """
    return mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)


def _fill(
    buffer: mmap.mmap, start: int, pieces: Sequence[bytes | bytearray], hasher: Hasher | None
) -> int:
    """Copy ``pieces`` (which fit) into ``buffer`` from ``start``; returns their length."""
    view = memoryview(buffer)
    end = start
    for piece in pieces:
        view[end : end + len(piece)] = piece
        end += len(piece)
    if hasher is not None:
        hasher.update(view[start:end])  # one call: hashlib drops the GIL for it
    return end - start


def _open_spool(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)


def _close_spool(fd: int, path: Path) -> None:
    os.close(fd)
    _remove(path)


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _remove_spills(directory: Path, upload_id: str) -> None:
    """Remove the part files of ``upload_id`` that a killed server left."""
    for leftover in directory.glob(f"{upload_id}.*.spool"):
        _remove(leftover)


def _spill(path: Path, data: memoryview) -> None:
    """Write ``data`` as the new file ``path``, whole, or leave no file.

    Not fsynced: the file only carries a part to the store, and is removed once
    the store has answered (or by the next request after a crash).

    Raises:
        DiskFull: No room for all of it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        while data:
            data = data[os.write(fd, data) :]
    except OSError as exc:
        os.close(fd)
        _remove(path)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFull(exc.errno, "no space left on the upload disk") from exc
        raise
    os.close(fd)


@dataclass(frozen=True, slots=True)
class _Durable:
    """What is in the store: ``parts`` (``part_bytes`` bytes) then the tail, ``offset`` in all."""

    parts: tuple[Part, ...]
    part_bytes: int
    offset: int


@dataclass(eq=False, slots=True)
class _Sending:
    """A whole part on its way to the store, from its ``buffer`` or from the file ``path``."""

    number: int
    size: int
    buffer: mmap.mmap | None = None
    path: Path | None = None
    done: trio.Event = field(default_factory=trio.Event)
    part: Part | None = None  # the store's answer, once it has the part
    # Shielded: a request cut short still has its parts stored (and committed)
    # in its shielded end; only closing the upload cancels a send.
    scope: trio.CancelScope = field(default_factory=lambda: trio.CancelScope(shield=True))


class SpooledUpload:
    """An upload being written to object storage, with the calls of a local data file.

    :meth:`write` fills the part's buffer and sends whole parts, :meth:`sync`
    writes the tail object, :meth:`commit` records in the database what
    :meth:`sync` made durable, :meth:`truncate` forgets a discarded body.

    Up to :data:`PARTS_IN_FLIGHT` parts are sent at once, in tasks of
    ``nursery`` while :meth:`write` goes on filling the next: a full buffer is
    sent from memory while fewer than :data:`PARTS_FROM_MEMORY` sends from
    memory are under way and another buffer takes the next bytes, else it is
    written to ``ID.NUMBER.spool`` in ``spool_dir`` (removed once the send
    returns), sent from there, and filled again. Parts join the stored parts in
    upload order, whatever order the store answers in, so the offsets
    :meth:`sync` returns only ever cover parts that are all in the store.

    Resource handling:
        Opened by :meth:`UploadObjects.opened`, which cancels the sends still
        running (:meth:`close`; their tasks remove their part files) and waits
        for them; the buffers are dropped.
    """

    def __init__(
        self,
        *,
        store: ObjectStore,
        upload: Upload,
        parts: list[Part],
        next_number: int,
        spool_dir: Path,
        part_size: int,
        nursery: trio.Nursery,
    ) -> None:
        assert upload.multipart_id is not None
        self._store = store
        self._upload_id = upload.id
        self._multipart_id = upload.multipart_id
        self._spool_dir = spool_dir
        self._part_size = part_size
        self._nursery = nursery
        self._parts = list(parts)  # stored, committed or not, in upload order
        self._part_bytes = upload.part_bytes  # the bytes of _parts
        self._sending: deque[_Sending] = deque()  # sent after _parts, in upload order
        self._sent_bytes = upload.part_bytes  # _part_bytes and the bytes of _sending
        self._answered = trio.Event()  # set whenever a send returns
        self._failure: StorageFailure | OSError | None = None  # a send that failed
        self._next_number = next_number
        # The part filling: the upload's bytes from _sent_bytes on are its first
        # _filled bytes. None until a byte needs it (a request may send none).
        self._buffer: mmap.mmap | None = None
        self._filled = 0
        self._spare: mmap.mmap | None = None  # a buffer whose send returned, for reuse
        self._from_memory = 0  # sends from a buffer under way
        # Writes, tail writes and tail reloads take turns: the tail is the
        # buffer's bytes, and sending a part hands the buffer on.
        self._lock = trio.Lock()
        self._durable = _Durable(tuple(parts), upload.part_bytes, upload.offset)
        self._recorded = len(parts)  # parts of _durable already in the database
        self.position = upload.offset

    def _filling(self) -> mmap.mmap:
        """The buffer of the part filling, a spare one or a new one if there is none yet."""
        if self._buffer is None:
            spare, self._spare = self._spare, None
            self._buffer = spare if spare is not None else _new_buffer(self._part_size)
        return self._buffer

    async def write(self, pieces: Sequence[bytes], hasher: Hasher | None = None) -> None:
        """Append ``pieces`` at :attr:`position`, sending each whole part as it fills.

        Waits while :data:`PARTS_IN_FLIGHT` parts are being sent.

        Raises:
            DiskFull: A part to be sent from a file found no room; its bytes stay
                in memory and :attr:`position` counts them.
            StorageUnavailable: A part could not be sent (this one or an earlier one).
        """
        async with self._lock:
            self._check()
            rest = list(pieces)
            while rest:
                if self._filled >= self._part_size:
                    await self._send_part()
                now, rest = _split(rest, self._part_size - self._filled)
                buffer = self._filling()
                if hasher is None:  # a memory copy: less than a thread round trip costs
                    written = _fill(buffer, self._filled, now, None)
                else:  # hashing is CPU work: off the Trio thread
                    written = await trio.to_thread.run_sync(
                        _fill, buffer, self._filled, now, hasher
                    )
                self._filled += written
                self.position += written
            if self._filled >= self._part_size:
                await self._send_part()

    def _check(self) -> None:
        if self._failure is not None:
            raise self._failure

    async def _send_part(self) -> None:
        """Hand the full buffer to a task that sends it, once fewer parts are in flight."""
        while len(self._sending) >= PARTS_IN_FLIGHT:
            self._answered = trio.Event()
            await self._answered.wait()
            self._check()
        buffer = self._buffer
        assert buffer is not None
        number = self._next_number
        self._next_number += 1  # spent even if the send fails: a number goes out once
        if self._from_memory < PARTS_FROM_MEMORY:
            sending = _Sending(number, self._filled, buffer=buffer)
            self._from_memory += 1
            self._buffer = None
        else:
            path = self._spool_dir / f"{self._upload_id}.{number}.spool"
            data = memoryview(buffer)[: self._filled]
            await trio.to_thread.run_sync(_spill, path, data, limiter=DISK_LIMITER)
            sending = _Sending(number, self._filled, path=path)  # the buffer fills again
        self._sending.append(sending)
        self._sent_bytes += self._filled
        self._filled = 0
        self._nursery.start_soon(self._send, sending)

    async def _send(self, sending: _Sending) -> None:
        key = data_key(self._upload_id)
        try:
            with sending.scope:
                if sending.buffer is not None:
                    data = memoryview(sending.buffer)[: sending.size]
                    sending.part = await self._store.upload_part_bytes(
                        key, self._multipart_id, sending.number, data
                    )
                else:
                    assert sending.path is not None
                    sending.part = await self._store.upload_part(
                        key, self._multipart_id, sending.number, sending.path, length=sending.size
                    )
        except (StorageFailure, OSError) as exc:
            if self._failure is None:
                self._failure = exc
        finally:
            if sending.part is None and self._failure is None:
                self._failure = StorageError(f"part {sending.number} was not sent")
            if sending.buffer is not None:
                # The send has returned (a call in a thread is waited for even
                # when cancelled): nothing reads the buffer any more.
                self._from_memory -= 1
                self._spare, sending.buffer = sending.buffer, None
            if sending.path is not None:
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
                if self._filled:
                    tail = memoryview(self._filling())[: self._filled]
                    await self._store.put_bytes(tail_key(self._upload_id), tail)
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

        Parts sent since are forgotten (their numbers are not reused); the buffer
        holds the tail again, read back from the store if a part send took it.
        """
        async with self._lock:
            durable = self._durable
            assert size == durable.offset
            await self._answer_all()
            self._failure = None
            if self._sent_bytes == durable.part_bytes:
                self._filled = size - durable.part_bytes  # still the buffer's first bytes
            else:
                self._parts = list(durable.parts)
                self._part_bytes = self._sent_bytes = durable.part_bytes
                self._sending.clear()
                await self.load_tail(size - durable.part_bytes)
            self.position = size

    async def load_tail(self, length: int) -> None:
        """Fill the buffer with the first ``length`` bytes of the tail object.

        Raises:
            StorageUnavailable: The store could not be read.
            StorageError: The tail object is missing or shorter than ``length``.
        """
        self._filled = 0
        if length == 0:
            await trio.lowlevel.checkpoint()
            return
        buffer = self._filling()
        if len(buffer) < length:  # a tail kept while the part size was larger
            buffer = self._buffer = _new_buffer(length)
        reader = await self._store.open_read(tail_key(self._upload_id), length=length)
        async with reader:
            while chunk := await reader.receive_some():
                self._filled += _fill(buffer, self._filled, [chunk], None)
        if self._filled != length:
            raise StorageError(
                f"upload {self._upload_id}: the tail holds {self._filled} bytes, not {length}"
            )

    def close(self) -> None:
        """Cancel the sends still running (their tasks end soon after) and drop the buffers."""
        for sending in self._sending:
            sending.scope.cancel()
        self._buffer = self._spare = None


def _next_number(*part_lists: Sequence[Part]) -> int:
    """The part number after every one in ``part_lists``."""
    return max((part.number for parts in part_lists for part in parts), default=0) + 1


class UploadObjects:
    """The upload bytes of a server whose media is on object storage.

    Args:
        spool_dir: Where the part files go (``DATA_DIR/uploads``).
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
        """``upload`` open at its committed offset, its tail read back into a buffer.

        On the way out the parts still being sent are cancelled and waited for,
        and their files are removed.
        """
        assert upload.multipart_id is not None
        store = self._get_store()
        parts = await records.stored_parts(db, upload.id)
        listed = await store.list_parts(data_key(upload.id), upload.multipart_id)
        await trio.to_thread.run_sync(
            _remove_spills, self._spool_dir, upload.id, limiter=DISK_LIMITER
        )
        failure: Exception | None = None
        async with trio.open_nursery() as nursery:
            data = SpooledUpload(
                store=store,
                upload=upload,
                parts=parts,
                next_number=_next_number(parts, listed),
                spool_dir=self._spool_dir,
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
                data.close()
        if failure is not None:
            try:
                raise failure
            finally:
                failure = None  # its traceback holds this frame: no cycle through it

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
