"""The object store on an S3-compatible server (AWS S3, MinIO, Ceph RGW, R2, SeaweedFS).

Every key is stored under the configured prefix, so one bucket can hold
several sites (or test runs) apart. Bodies are streamed from files in
:data:`UPLOAD_CHUNK_BYTES` reads in a worker thread, and reads are streamed
back as the network delivers them: memory per request stays at a chunk or two
whatever the object's size.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
import trio

from trioflix.storage._errors import InvalidPart, StorageError, StorageUnavailable
from trioflix.storage._objects import (
    DEFAULT_CONTENT_TYPE,
    ObjectInfo,
    ObjectReader,
    ObjectStore,
    Part,
    check_key,
    check_part_number,
)
from trioflix.storage._s3_requests import TRANSIENT_TRANSPORT_ERRORS

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path
    from typing import Self

    from trioflix.storage._s3_requests import S3Requests

__all__ = ["UPLOAD_CHUNK_BYTES", "S3ObjectStore"]

UPLOAD_CHUNK_BYTES = 1024 * 1024  # per read from disk while sending: one thread hop per MiB
_DELETE_BATCH = 1000  # DeleteObjects takes at most 1,000 keys
_FILE_THREADS = 8


def _headers(content_type: str, cache_control: str | None) -> dict[str, str]:
    headers = {"ContentType": content_type}
    if cache_control is not None:
        headers["CacheControl"] = cache_control
    return headers


class _FileRange(httpx.AsyncByteStream):
    """A request body: ``length`` bytes of an open file from ``offset``, read as it is sent.

    An iterator object rather than an async generator: httpx may stop iterating
    midway (the connection died), and an abandoned generator needs finalising.
    """

    def __init__(self, fd: int, offset: int, length: int, limiter: trio.CapacityLimiter):
        self._fd = fd
        self._position = offset
        self._end = offset + length
        self._limiter = limiter

    def __aiter__(self) -> Self:  # an iterator, not a generator
        return self

    async def __anext__(self) -> bytes:
        size = min(UPLOAD_CHUNK_BYTES, self._end - self._position)
        if size == 0:
            raise StopAsyncIteration
        chunk: bytes = await trio.to_thread.run_sync(
            os.pread, self._fd, size, self._position, limiter=self._limiter
        )
        if not chunk:
            raise StorageError(f"the file ended {self._end - self._position} bytes early")
        self._position += len(chunk)
        return chunk


class _S3Reader(ObjectReader):
    def __init__(self, info: ObjectInfo, offset: int, length: int, response: httpx.Response):
        super().__init__(info, offset, length)
        self._response = response
        self._chunks = response.aiter_raw()
        self._pending = b""
        self._received = 0
        self._closed = False

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if self._closed:
            raise trio.ClosedResourceError("object reader was closed")
        if not self._pending:
            try:
                self._pending = await self._chunks.__anext__()
            except StopAsyncIteration:
                if self._received != self.length:
                    raise StorageUnavailable(
                        f"{self.info.key}: connection ended after {self._received} of "
                        f"{self.length} bytes"
                    ) from None
                return b""
            except TRANSIENT_TRANSPORT_ERRORS as exc:
                raise StorageUnavailable(f"reading {self.info.key}: {exc!r}") from exc
        size = len(self._pending) if max_bytes is None else max_bytes
        chunk, self._pending = self._pending[:size], self._pending[size:]
        self._received += len(chunk)
        return chunk

    async def aclose(self) -> None:
        self._closed = True
        # httpx's iterator is an async generator: close it here rather than leave it
        # to the garbage collector when the reader stops early.
        if isinstance(self._chunks, AsyncGenerator):
            await self._chunks.aclose()
        await self._response.aclose()


class S3ObjectStore(ObjectStore):
    """Objects in ``bucket`` under ``prefix``, through :class:`S3Requests`.

    Args:
        requests: The signed-request sender (owned: closed with the store).
        bucket: The bucket; it must exist (the start-up probe checks).
        prefix: Prepended to every key; empty or ending in ``/``.
    """

    def __init__(self, requests: S3Requests, bucket: str, prefix: str = "") -> None:
        if prefix:
            check_key(prefix, prefix=True)
            if not prefix.endswith("/"):
                raise ValueError(f"an S3 key prefix must end with '/': {prefix!r}")
        self._requests = requests
        self.bucket = bucket
        self.prefix = prefix
        self.location = f"s3://{bucket}/{prefix} at {requests.endpoint_url}"
        self._file_limiter = trio.CapacityLimiter(_FILE_THREADS)

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    async def _send_file(
        self,
        operation: str,
        params: dict[str, Any],
        path: Path,
        offset: int,
        length: int | None,
        *,
        what: str,
    ) -> tuple[dict[str, Any], int]:
        """Perform ``operation`` with a range of the file at ``path`` as its body.

        Returns botocore's parse of the answer and the number of bytes sent.
        """
        fd: int = await trio.to_thread.run_sync(
            os.open, path, os.O_RDONLY, limiter=self._file_limiter
        )
        try:
            size = os.fstat(fd).st_size  # of an open file: no disk access
            if length is None:
                length = max(size - offset, 0)
            elif offset + length > size:
                raise StorageError(f"{path} is shorter than {offset + length} bytes")
            body = _FileRange(fd, offset, length, self._file_limiter)
            answer = await self._requests.call(
                operation, params | {"ContentLength": length}, content=body, what=what
            )
        finally:
            os.close(fd)
        return answer, length

    async def put_bytes(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str = DEFAULT_CONTENT_TYPE,
        cache_control: str | None = None,
    ) -> ObjectInfo:
        answer = await self._requests.call(
            "PutObject",
            {"Bucket": self.bucket, "Key": self._key(key), "Body": data}
            | _headers(content_type, cache_control),
            what=f"storing {key!r}",
        )
        return ObjectInfo(
            key=key,
            size=len(data),
            etag=answer["ETag"],
            content_type=content_type,
            cache_control=cache_control,
        )

    async def put_file(
        self,
        key: str,
        path: Path,
        *,
        content_type: str = DEFAULT_CONTENT_TYPE,
        cache_control: str | None = None,
    ) -> ObjectInfo:
        answer, size = await self._send_file(
            "PutObject",
            {"Bucket": self.bucket, "Key": self._key(key)} | _headers(content_type, cache_control),
            path,
            0,
            None,
            what=f"storing {key!r} from {path}",
        )
        return ObjectInfo(
            key=key,
            size=size,
            etag=answer["ETag"],
            content_type=content_type,
            cache_control=cache_control,
        )

    async def open_read(
        self, key: str, *, offset: int = 0, length: int | None = None
    ) -> ObjectReader:
        if offset < 0 or (length is not None and length < 1):
            raise ValueError(f"bad range: offset {offset}, length {length}")
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self._key(key)}
        ranged = offset > 0 or length is not None
        if ranged:
            last = "" if length is None else str(offset + length - 1)
            params["Range"] = f"bytes={offset}-{last}"
        response = await self._requests.open("GetObject", params, what=f"reading {key!r}")
        headers = response.headers
        size = int(headers["content-length"])
        if ranged:  # Content-Range: bytes FIRST-LAST/TOTAL
            total = int(headers["content-range"].rpartition("/")[2])
        else:
            total = size
        info = ObjectInfo(
            key=key,
            size=total,
            etag=headers.get("etag", ""),
            content_type=headers.get("content-type", DEFAULT_CONTENT_TYPE),
            cache_control=headers.get("cache-control"),
        )
        return _S3Reader(info, offset, size, response)

    async def head(self, key: str) -> ObjectInfo:
        answer = await self._requests.call(
            "HeadObject", {"Bucket": self.bucket, "Key": self._key(key)}, what=f"looking up {key!r}"
        )
        return ObjectInfo(
            key=key,
            size=answer["ContentLength"],
            etag=answer["ETag"],
            content_type=answer.get("ContentType", DEFAULT_CONTENT_TYPE),
            cache_control=answer.get("CacheControl"),
        )

    async def list_prefix(self, prefix: str) -> list[ObjectInfo]:
        check_key(prefix, prefix=True)
        params: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self.prefix + prefix}
        found = []
        while True:
            answer = await self._requests.call("ListObjectsV2", params, what=f"listing {prefix!r}")
            found += [
                ObjectInfo(
                    key=item["Key"][len(self.prefix) :], size=item["Size"], etag=item["ETag"]
                )
                for item in answer.get("Contents", [])
            ]
            if not answer.get("IsTruncated"):
                return found
            params["ContinuationToken"] = answer["NextContinuationToken"]

    async def delete(self, key: str) -> None:
        await self._requests.call(
            "DeleteObject", {"Bucket": self.bucket, "Key": self._key(key)}, what=f"deleting {key!r}"
        )

    async def delete_prefix(self, prefix: str) -> int:
        if not prefix:
            raise ValueError("refusing to delete every object: the prefix is empty")
        keys = [self.prefix + info.key for info in await self.list_prefix(prefix)]
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = keys[start : start + _DELETE_BATCH]
            answer = await self._requests.call(
                "DeleteObjects",
                {
                    "Bucket": self.bucket,
                    "Delete": {"Objects": [{"Key": key} for key in batch], "Quiet": True},
                },
                what=f"deleting {prefix!r}",
            )
            if answer.get("Errors"):
                first = answer["Errors"][0]
                raise StorageError(
                    f"deleting {prefix!r}: {len(answer['Errors'])} objects refused, "
                    f"first {first.get('Key')!r}: {first.get('Code')} {first.get('Message', '')}"
                )
        return len(keys)

    async def create_multipart(
        self,
        key: str,
        *,
        content_type: str = DEFAULT_CONTENT_TYPE,
        cache_control: str | None = None,
    ) -> str:
        answer = await self._requests.call(
            "CreateMultipartUpload",
            {"Bucket": self.bucket, "Key": self._key(key)} | _headers(content_type, cache_control),
            what=f"starting a multipart upload to {key!r}",
        )
        upload_id: str = answer["UploadId"]
        return upload_id

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
        check_part_number(number)
        answer, size = await self._send_file(
            "UploadPart",
            {
                "Bucket": self.bucket,
                "Key": self._key(key),
                "UploadId": upload_id,
                "PartNumber": number,
            },
            path,
            offset,
            length,
            what=f"sending part {number} of {key!r}",
        )
        return Part(number=number, etag=answer["ETag"], size=size)

    async def upload_part_copy(
        self, key: str, upload_id: str, number: int, source_key: str
    ) -> Part:
        check_part_number(number)
        full_key = self._key(key)
        source = quote(f"{self.bucket}/{self._key(source_key)}", safe="/~")
        # The copy answer carries no size; the source's HEAD does (and names a missing source).
        size = (await self.head(source_key)).size
        answer = await self._requests.call(
            "UploadPartCopy",
            {
                "Bucket": self.bucket,
                "Key": full_key,
                "UploadId": upload_id,
                "PartNumber": number,
                "CopySource": source,
            },
            what=f"copying {source_key!r} into part {number} of {key!r}",
        )
        return Part(number=number, etag=answer["CopyPartResult"]["ETag"], size=size)

    async def list_parts(self, key: str, upload_id: str) -> list[Part]:
        full_key = self._key(key)
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": full_key, "UploadId": upload_id}
        parts = []
        while True:
            answer = await self._requests.call(
                "ListParts", params, what=f"listing the parts of {key!r}"
            )
            parts += [
                Part(number=item["PartNumber"], etag=item["ETag"], size=item["Size"])
                for item in answer.get("Parts", [])
            ]
            if not answer.get("IsTruncated"):
                return parts
            params["PartNumberMarker"] = answer["NextPartNumberMarker"]

    async def complete_multipart(
        self, key: str, upload_id: str, parts: Sequence[Part]
    ) -> ObjectInfo:
        if not parts:
            raise InvalidPart("a multipart upload needs at least one part")
        full_key = self._key(key)
        await self._requests.call(
            "CompleteMultipartUpload",
            {
                "Bucket": self.bucket,
                "Key": full_key,
                "UploadId": upload_id,
                "MultipartUpload": {
                    "Parts": [{"PartNumber": part.number, "ETag": part.etag} for part in parts]
                },
            },
            what=f"completing the multipart upload of {key!r}",
        )
        return await self.head(key)

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        # S3 answers 204 to an abort of an unknown id on some servers: list first to say so.
        await self._requests.call(
            "ListParts",
            {"Bucket": self.bucket, "Key": self._key(key), "UploadId": upload_id, "MaxParts": 1},
            what=f"looking up the multipart upload of {key!r}",
        )
        await self._requests.call(
            "AbortMultipartUpload",
            {"Bucket": self.bucket, "Key": self._key(key), "UploadId": upload_id},
            what=f"aborting the multipart upload of {key!r}",
        )

    async def presign_get(self, key: str, *, expires_s: int) -> str | None:
        await trio.lowlevel.checkpoint()
        return self._requests.presign(
            "GetObject", {"Bucket": self.bucket, "Key": self._key(key)}, expires_s
        )

    async def aclose(self) -> None:
        with contextlib.suppress(httpx.TransportError):
            await self._requests.aclose()
