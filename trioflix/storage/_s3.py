"""The object store on an S3-compatible server (AWS S3, MinIO, Ceph RGW, R2, SeaweedFS).

A boto3 client does the S3 work (the service model, SigV4 signing and
presigning, XML parsing); every call runs in a worker thread behind one
``trio.CapacityLimiter``, so the Trio thread never blocks. boto3 was chosen
over botocore + httpx and over aiobotocore by measurement (docs/storage.md):
it costs the least CPU per GiB both ways.

Every key is stored under the configured prefix, so one bucket can hold several
sites (or test runs) apart. A part or file body is a range of an open file
(or a buffer in memory) that boto3 reads as it sends; a read streams the response body in bounded
``read()`` calls: memory per request stays at a chunk or two, whatever the
object's size.

Resource handling:
    A call in a thread cannot be interrupted: a cancelled call returns once its
    thread does, which the client's timeouts bound (:data:`CONNECT_TIMEOUT_S`,
    :data:`READ_TIMEOUT_S`).

Error handling:
    botocore retries a failed call once (see :func:`s3_client_config`); beyond
    that the callers retry with backoff where they know what a retry means.
    Connection failures, timeouts, 5xx and throttling become
    :class:`StorageUnavailable`; S3's error codes choose the
    :class:`StorageError` subclass.
"""

from __future__ import annotations

import contextlib
import functools
import os
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

import trio

from trioflix.slim_imports import hidden

with hidden("urllib3.contrib.pyopenssl"):  # botocore falls back to the ssl module's context
    import boto3
    import botocore.exceptions
    from botocore.config import Config

from trioflix.storage._errors import (
    AccessDenied,
    BucketNotFound,
    InvalidPart,
    InvalidRange,
    ObjectNotFound,
    StorageError,
    StorageFailure,
    StorageUnavailable,
    UploadNotFound,
)
from trioflix.storage._objects import (
    DEFAULT_CONTENT_TYPE,
    ObjectInfo,
    ObjectReader,
    ObjectStore,
    Part,
    check_key,
    check_part_number,
    split_evenly,
)
from trioflix.storage._seekable import SeekableReader

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from _typeshed import ReadableBuffer
    from botocore.response import StreamingBody
    from types_boto3_s3 import S3Client

__all__ = [
    "READ_CHUNK_BYTES",
    "BufferRange",
    "FileRange",
    "S3ObjectStore",
    "create_s3_client",
    "s3_client_config",
]

T = TypeVar("T")

# A connection that cannot be opened in 10 s, or a server silent for 60 s in the
# middle of an answer, is down for our purposes: StorageUnavailable, retry later.
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 60.0
S3_THREADS = 32  # concurrent S3 calls per store (part uploads, reads); the pool's size too
READ_CHUNK_BYTES = 1024 * 1024  # per receive_some(): one thread hop per MiB
_DELETE_BATCH = 1000  # DeleteObjects takes at most 1,000 keys

_ERROR_CODES: dict[str, type[StorageError]] = {
    "NoSuchKey": ObjectNotFound,
    "404": ObjectNotFound,  # HEAD answers carry no body, hence no code: only the status
    "NoSuchUpload": UploadNotFound,
    "NoSuchBucket": BucketNotFound,
    "AccessDenied": AccessDenied,
    "InvalidAccessKeyId": AccessDenied,
    "SignatureDoesNotMatch": AccessDenied,
    "403": AccessDenied,
    "InvalidPart": InvalidPart,
    "InvalidPartOrder": InvalidPart,
    "EntityTooSmall": InvalidPart,
    "InvalidRange": InvalidRange,
}
_TRANSIENT_CODES = {
    "SlowDown",
    "RequestTimeout",
    "ServiceUnavailable",
    "InternalError",
    "ConditionalRequestConflict",  # a conditional write raced another: try again
}
# What the network or the server did (refused, reset, timed out, cut short), as
# opposed to errors in our own parameters, which must not pass for an outage.
_TRANSIENT_EXCEPTIONS = (
    botocore.exceptions.ConnectionError,  # refused, connect timeout, TLS or proxy failure
    botocore.exceptions.HTTPClientError,  # closed or reset mid-request, read timeout, body cut
    botocore.exceptions.IncompleteReadError,
)


def s3_client_config() -> Config:
    """How trioflix talks S3, whatever the client library.

    Path-style requests (every S3-compatible server takes them), SigV4, a single
    retry, no flexible checksums (not every server supports them), and
    ``UNSIGNED-PAYLOAD`` for bodies (what boto3 does over HTTPS, where TLS
    protects them; hashing them would cost a second pass over every byte).
    """
    return Config(
        signature_version="s3v4",
        s3={"addressing_style": "path", "payload_signing_enabled": False},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        # One retry, for the connection a restarted server closed while it sat in the
        # pool; an outage fails both attempts and is the caller's to retry with backoff.
        retries={"total_max_attempts": 2, "mode": "standard"},
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
        max_pool_connections=S3_THREADS,
    )


def create_s3_client(
    endpoint_url: str, region: str, access_key_id: str, secret_access_key: str
) -> S3Client:
    """A boto3 S3 client for :class:`S3ObjectStore`. Reads botocore's model files: blocking."""
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        config=s3_client_config(),
    )


def _translate(exc: Exception, what: str) -> StorageError | StorageUnavailable:
    if isinstance(exc, _TRANSIENT_EXCEPTIONS):
        return StorageUnavailable(f"{what}: unreachable or failing ({exc})")
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        detail = f"{what}: {code} {error.get('Message', '')}".rstrip()
        if status >= 500 or status == 429 or code in _TRANSIENT_CODES:
            return StorageUnavailable(detail)
        return _ERROR_CODES.get(code, StorageError)(detail)
    return StorageError(f"{what}: {exc}")


def _headers(content_type: str, cache_control: str | None) -> dict[str, str]:
    headers = {"ContentType": content_type}
    if cache_control is not None:
        headers["CacheControl"] = cache_control
    return headers


class FileRange(SeekableReader):
    """``length`` bytes of an open file from ``offset``, as the seekable body boto3 sends.

    boto3 reads it in small blocks as it writes to the socket, in the call's
    thread; it seeks back to the start when it must resend. A seek lands inside
    the range whatever it asks, so a read never strays into the rest of the file.
    """

    def __init__(self, fd: int, offset: int, length: int) -> None:
        super().__init__(length)
        self._fd = fd
        self._offset = offset

    def _land(self, position: int) -> int:
        return min(max(position, 0), self.size)

    def readinto(self, buffer: Any) -> int:
        count = min(len(buffer), self.size - self.position)
        data = os.pread(self._fd, count, self._offset + self.position)
        if count and not data:
            raise StorageError(f"the file ended {self.size - self.position} bytes early")
        buffer[: len(data)] = data
        self.position += len(data)
        return len(data)


class BufferRange(SeekableReader):
    """Bytes in memory as the seekable body boto3 sends, read without a copy of the whole.

    The buffer must not change until the call that sends it returns.
    """

    def __init__(self, data: ReadableBuffer) -> None:
        self._view = memoryview(data).cast("B")
        super().__init__(len(self._view))

    def readinto(self, buffer: Any) -> int:
        count = max(min(len(buffer), self.size - self.position), 0)
        buffer[:count] = self._view[self.position : self.position + count]
        self.position += count
        return count


class _S3Reader(ObjectReader):
    def __init__(
        self, info: ObjectInfo, offset: int, length: int, body: StreamingBody, store: S3ObjectStore
    ):
        super().__init__(info, offset, length)
        self._body = body
        self._store = store
        self._received = 0
        self._closed = False

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if self._closed:
            raise trio.ClosedResourceError("object reader was closed")
        size = min(max_bytes or READ_CHUNK_BYTES, self.length - self._received)
        if size == 0:
            await trio.lowlevel.checkpoint()
            return b""
        chunk = await self._store._call(f"reading {self.info.key!r}", self._body.read, size)
        if not chunk:  # the connection ended before Content-Length said it would
            raise StorageUnavailable(
                f"reading {self.info.key!r}: connection ended after {self._received} of "
                f"{self.length} bytes"
            )
        self._received += len(chunk)
        return chunk

    async def aclose(self) -> None:
        self._closed = True
        # Closing drops the connection (the rest of the body is not drained): no blocking.
        self._body.close()
        await trio.lowlevel.checkpoint()


class S3ObjectStore(ObjectStore):
    """Objects in ``bucket`` under ``prefix``, through a boto3 client in worker threads.

    Args:
        client: From :func:`create_s3_client` (owned: closed with the store).
        bucket: The bucket; it must exist (the start-up probe checks).
        prefix: Prepended to every key; empty or ending in ``/``.
    """

    def __init__(self, client: S3Client, bucket: str, prefix: str = "") -> None:
        if prefix:
            check_key(prefix, prefix=True)
            if not prefix.endswith("/"):
                raise ValueError(f"an S3 key prefix must end with '/': {prefix!r}")
        self._client = client
        self.bucket = bucket
        self.prefix = prefix
        self.location = f"s3://{bucket}/{prefix} at {client.meta.endpoint_url}"
        self._limiter = trio.CapacityLimiter(S3_THREADS)

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    async def _call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` in a worker thread, its errors in the store's classes."""
        try:
            return await trio.to_thread.run_sync(
                functools.partial(fn, *args, **kwargs), limiter=self._limiter
            )
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise _translate(exc, what) from exc

    async def _send_file(
        self,
        what: str,
        fn: Callable[..., T],
        path: Path,
        offset: int,
        length: int | None,
        **params: Any,
    ) -> tuple[T, int]:
        """``fn(Body=<range of the file at path>, ContentLength=..., **params)``; and the length."""

        def send() -> tuple[T, int]:
            fd = os.open(path, os.O_RDONLY)
            try:
                size = os.fstat(fd).st_size
                count = max(size - offset, 0) if length is None else length
                if offset + count > size:
                    raise StorageError(f"{path} is shorter than {offset + count} bytes")
                with FileRange(fd, offset, count) as body:
                    return fn(Body=body, ContentLength=count, **params), count
            finally:
                os.close(fd)

        return await self._call(what, send)

    async def put_bytes(
        self,
        key: str,
        data: ReadableBuffer,
        *,
        content_type: str = DEFAULT_CONTENT_TYPE,
        cache_control: str | None = None,
    ) -> ObjectInfo:
        body = BufferRange(data)
        answer = await self._call(
            f"storing {key!r}",
            self._client.put_object,
            Bucket=self.bucket,
            Key=self._key(key),
            Body=body,
            ContentLength=body.size,
            **_headers(content_type, cache_control),
        )
        return ObjectInfo(
            key=key,
            size=body.size,
            etag=answer["ETag"],
            content_type=content_type,
            cache_control=cache_control,
        )

    async def put_bytes_if_absent(self, key: str, data: bytes) -> bool:
        try:
            await self._call(
                f"creating {key!r}",
                self._client.put_object,
                Bucket=self.bucket,
                Key=self._key(key),
                Body=data,
                IfNoneMatch="*",
            )
        except StorageError as exc:
            # 412: an object is there. (AWS answers a conditional write racing
            # another with 409 ConditionalRequestConflict: transient, retried.)
            cause = exc.__cause__
            if (
                isinstance(cause, botocore.exceptions.ClientError)
                and cause.response.get("Error", {}).get("Code") == "PreconditionFailed"
            ):
                return False
            raise
        return True

    async def put_file(
        self,
        key: str,
        path: Path,
        *,
        content_type: str = DEFAULT_CONTENT_TYPE,
        cache_control: str | None = None,
    ) -> ObjectInfo:
        size = (await trio.to_thread.run_sync(path.stat)).st_size
        if size > self.max_single_bytes:
            return await self._put_in_parts(key, path, size, content_type, cache_control)
        answer, size = await self._send_file(
            f"storing {key!r} from {path}",
            self._client.put_object,
            path,
            0,
            None,
            Bucket=self.bucket,
            Key=self._key(key),
            **_headers(content_type, cache_control),
        )
        return ObjectInfo(
            key=key,
            size=size,
            etag=answer["ETag"],
            content_type=content_type,
            cache_control=cache_control,
        )

    async def _put_in_parts(
        self, key: str, path: Path, size: int, content_type: str, cache_control: str | None
    ) -> ObjectInfo:
        """``put_file`` of a file over :attr:`max_single_bytes`: a multipart upload of
        even parts, aborted if a part fails (nothing is left under ``key``)."""
        upload_id = await self.create_multipart(
            key, content_type=content_type, cache_control=cache_control
        )
        try:
            parts = [
                await self.upload_part(key, upload_id, number, path, offset=offset, length=length)
                for number, (offset, length) in enumerate(
                    split_evenly(size, self.max_single_bytes), start=1
                )
            ]
            return await self.complete_multipart(key, upload_id, parts)
        except BaseException:
            with trio.move_on_after(CONNECT_TIMEOUT_S, shield=True):
                # Best effort: a store that is away keeps the upload, which a
                # bucket lifecycle rule for incomplete multipart uploads ends.
                with contextlib.suppress(StorageFailure):
                    await self.abort_multipart(key, upload_id)
            raise

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
        answer = await self._call(f"reading {key!r}", self._client.get_object, **params)
        body = answer["Body"]
        size = answer["ContentLength"]
        if ranged and "ContentRange" not in answer:
            body.close()
            raise StorageError(f"reading {key!r}: the server ignored the Range header")
        # Content-Range: bytes FIRST-LAST/TOTAL
        total = int(answer["ContentRange"].rpartition("/")[2]) if ranged else size
        info = ObjectInfo(
            key=key,
            size=total,
            etag=answer.get("ETag", ""),
            content_type=answer.get("ContentType", DEFAULT_CONTENT_TYPE),
            cache_control=answer.get("CacheControl"),
        )
        return _S3Reader(info, offset, size, body, self)

    async def head(self, key: str) -> ObjectInfo:
        answer = await self._call(
            f"looking up {key!r}", self._client.head_object, Bucket=self.bucket, Key=self._key(key)
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
            answer = await self._call(f"listing {prefix!r}", self._client.list_objects_v2, **params)
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
        await self._call(
            f"deleting {key!r}", self._client.delete_object, Bucket=self.bucket, Key=self._key(key)
        )

    async def delete_prefix(self, prefix: str) -> int:
        if not prefix:
            raise ValueError("refusing to delete every object: the prefix is empty")
        keys = [self.prefix + info.key for info in await self.list_prefix(prefix)]
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = keys[start : start + _DELETE_BATCH]
            answer = await self._call(
                f"deleting {prefix!r}",
                self._client.delete_objects,
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
            )
            if errors := answer.get("Errors"):
                first = errors[0]
                raise StorageError(
                    f"deleting {prefix!r}: {len(errors)} objects refused, "
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
        answer = await self._call(
            f"starting a multipart upload to {key!r}",
            self._client.create_multipart_upload,
            Bucket=self.bucket,
            Key=self._key(key),
            **_headers(content_type, cache_control),
        )
        return answer["UploadId"]

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
            f"sending part {number} of {key!r}",
            self._client.upload_part,
            path,
            offset,
            length,
            Bucket=self.bucket,
            Key=self._key(key),
            UploadId=upload_id,
            PartNumber=number,
        )
        return Part(number=number, etag=answer["ETag"], size=size)

    async def upload_part_bytes(
        self, key: str, upload_id: str, number: int, data: ReadableBuffer
    ) -> Part:
        check_part_number(number)
        body = BufferRange(data)
        answer = await self._call(
            f"sending part {number} of {key!r}",
            self._client.upload_part,
            Body=body,
            ContentLength=body.size,
            Bucket=self.bucket,
            Key=self._key(key),
            UploadId=upload_id,
            PartNumber=number,
        )
        return Part(number=number, etag=answer["ETag"], size=body.size)

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
        check_part_number(number)
        if offset < 0 or (length is not None and length < 1):
            raise ValueError(f"bad range: offset {offset}, length {length}")
        full_key = self._key(key)
        # The copy answer carries no size; the source's HEAD does (and names a missing source).
        total = (await self.head(source_key)).size
        size = total - offset if length is None else length
        if offset + size > total:
            raise ValueError(f"{source_key!r} is shorter than {offset + size} bytes")
        ranged: dict[str, str] = {}
        if offset or length is not None:
            ranged["CopySourceRange"] = f"bytes={offset}-{offset + size - 1}"
        answer = await self._call(
            f"copying {source_key!r} into part {number} of {key!r}",
            self._client.upload_part_copy,
            Bucket=self.bucket,
            Key=full_key,
            UploadId=upload_id,
            PartNumber=number,
            CopySource=quote(f"{self.bucket}/{self._key(source_key)}", safe="/~"),
            **ranged,
        )
        return Part(number=number, etag=answer["CopyPartResult"]["ETag"], size=size)

    async def list_parts(self, key: str, upload_id: str) -> list[Part]:
        params: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": self._key(key),
            "UploadId": upload_id,
        }
        parts = []
        while True:
            answer = await self._call(
                f"listing the parts of {key!r}", self._client.list_parts, **params
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
        await self._call(
            f"completing the multipart upload of {key!r}",
            self._client.complete_multipart_upload,
            Bucket=self.bucket,
            Key=self._key(key),
            UploadId=upload_id,
            MultipartUpload={
                "Parts": [{"PartNumber": part.number, "ETag": part.etag} for part in parts]
            },
        )
        return await self.head(key)

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        # Some servers answer 204 to an abort of an unknown id: list first to say so.
        await self._call(
            f"looking up the multipart upload of {key!r}",
            self._client.list_parts,
            Bucket=self.bucket,
            Key=self._key(key),
            UploadId=upload_id,
            MaxParts=1,
        )
        await self._call(
            f"aborting the multipart upload of {key!r}",
            self._client.abort_multipart_upload,
            Bucket=self.bucket,
            Key=self._key(key),
            UploadId=upload_id,
        )

    async def presign_get(self, key: str, *, expires_s: int) -> str | None:
        await trio.lowlevel.checkpoint()
        # Computed locally (no request): cheap enough for the Trio thread.
        return self._client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": self._key(key)},
            ExpiresIn=expires_s,
        )

    async def aclose(self) -> None:
        await trio.to_thread.run_sync(self._client.close)

    async def move_file(
        self,
        key: str,
        path: Path,
        *,
        content_type: str = DEFAULT_CONTENT_TYPE,
        cache_control: str | None = None,
    ) -> ObjectInfo:
        info = await self.put_file(
            key, path, content_type=content_type, cache_control=cache_control
        )
        await trio.to_thread.run_sync(path.unlink)
        return info
