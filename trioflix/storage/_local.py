"""The object store over a local directory: the embedded default, and S3's twin in tests.

Layout under the root directory::

    objects/KEY              the bytes, one file per key
    metadata/KEY             JSON: content type, cache control, ETag of the bytes it describes
    uploads/UPLOAD_ID/       one multipart upload: upload.json (key, headers) and part-NNNNN files
    tmp/                     files being written; renamed into place when whole

Every write goes to ``tmp/`` first, is fsynced and then renamed over its
target, so a reader sees the old object or the new one. The bytes and their
metadata are two renames; the metadata names the ETag of the bytes it belongs
to and is ignored when they differ, so an object is never served with another
write's headers. The ETag is the file's inode, size and modification time,
which a rename keeps and any rewrite changes.

Every blocking call runs in a worker thread behind one limiter; copies go in
slices of :data:`COPY_SLICE_BYTES` through ``sendfile``, so memory stays flat
and a cancelled copy stops within one slice. A key that is a prefix of another
at a ``/`` (``a`` and ``a/b``) cannot coexist on disk as it can on S3; such a
write raises :class:`~trioflix.storage.StorageError`.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import shutil
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from trioflix.storage._errors import (
    InvalidPart,
    InvalidRange,
    ObjectNotFound,
    StorageError,
    StorageUnavailable,
    UploadNotFound,
)
from trioflix.storage._objects import (
    DEFAULT_CONTENT_TYPE,
    MIN_PART_SIZE,
    ObjectInfo,
    ObjectReader,
    ObjectStore,
    Part,
    check_key,
    check_part_number,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from _typeshed import ReadableBuffer

__all__ = ["COPY_SLICE_BYTES", "READ_CHUNK_BYTES", "LocalObjectStore"]

DISK_THREADS = 8  # concurrent blocking disk calls; more only queue in the kernel
COPY_SLICE_BYTES = 16 * 1024 * 1024  # per thread call: bounds how long a cancel waits
READ_CHUNK_BYTES = 1024 * 1024  # per receive_some: one thread hop per MiB
_UPLOAD_ID_BYTES = 16
_PART_PREFIX = "part-"


def _etag(st: os.stat_result) -> str:
    return f"{st.st_ino:x}-{st.st_size:x}-{st.st_mtime_ns:x}"


def _translate(exc: OSError, what: str) -> StorageError | StorageUnavailable:
    """A disk error in the error classes callers handle: full disk and I/O errors are transient."""
    if exc.errno in (errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EAGAIN):
        return StorageUnavailable(f"{what}: {exc.strerror}")
    return StorageError(f"{what}: {exc.strerror or exc}")


class _LocalReader(ObjectReader):
    def __init__(
        self, info: ObjectInfo, offset: int, length: int, fd: int, store: LocalObjectStore
    ):
        super().__init__(info, offset, length)
        self._fd: int | None = fd
        self._position = offset
        self._remaining = length
        self._store = store

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if self._fd is None:
            raise trio.ClosedResourceError("object reader was closed")
        size = min(self._remaining, max_bytes or READ_CHUNK_BYTES)
        if size == 0:
            await trio.lowlevel.checkpoint()
            return b""
        data: bytes = await self._store._run(os.pread, self._fd, size, self._position)
        if not data:
            raise StorageError(f"{self.info.key} was truncated while being read")
        self._position += len(data)
        self._remaining -= len(data)
        return data

    async def aclose(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing a regular file does not block
        await trio.lowlevel.checkpoint()


class LocalObjectStore(ObjectStore):
    """Objects as files under ``root`` (created if missing).

    Args:
        root: The directory holding ``objects/``, ``metadata/``, ``uploads/`` and ``tmp/``.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.location = f"file:{root}"
        self._objects = root / "objects"
        self._metadata = root / "metadata"
        self._uploads = root / "uploads"
        self._tmp = root / "tmp"
        self._limiter = trio.CapacityLimiter(DISK_THREADS)

    async def start(self) -> None:
        """Create the directories (blocking mkdir runs in a thread)."""

        def make() -> None:
            for path in (self._objects, self._metadata, self._uploads, self._tmp):
                path.mkdir(parents=True, exist_ok=True)

        await self._run(make)

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await trio.to_thread.run_sync(fn, *args, limiter=self._limiter)

    # -- paths and small synchronous helpers (run in threads) -------------------------------

    def _object_path(self, key: str) -> Path:
        return self._objects / check_key(key)

    def _meta_path(self, key: str) -> Path:
        return self._metadata / key

    def _upload_dir(self, upload_id: str) -> Path:
        if not upload_id.isalnum():
            raise UploadNotFound(f"no multipart upload {upload_id!r}")
        return self._uploads / upload_id

    def _tmp_path(self) -> Path:
        return self._tmp / secrets.token_hex(12)

    def _info(self, key: str) -> ObjectInfo:
        try:
            st = self._object_path(key).stat()
        except (FileNotFoundError, NotADirectoryError):
            raise ObjectNotFound(f"no object {key!r} in {self.location}") from None
        if not stat.S_ISREG(st.st_mode):  # "a" when only "a/b" exists
            raise ObjectNotFound(f"no object {key!r} in {self.location}")
        etag = _etag(st)
        meta: dict[str, Any] = {}
        with contextlib.suppress(FileNotFoundError, NotADirectoryError, ValueError):
            meta = json.loads(self._meta_path(key).read_bytes())
        if meta.get("etag") != etag:
            meta = {}  # written by another put, or the bytes' rename has not happened yet
        return ObjectInfo(
            key=key,
            size=st.st_size,
            etag=etag,
            content_type=meta.get("content_type", DEFAULT_CONTENT_TYPE),
            cache_control=meta.get("cache_control"),
        )

    @staticmethod
    def _fsync_dir(path: Path) -> None:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _install(
        self, key: str, tmp: Path, content_type: str, cache_control: str | None
    ) -> ObjectInfo:
        """Rename the finished, fsynced ``tmp`` file to ``key`` with its metadata."""
        target = self._object_path(key)
        try:
            etag = _etag(tmp.stat())
            meta_tmp = self._tmp_path()
            meta = {"content_type": content_type, "cache_control": cache_control, "etag": etag}
            meta_tmp.write_text(json.dumps(meta))
            for path in (target, self._meta_path(key)):
                path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(meta_tmp, self._meta_path(key))
            os.replace(tmp, target)
            self._fsync_dir(target.parent)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise _translate(exc, f"cannot store {key!r} in {self.location}") from exc
        return self._info(key)

    @staticmethod
    def _fsync_close(fd: int) -> None:
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    async def _copy_into(self, out_fd: int, path: Path, offset: int, length: int | None) -> int:
        """Append ``length`` bytes of ``path`` from ``offset`` (``None``: all) to ``out_fd``."""
        in_fd: int = await self._run(os.open, path, os.O_RDONLY)
        try:
            if length is None:
                length = max(os.fstat(in_fd).st_size - offset, 0)
            copied = 0
            while copied < length:
                count = min(COPY_SLICE_BYTES, length - copied)
                sent: int = await self._run(os.sendfile, out_fd, in_fd, offset + copied, count)
                if sent == 0:
                    raise StorageError(f"{path} is shorter than {offset + length} bytes")
                copied += sent
            return copied
        finally:
            os.close(in_fd)

    async def _write_tmp(self, fill: Callable[[int], Any]) -> Path:
        """A new fsynced file in ``tmp/`` whose content ``await fill(fd)`` writes."""
        tmp = self._tmp_path()
        fd: int = await self._run(os.open, tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            await fill(fd)
        except BaseException as exc:
            os.close(fd)
            with trio.CancelScope(shield=True):
                await self._run(tmp.unlink)
            if isinstance(exc, OSError):
                raise _translate(exc, f"cannot write to {self.location}") from exc
            raise
        await self._run(self._fsync_close, fd)
        return tmp

    # -- the interface -------------------------------------------------------------------

    async def put_bytes(
        self,
        key: str,
        data: ReadableBuffer,
        *,
        content_type: str = DEFAULT_CONTENT_TYPE,
        cache_control: str | None = None,
    ) -> ObjectInfo:
        check_key(key)

        async def fill(fd: int) -> None:
            await self._run(_write_all, fd, data)

        tmp = await self._write_tmp(fill)
        info: ObjectInfo = await self._run(self._install, key, tmp, content_type, cache_control)
        return info

    async def put_bytes_if_absent(self, key: str, data: bytes) -> bool:
        check_key(key)

        async def fill(fd: int) -> None:
            await self._run(_write_all, fd, data)

        tmp = await self._write_tmp(fill)
        created: bool = await self._run(self._link_new, key, tmp)
        return created

    def _link_new(self, key: str, tmp: Path) -> bool:
        """Link the fsynced ``tmp`` to ``key`` unless an object is there (a link, unlike a
        rename, fails on an existing target); ``tmp`` goes either way."""
        target = self._object_path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(tmp, target)
        except FileExistsError:
            return False
        except OSError as exc:
            raise _translate(exc, f"cannot store {key!r} in {self.location}") from exc
        finally:
            tmp.unlink(missing_ok=True)
        self._fsync_dir(target.parent)
        return True

    async def put_file(
        self,
        key: str,
        path: Path,
        *,
        content_type: str = DEFAULT_CONTENT_TYPE,
        cache_control: str | None = None,
    ) -> ObjectInfo:
        check_key(key)

        async def fill(fd: int) -> None:
            await self._copy_into(fd, path, 0, None)

        tmp = await self._write_tmp(fill)
        info: ObjectInfo = await self._run(self._install, key, tmp, content_type, cache_control)
        return info

    async def open_read(
        self, key: str, *, offset: int = 0, length: int | None = None
    ) -> ObjectReader:
        check_key(key)
        if offset < 0 or (length is not None and length < 1):
            raise ValueError(f"bad range: offset {offset}, length {length}")

        def open_file() -> tuple[ObjectInfo, int]:
            try:
                fd = os.open(self._object_path(key), os.O_RDONLY)
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                raise ObjectNotFound(f"no object {key!r} in {self.location}") from None
            try:
                return self._info(key), fd
            except BaseException:
                os.close(fd)
                raise

        info, fd = await self._run(open_file)
        if offset >= info.size and (offset > 0 or length is not None):
            os.close(fd)
            raise InvalidRange(f"{key!r} has {info.size} bytes; cannot read from {offset}")
        available = info.size - offset
        return _LocalReader(info, offset, min(available, length or available), fd, self)

    async def head(self, key: str) -> ObjectInfo:
        check_key(key)
        info: ObjectInfo = await self._run(self._info, key)
        return info

    async def list_prefix(self, prefix: str) -> list[ObjectInfo]:
        check_key(prefix, prefix=True)

        def walk() -> list[ObjectInfo]:
            # Only the directory the prefix ends in can hold matches: "videos/ab"
            # walks objects/videos and keeps what starts with "videos/ab".
            base = self._objects / prefix.rpartition("/")[0]
            found = []
            for dirpath, _dirs, files in os.walk(base):
                for name in files:
                    key = str((Path(dirpath) / name).relative_to(self._objects))
                    if key.startswith(prefix):
                        with contextlib.suppress(ObjectNotFound):  # deleted meanwhile
                            found.append(self._info(key))
            return sorted(found, key=lambda info: info.key)

        listed: list[ObjectInfo] = await self._run(walk)
        return listed

    def _delete_sync(self, key: str) -> None:
        for path in (self._object_path(key), self._meta_path(key)):
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                path.unlink()
            # Drop directories the key leaves empty, up to (not including) the tree's root.
            parent = path.parent
            with contextlib.suppress(OSError):
                while parent not in (self._objects, self._metadata):
                    parent.rmdir()
                    parent = parent.parent

    async def delete(self, key: str) -> None:
        check_key(key)
        await self._run(self._delete_sync, key)

    async def delete_prefix(self, prefix: str) -> int:
        if not prefix:
            raise ValueError("refusing to delete every object: the prefix is empty")
        listed = await self.list_prefix(prefix)
        for info in listed:
            await self._run(self._delete_sync, info.key)
        return len(listed)

    async def create_multipart(
        self,
        key: str,
        *,
        content_type: str = DEFAULT_CONTENT_TYPE,
        cache_control: str | None = None,
    ) -> str:
        check_key(key)
        upload_id = secrets.token_hex(_UPLOAD_ID_BYTES)

        def create() -> None:
            directory = self._uploads / upload_id
            directory.mkdir()
            manifest = {"key": key, "content_type": content_type, "cache_control": cache_control}
            (directory / "upload.json").write_text(json.dumps(manifest))
            self._fsync_dir(self._uploads)

        await self._run(create)
        return upload_id

    def _manifest(self, key: str, upload_id: str) -> dict[str, Any]:
        try:
            manifest: dict[str, Any] = json.loads(
                (self._upload_dir(upload_id) / "upload.json").read_bytes()
            )
        except FileNotFoundError:
            raise UploadNotFound(f"no multipart upload {upload_id!r} in {self.location}") from None
        if manifest["key"] != key:
            raise UploadNotFound(f"multipart upload {upload_id!r} is not for {key!r}")
        return manifest

    def _install_part(self, key: str, upload_id: str, number: int, tmp: Path) -> Part:
        try:
            self._manifest(key, upload_id)
        except UploadNotFound:
            tmp.unlink()
            raise
        target = self._upload_dir(upload_id) / f"{_PART_PREFIX}{number:05d}"
        os.replace(tmp, target)
        st = target.stat()
        return Part(number=number, etag=_etag(st), size=st.st_size)

    async def _part_from(
        self, key: str, upload_id: str, number: int, fill: Callable[[int], Any]
    ) -> Part:
        """Part ``number`` of the upload, its bytes written by ``await fill(fd)``."""
        check_key(key)
        check_part_number(number)
        await self._run(self._manifest, key, upload_id)
        tmp = await self._write_tmp(fill)
        part: Part = await self._run(self._install_part, key, upload_id, number, tmp)
        return part

    async def _part_from_file(
        self, key: str, upload_id: str, number: int, path: Path, offset: int, length: int | None
    ) -> Part:
        async def fill(fd: int) -> None:
            copied = await self._copy_into(fd, path, offset, length)
            if length is not None and copied != length:
                raise StorageError(f"{path} is shorter than {offset + length} bytes")

        return await self._part_from(key, upload_id, number, fill)

    async def upload_part(
        self,
        key: str,
        upload_id: str,
        number: int,
        path: Path,
        *,
        offset: int = 0,
        length: int | None = None,
    ) -> Part:
        return await self._part_from_file(key, upload_id, number, path, offset, length)

    async def upload_part_bytes(
        self, key: str, upload_id: str, number: int, data: ReadableBuffer
    ) -> Part:
        async def fill(fd: int) -> None:
            await self._run(_write_all, fd, data)

        return await self._part_from(key, upload_id, number, fill)

    async def upload_part_copy(
        self,
        key: str,
        upload_id: str,
        number: int,
        source_key: str,
        *,
        offset: int = 0,
        length: int | None = None,
    ) -> Part:
        source = self._object_path(source_key)
        if not await self._run(source.is_file):
            raise ObjectNotFound(f"no object {source_key!r} in {self.location}")
        return await self._part_from_file(key, upload_id, number, source, offset, length)

    def _parts(self, key: str, upload_id: str) -> list[Part]:
        self._manifest(key, upload_id)
        parts = []
        for entry in os.scandir(self._upload_dir(upload_id)):
            if entry.name.startswith(_PART_PREFIX):
                st = entry.stat()
                number = int(entry.name.removeprefix(_PART_PREFIX))
                parts.append(Part(number=number, etag=_etag(st), size=st.st_size))
        return sorted(parts, key=lambda part: part.number)

    async def list_parts(self, key: str, upload_id: str) -> list[Part]:
        check_key(key)
        parts: list[Part] = await self._run(self._parts, key, upload_id)
        return parts

    async def complete_multipart(
        self, key: str, upload_id: str, parts: Sequence[Part]
    ) -> ObjectInfo:
        check_key(key)
        manifest: dict[str, Any] = await self._run(self._manifest, key, upload_id)
        stored = {part.number: part for part in await self.list_parts(key, upload_id)}
        _check_completion(parts, stored)
        directory = self._upload_dir(upload_id)

        async def fill(fd: int) -> None:
            for part in parts:
                await self._copy_into(fd, directory / f"{_PART_PREFIX}{part.number:05d}", 0, None)

        tmp = await self._write_tmp(fill)
        info: ObjectInfo = await self._run(
            self._install, key, tmp, manifest["content_type"], manifest["cache_control"]
        )
        await self._run(shutil.rmtree, directory)
        return info

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        check_key(key)
        await self._run(self._manifest, key, upload_id)
        await self._run(shutil.rmtree, self._upload_dir(upload_id))

    async def presign_get(self, key: str, *, expires_s: int) -> str | None:
        check_key(key)
        await trio.lowlevel.checkpoint()
        return None

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()

    async def move_file(
        self,
        key: str,
        path: Path,
        *,
        content_type: str = DEFAULT_CONTENT_TYPE,
        cache_control: str | None = None,
    ) -> ObjectInfo:
        check_key(key)

        def rename_in() -> Path | None:
            """``path`` renamed into ``tmp/``, fsynced; None if it is on another file system."""
            tmp = self._tmp_path()
            try:
                fd = os.open(path, os.O_RDONLY)
                try:
                    os.fsync(fd)  # the bytes are durable before the name moves
                finally:
                    os.close(fd)
                os.rename(path, tmp)
            except OSError as exc:
                if exc.errno == errno.EXDEV:
                    return None
                raise _translate(exc, f"cannot move {path} into {self.location}") from exc
            return tmp

        tmp: Path | None = await self._run(rename_in)
        if tmp is None:
            info = await self.put_file(
                key, path, content_type=content_type, cache_control=cache_control
            )
            await self._run(path.unlink)
            return info
        moved: ObjectInfo = await self._run(self._install, key, tmp, content_type, cache_control)
        return moved


def _write_all(fd: int, data: ReadableBuffer) -> None:
    view = memoryview(data).cast("B")
    while view:
        view = view[os.write(fd, view) :]


def _check_completion(parts: Sequence[Part], stored: dict[int, Part]) -> None:
    """S3's rules for CompleteMultipartUpload, so the local backend refuses what S3 refuses."""
    if not parts:
        raise InvalidPart("a multipart upload needs at least one part")
    numbers = [part.number for part in parts]
    if numbers != sorted(set(numbers)):
        raise InvalidPart(f"parts must be listed in ascending order, once each: {numbers}")
    for index, part in enumerate(parts):
        have = stored.get(part.number)
        if have is None or have.etag.strip('"') != part.etag.strip('"'):
            raise InvalidPart(f"part {part.number} was not uploaded or has changed since")
        if have.size < MIN_PART_SIZE and index < len(parts) - 1:
            raise InvalidPart(
                f"part {part.number} has {have.size} bytes; all but the last need {MIN_PART_SIZE}"
            )
