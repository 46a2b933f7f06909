"""Upload bytes on disk: one file per upload, written at explicit offsets from worker threads.

fsync policy (what "the offset is advanced only for bytes on disk" means):

- bytes are written with ``pwritev`` as they arrive, in writes of
  :data:`trioflix.uploads.http_body.WRITE_BYTES` (less when the client pauses
  or the body ends);
- the committed offset in the database moves only after ``fsync`` of the data
  file, to the position written before the fsync started: during a long
  request an fsync starts every :data:`COMMIT_INTERVAL_BYTES` and runs while
  writing goes on (one at a time), and one more runs at the end of every
  request, including one cut short by a disconnect, a takeover, a timeout, a
  full disk or server shutdown (that last step is shielded and time-bounded);
  see :mod:`trioflix.uploads.transfer`;
- after a failed fsync nothing more is committed in that request: Linux may
  drop the pages it could not write, so a later fsync that succeeds proves
  nothing about them;
- a server killed between two commits loses at most the bytes after the last
  commit: on the next request the file is cut back to the committed offset and
  HEAD tells the client to send them again.

Every blocking call runs in a worker thread behind :data:`DISK_LIMITER`.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
from typing import TYPE_CHECKING, Protocol, cast

import trio

from trioflix.uploads import records

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Sequence
    from pathlib import Path

    from trioflix.store import Database
    from trioflix.uploads.records import Upload

__all__ = [
    "COMMIT_INTERVAL_BYTES",
    "DISK_LIMITER",
    "DataFile",
    "DiskFull",
    "Hasher",
    "UploadFiles",
    "write_all",
]

COMMIT_INTERVAL_BYTES = 32 * 1024**2  # an fsync per 32 MiB, in the background: < 66 MiB to redo
COPY_CHUNK_BYTES = 64 * 1024**2  # copy_file_range step when assembling a final upload
DISK_LIMITER = trio.CapacityLimiter(16)  # disk threads shared by every upload
_IOV_MAX = os.sysconf("SC_IOV_MAX")  # buffers one pwritev takes (1024 on Linux)
_SYNC_FILE_RANGE_WRITE = 2  # <linux/fs.h>: start writing dirty pages out, do not wait


def _sync_file_range() -> Callable[[int, int, int, int], int] | None:
    # sync_file_range(2) is Linux's; the os module does not wrap it.
    try:
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return cast("Callable[[int, int, int, int], int]", function)


_start_writeback = _sync_file_range()


class Hasher(Protocol):
    """What sees the bytes as they are written (``hashlib`` objects, or several at once)."""

    def update(self, data: bytes | memoryview, /) -> None: ...


class DiskFull(OSError):
    """No space left for upload bytes (ENOSPC/EDQUOT); what was written before stays."""


def write_all(
    fd: int, offset: int, pieces: Sequence[bytes | bytearray], hasher: Hasher | None
) -> int:
    """Write ``pieces`` at ``offset`` of ``fd`` (blocking: call in a worker thread).

    Returns:
        The bytes written: all of them, unless the disk filled up.

    Raises:
        DiskFull: Nothing at all could be written (ENOSPC/EDQUOT).
    """
    # One pwritev per IOV_MAX pieces (hypercorn hands over one piece per 64 KiB
    # socket read, so 1 MiB is 16 pieces: one system call); hashing here keeps it
    # off the event loop, and hashlib releases the GIL for large buffers.
    views = [memoryview(piece) for piece in pieces if piece]
    written = 0
    first = 0  # views[first:] are still to be written
    try:
        while first < len(views):
            done = os.pwritev(fd, views[first : first + _IOV_MAX], offset + written)
            written += done
            while done:
                view = views[first]
                if done < len(view):
                    if hasher is not None:
                        hasher.update(view[:done])
                    views[first] = view[done:]
                    break
                if hasher is not None:
                    hasher.update(view)
                done -= len(view)
                first += 1
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFull(exc.errno, "no space left on the upload disk") from exc
        raise
    if _start_writeback is not None and written:
        # Start the disk writing these pages now instead of when the fsync asks:
        # the fsync at the end of a request then waits for little more than the
        # last write (3 ms less per 8 MiB PATCH on the benchmark's disk). Only a
        # hint: it waits for nothing and durability still comes from the fsync,
        # so its result does not matter.
        _start_writeback(fd, offset, written, _SYNC_FILE_RANGE_WRITE)
    return written


class DataFile:
    """An open upload file and the position the next byte goes to.

    Resource handling:
        Close with :meth:`aclose` (shielded); the descriptor is never shared
        between uploads.
    """

    def __init__(self, upload_id: str, fd: int, position: int) -> None:
        self._upload_id = upload_id
        self._fd = fd
        self.position = position

    async def write(self, pieces: Sequence[bytes], hasher: Hasher | None = None) -> None:
        """Append ``pieces``, in order, at :attr:`position`; ``hasher`` sees what was written.

        One worker thread round trip and one ``pwritev`` for the lot, without
        joining them first.

        Raises:
            DiskFull: The disk filled up; :attr:`position` counts the bytes that made it.
        """
        try:
            written = await trio.to_thread.run_sync(
                write_all, self._fd, self.position, pieces, hasher, limiter=DISK_LIMITER
            )
        except DiskFull:
            self.position = await trio.to_thread.run_sync(
                os.lseek, self._fd, 0, os.SEEK_END, limiter=DISK_LIMITER
            )
            raise
        self.position += written

    async def sync(self, *, whole: bool = True) -> int:
        """fsync; returns the position before it, which is now on disk."""
        position = self.position
        await trio.to_thread.run_sync(os.fsync, self._fd, limiter=DISK_LIMITER)
        return position

    async def commit(self, db: Database, offset: int, expires_at: float | None) -> None:
        """Record ``offset`` as the upload's committed offset (call after :meth:`sync`)."""
        await records.commit_offset(db, self._upload_id, offset, expires_at)

    async def truncate(self, size: int) -> None:
        """Drop everything from ``size`` on (a discarded checksummed chunk, a disk-full tail)."""
        await trio.to_thread.run_sync(os.ftruncate, self._fd, size, limiter=DISK_LIMITER)
        self.position = size

    async def aclose(self) -> None:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(os.close, self._fd, limiter=DISK_LIMITER)


def _open_at(path: Path, offset: int) -> int:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        if os.fstat(fd).st_size != offset:
            # Bytes past the committed offset were never acknowledged: the client
            # will send them again, so keeping them could only duplicate data.
            os.ftruncate(fd, offset)
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _concatenate(target: Path, sources: Sequence[Path]) -> int:
    fd_out = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    total = 0
    try:
        for source in sources:
            fd_in = os.open(source, os.O_RDONLY | os.O_CLOEXEC)
            try:
                while True:
                    copied = os.copy_file_range(fd_in, fd_out, COPY_CHUNK_BYTES)
                    if copied == 0:
                        break
                    total += copied
            finally:
                os.close(fd_in)
        os.fsync(fd_out)
    finally:
        os.close(fd_out)
    return total


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


class UploadFiles:
    """The directory of upload data files, ``DATA_DIR/uploads/<id>.bin``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, upload_id: str) -> Path:
        # Upload ids are hex (records.new_upload_id), so this never leaves root.
        return self.root / f"{upload_id}.bin"

    async def create(self, upload_id: str, *, final: bool) -> str | None:
        """Create the upload's empty file; returns ``None``: no multipart upload on local disk."""
        await trio.to_thread.run_sync(self._create, upload_id, limiter=DISK_LIMITER)
        return None

    def _create(self, upload_id: str) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        os.close(os.open(self.path(upload_id), os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))

    @contextlib.asynccontextmanager
    async def opened(self, db: Database, upload: Upload) -> AsyncIterator[DataFile]:
        """The upload's file, open for writing at its committed offset (closed on the way out)."""
        fd = await trio.to_thread.run_sync(
            _open_at, self.path(upload.id), upload.offset, limiter=DISK_LIMITER
        )
        data = DataFile(upload.id, fd, upload.offset)
        try:
            yield data
        finally:
            await data.aclose()

    async def seal(self, db: Database, upload: Upload) -> None:
        """Nothing to do: a fully stored upload's file is its bytes."""
        await trio.lowlevel.checkpoint()

    async def concatenate(self, db: Database, final: Upload, partials: Sequence[Upload]) -> int:
        """Write the partial uploads' bytes, in order, into the final upload's file (fsynced)."""
        sources = [self.path(p.id) for p in partials]
        total: int = await trio.to_thread.run_sync(
            _concatenate, self.path(final.id), sources, limiter=DISK_LIMITER
        )
        return total

    async def remove(self, upload: Upload) -> None:
        await trio.to_thread.run_sync(_remove, self.path(upload.id), limiter=DISK_LIMITER)
