"""The object-store interface both backends implement, and the values it passes.

Keys are S3 keys: ``/``-separated, relative, without empty, ``.`` or ``..``
segments (so the local backend can map them onto paths safely, and a prefix
such as ``videos/abc/`` names one video's whole tree on either backend).
Every method that can block is ``async`` and checkpoints; none takes a timeout
(wrap the call in a cancel scope).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from _typeshed import ReadableBuffer

__all__ = [
    "DEFAULT_CONTENT_TYPE",
    "MAX_PARTS",
    "MAX_SINGLE_BYTES",
    "MIN_PART_SIZE",
    "ObjectInfo",
    "ObjectReader",
    "ObjectStore",
    "Part",
    "check_key",
    "check_part_number",
    "split_evenly",
]

# S3's own limits, enforced by the local backend too so that code tested on
# disk behaves the same on a bucket: every part but the last is at least 5 MiB,
# and an upload has at most 10,000 parts.
MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PARTS = 10_000
# S3's limit on one PUT and on one copied part: larger objects go in several parts.
MAX_SINGLE_BYTES = 5 * 1024 * 1024 * 1024
DEFAULT_CONTENT_TYPE = "application/octet-stream"  # what S3 answers when none was given
_MAX_KEY_BYTES = 1024  # S3's limit on a key's UTF-8 length
_BAD_SEGMENTS = {"", ".", ".."}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_key(key: str, *, prefix: bool = False) -> str:
    """Return ``key`` if it is a safe object key (or key prefix), else raise ``ValueError``.

    A prefix may be empty or end with ``/``; a key may not.
    """
    if len(key.encode()) > _MAX_KEY_BYTES or _CONTROL.search(key):
        raise ValueError(f"unusable object key {key!r}")
    if prefix and key == "":
        return key
    segments = key.split("/")
    if prefix and key.endswith("/"):
        segments.pop()
    if key.startswith("/") or any(segment in _BAD_SEGMENTS for segment in segments):
        raise ValueError(f"unusable object key {key!r}: empty, '.' or '..' segment")
    return key


def split_evenly(size: int, limit: int) -> list[tuple[int, int]]:
    """``(offset, length)`` of the fewest near-equal pieces of ``size`` bytes, none over ``limit``.

    Near-equal rather than ``limit``-sized with a remainder: with ``limit`` at least
    twice :data:`MIN_PART_SIZE`, every piece of a split is at least that, so each can
    be a part that is not the last.
    """
    count = max(1, -(-size // limit))
    base, extra = divmod(size, count)
    pieces = []
    offset = 0
    for index in range(count):
        length = base + (index < extra)
        pieces.append((offset, length))
        offset += length
    return pieces


def check_part_number(number: int) -> int:
    """Return ``number`` if it is a valid part number (1 to 10,000), else raise ``ValueError``."""
    if not 1 <= number <= MAX_PARTS:
        raise ValueError(f"part number {number} is outside 1..{MAX_PARTS}")
    return number


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectInfo:
    """What ``head`` and ``list_prefix`` tell about one object.

    Attributes:
        key: The object's key, without the store's own prefix.
        size: Length in bytes.
        etag: Opaque version tag; changes whenever the content does.
        content_type: ``Content-Type`` given at write time (``None`` from a listing,
            which does not carry it).
        cache_control: ``Cache-Control`` given at write time, if any (``None`` from a listing).
    """

    key: str
    size: int
    etag: str
    content_type: str | None = None
    cache_control: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Part:
    """One uploaded part of a multipart upload.

    Attributes:
        number: 1 to 10,000; the object is the parts in ascending order.
        etag: What completing the upload must quote back for this part.
        size: Length in bytes.
    """

    number: int
    etag: str
    size: int


class ObjectReader(trio.abc.ReceiveStream):
    """The bytes of one object (or of a range of it), received in bounded chunks.

    ``receive_some()`` returns ``b""`` at the end, as every Trio stream does.
    Close it (``async with reader:``) to release the file or the connection early.

    Attributes:
        info: The whole object's metadata (``size`` is the whole object's).
        offset: First byte this reader yields.
        length: How many bytes it yields in all.
    """

    def __init__(self, info: ObjectInfo, offset: int, length: int) -> None:
        self.info = info
        self.offset = offset
        self.length = length


class ObjectStore(ABC):
    """A flat namespace of immutable objects, written whole or in parts.

    Writes are atomic: a reader sees the old object or the new one, never a
    mix, and a failed write leaves nothing behind under the key.

    Resource handling:
        An object store owns connections or threads; open it with
        :func:`trioflix.storage.open_object_store` and use it within that block.

    Error handling:
        Transient failures raise :class:`~trioflix.storage.StorageUnavailable`
        (retry later); permanent ones a :class:`~trioflix.storage.StorageError`
        subclass. Invalid keys, ranges and part numbers raise ``ValueError``
        before any I/O.
    """

    #: Where the objects live, for messages: ``s3://bucket/prefix`` or ``file:/path``.
    location: str
    #: The largest object :meth:`copy_parts` copies as one part (S3's limit on a
    #: copied part); the S3 backend also sends a file over it in parts. Tests set
    #: it small (at least twice :data:`MIN_PART_SIZE`) to run those paths.
    max_single_bytes: int = MAX_SINGLE_BYTES

    @abstractmethod
    async def put_bytes(
        self,
        key: str,
        data: ReadableBuffer,
        *,
        content_type: str = DEFAULT_CONTENT_TYPE,
        cache_control: str | None = None,
    ) -> ObjectInfo:
        """Store ``data`` (any bytes-like object) under ``key``, replacing any object there.

        ``data`` is sent as it is, without a copy: it must not change until this returns.
        """

    @abstractmethod
    async def put_bytes_if_absent(self, key: str, data: bytes) -> bool:
        """Store ``data`` under ``key`` unless an object is there; whether this call stored it.

        Of several writers racing for one key, exactly one gets ``True`` and every
        reader then sees its bytes: S3's conditional ``PUT`` (``If-None-Match: *``),
        a hard link on local disk. The object has the default ``Content-Type``.
        """

    @abstractmethod
    async def put_file(
        self,
        key: str,
        path: Path,
        *,
        content_type: str = DEFAULT_CONTENT_TYPE,
        cache_control: str | None = None,
    ) -> ObjectInfo:
        """Store the file at ``path`` under ``key``, streamed from disk in bounded chunks.

        S3 takes up to 5 GiB in one ``PUT``; the S3 backend sends a larger file
        (over :attr:`max_single_bytes`) as a multipart upload of even parts.
        """

    @abstractmethod
    async def open_read(
        self, key: str, *, offset: int = 0, length: int | None = None
    ) -> ObjectReader:
        """Start reading ``key`` from ``offset``, ``length`` bytes or to the end.

        Raises:
            ObjectNotFound: No object under ``key``.
            InvalidRange: ``offset`` is at or past the end of a non-empty object.
        """

    async def read_bytes(self, key: str, *, offset: int = 0, length: int | None = None) -> bytes:
        """The object (or the range) in memory: for small objects such as playlists."""
        reader = await self.open_read(key, offset=offset, length=length)
        chunks = []
        async with reader:
            while chunk := await reader.receive_some():
                chunks.append(chunk)
        return b"".join(chunks)

    @abstractmethod
    async def head(self, key: str) -> ObjectInfo:
        """Metadata of ``key``.

        Raises:
            ObjectNotFound: No object under ``key``.
        """

    @abstractmethod
    async def list_prefix(self, prefix: str) -> list[ObjectInfo]:
        """Every object whose key starts with ``prefix``, sorted by key."""

    @abstractmethod
    async def delete(self, key: str) -> None:
        """Remove ``key``; nothing happens if it does not exist (as on S3)."""

    @abstractmethod
    async def delete_prefix(self, prefix: str) -> int:
        """Remove every object whose key starts with ``prefix``; returns how many.

        ``prefix`` must not be empty: emptying the whole store is never one call.
        """

    @abstractmethod
    async def create_multipart(
        self,
        key: str,
        *,
        content_type: str = DEFAULT_CONTENT_TYPE,
        cache_control: str | None = None,
    ) -> str:
        """Begin a multipart upload to ``key``; returns its upload id."""

    @abstractmethod
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
        """Send ``length`` bytes of the file at ``path`` from ``offset`` as part ``number``.

        Streamed from disk in bounded chunks. Sending a number again replaces that part
        for :meth:`complete_multipart` (quote the new ETag), but S3 servers differ on
        what :meth:`list_parts` then shows (SeaweedFS 4.48 lists both sends): code that
        resumes from ``list_parts`` must send each number once.

        Raises:
            UploadNotFound: The upload was completed or aborted, or never existed.
        """

    @abstractmethod
    async def upload_part_bytes(
        self, key: str, upload_id: str, number: int, data: ReadableBuffer
    ) -> Part:
        """Send ``data`` (any bytes-like object, such as a ``memoryview`` of a buffer) as
        part ``number``, from memory: no local file holds it on the way.

        ``data`` is sent as it is, without a copy: it must not change until this
        returns. Otherwise as :meth:`upload_part`.

        Raises:
            UploadNotFound: The upload was completed or aborted, or never existed.
        """

    @abstractmethod
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
        """Make ``length`` bytes of ``source_key`` from ``offset`` (all by default) part
        ``number``, copied inside the store.

        Up to 5 GiB (S3's limit on one copied part): :meth:`copy_parts` splits.

        Raises:
            ObjectNotFound: No object under ``source_key``.
            UploadNotFound: No such upload.
        """

    async def copy_parts(
        self, key: str, upload_id: str, first_number: int, source_key: str
    ) -> list[Part]:
        """Make the whole object ``source_key`` parts ``first_number`` on, copied in the store.

        One part up to :attr:`max_single_bytes`, else the fewest near-equal parts
        under it (each at least :data:`MIN_PART_SIZE`, so that more parts may follow).

        Raises:
            ObjectNotFound: No object under ``source_key``.
            UploadNotFound: No such upload.
        """
        size = (await self.head(source_key)).size
        if size <= self.max_single_bytes:
            return [await self.upload_part_copy(key, upload_id, first_number, source_key)]
        return [
            await self.upload_part_copy(
                key, upload_id, first_number + index, source_key, offset=offset, length=length
            )
            for index, (offset, length) in enumerate(split_evenly(size, self.max_single_bytes))
        ]

    @abstractmethod
    async def list_parts(self, key: str, upload_id: str) -> list[Part]:
        """The parts uploaded so far, by ascending number.

        Raises:
            UploadNotFound: No such upload.
        """

    @abstractmethod
    async def complete_multipart(
        self, key: str, upload_id: str, parts: Sequence[Part]
    ) -> ObjectInfo:
        """Join ``parts`` (ascending numbers) into the object ``key``.

        Raises:
            InvalidPart: A part is missing or changed, out of order, or smaller than
                :data:`MIN_PART_SIZE` without being the last.
            UploadNotFound: No such upload.
        """

    @abstractmethod
    async def abort_multipart(self, key: str, upload_id: str) -> None:
        """Drop the upload and its parts.

        Raises:
            UploadNotFound: No such upload.
        """

    @abstractmethod
    async def presign_get(self, key: str, *, expires_s: int) -> str | None:
        """A URL that GETs ``key`` without credentials for ``expires_s`` seconds.

        ``None`` when the store has no URL of its own (local disk): serve the
        bytes through the host instead. Computed locally; says nothing about
        whether the object exists.
        """

    @abstractmethod
    async def aclose(self) -> None:
        """Release connections and threads; the store is unusable afterwards."""

    @abstractmethod
    async def move_file(
        self,
        key: str,
        path: Path,
        *,
        content_type: str = DEFAULT_CONTENT_TYPE,
        cache_control: str | None = None,
    ) -> ObjectInfo:
        """Store the file at ``path`` under ``key`` and remove the file.

        On local disk a rename when ``path`` is on the store's file system (no
        byte is copied), else as :meth:`put_file`; the file goes only once the
        object is stored, so a failure leaves it where it was.
        """
