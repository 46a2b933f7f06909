"""S3 requests: botocore builds, signs and parses them; httpx sends them under Trio.

botocore does everything that must match S3 exactly: it serialises an
operation's parameters from the service model (the same JSON model boto3
uses), signs with SigV4 (``S3SigV4Auth``; presigned URLs with
``S3SigV4QueryAuth``) and parses the XML answers and errors. Only the transport
is ours: an ``httpx.AsyncClient``, which runs natively under Trio, keeps
connections alive, and streams request bodies from an async iterator, so a
64 MiB part never sits in memory. botocore's own handler chain (retries,
flexible checksums, endpoint rules) is not involved: requests are path-style to
the configured endpoint, large bodies travel as ``UNSIGNED-PAYLOAD`` (the
connection is what protects them, as boto3 does over HTTPS), small XML bodies
are signed in full.

Errors become the store's classes here, in one place: transport failures,
timeouts, 5xx and throttling are :class:`StorageUnavailable`; the rest a
:class:`StorageError` subclass chosen by S3's error code.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import httpx
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import create_request_object, prepare_request_dict
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

from trioflix.storage._errors import (
    AccessDenied,
    BucketNotFound,
    InvalidPart,
    InvalidRange,
    ObjectNotFound,
    StorageError,
    StorageUnavailable,
    UploadNotFound,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from botocore.model import ServiceModel, Shape

__all__ = ["TRANSIENT_TRANSPORT_ERRORS", "S3Requests", "load_s3_model"]

# A connection that cannot be opened in 10 s, or a server silent for 60 s in
# the middle of an answer, is down for our purposes: the caller gets
# StorageUnavailable and retries later. Waiting for a pooled connection is a
# queue, not a failure, so it has no limit here (callers bound it with a scope).
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 60.0
WRITE_TIMEOUT_S = 60.0
MAX_CONNECTIONS = 64  # per store: concurrent part uploads and reads across all requests

# What the network or the server did, as opposed to httpx.LocalProtocolError and
# UnsupportedProtocol, which would be a bug here and must not pass for an outage.
TRANSIENT_TRANSPORT_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)

_SIGN_PAYLOAD = Config(s3={"payload_signing_enabled": True})
_UNSIGNED_PAYLOAD = Config(s3={"payload_signing_enabled": False})

_NOT_FOUND = {"NoSuchKey": ObjectNotFound, "NoSuchUpload": UploadNotFound}
_PERMANENT = {
    "NoSuchBucket": BucketNotFound,
    "AccessDenied": AccessDenied,
    "InvalidAccessKeyId": AccessDenied,
    "SignatureDoesNotMatch": AccessDenied,
    "InvalidPart": InvalidPart,
    "InvalidPartOrder": InvalidPart,
    "EntityTooSmall": InvalidPart,
    "InvalidRange": InvalidRange,
}
_TRANSIENT_CODES = {"SlowDown", "RequestTimeout", "ServiceUnavailable", "InternalError"}


@functools.cache
def load_s3_model() -> ServiceModel:
    """botocore's S3 service model (read once). Reads packaged JSON: call it from a thread."""
    from botocore.session import Session

    return Session().get_service_model("s3")


def _content_md5(body: bytes) -> str:
    # DeleteObjects requires an integrity header; MD5 is the one every S3 server accepts.
    return base64.b64encode(hashlib.md5(body).digest()).decode()


@dataclass
class S3Requests:
    """Signed S3 calls to one endpoint with one identity.

    Args:
        model: From :func:`load_s3_model`.
        endpoint_url: ``http(s)://host:port``; buckets go in the path.
        region: The signing region (``us-east-1`` suits most S3-compatible servers).
        access_key_id: The identity's key id.
        secret_access_key: Its secret.
    """

    model: ServiceModel
    endpoint_url: str
    region: str
    access_key_id: str
    secret_access_key: str = field(repr=False)
    _http: httpx.AsyncClient = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._serializer = create_serializer("rest-xml", include_validation=True)
        self._parser = create_parser("rest-xml")
        self._credentials = Credentials(self.access_key_id, self.secret_access_key)
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(
                connect=CONNECT_TIMEOUT_S, read=READ_TIMEOUT_S, write=WRITE_TIMEOUT_S, pool=None
            ),
            limits=httpx.Limits(max_connections=MAX_CONNECTIONS),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    def _signed(
        self, operation: str, params: Mapping[str, Any], *, streamed: bool
    ) -> tuple[str, str, dict[str, str], bytes]:
        """Method, URL, headers and (unless ``streamed``) body of a signed request."""
        request_dict = self._serializer.serialize_to_request(
            dict(params), self.model.operation_model(operation)
        )
        body = request_dict["body"]
        if operation == "DeleteObjects":
            request_dict["headers"]["Content-MD5"] = _content_md5(body)
        config = _UNSIGNED_PAYLOAD if streamed else _SIGN_PAYLOAD
        prepare_request_dict(request_dict, self.endpoint_url, context={"client_config": config})
        request = create_request_object(request_dict)
        S3SigV4Auth(self._credentials, "s3", self.region).add_auth(request)
        prepared = request.prepare()
        headers = {name: str(value) for name, value in prepared.headers.items()}
        return prepared.method, prepared.url, headers, body if isinstance(body, bytes) else b""

    def presign(self, operation: str, params: Mapping[str, Any], expires_s: int) -> str:
        """A URL that performs ``operation`` without credentials for ``expires_s`` seconds."""
        request_dict = self._serializer.serialize_to_request(
            dict(params), self.model.operation_model(operation)
        )
        prepare_request_dict(request_dict, self.endpoint_url)
        request = create_request_object(request_dict)
        S3SigV4QueryAuth(self._credentials, "s3", self.region, expires=expires_s).add_auth(request)
        url: str = request.prepare().url
        return url

    async def _send(
        self,
        operation: str,
        params: Mapping[str, Any],
        content: httpx.AsyncByteStream | None,
        what: str,
    ) -> httpx.Response:
        method, url, headers, body = self._signed(operation, params, streamed=content is not None)
        request = self._http.build_request(method, url, headers=headers, content=body)
        if content is not None:  # set as the stream itself: httpx wraps iterables in generators
            request.stream = content
        try:
            response = await self._http.send(request, stream=True)
        except TRANSIENT_TRANSPORT_ERRORS as exc:
            raise StorageUnavailable(
                f"{what}: {self.endpoint_url} unreachable or failing ({exc!r})"
            ) from exc
        if response.status_code >= 300:
            try:
                error_body = await response.aread()
            except TRANSIENT_TRANSPORT_ERRORS as exc:
                raise StorageUnavailable(f"{what}: {exc!r}") from exc
            finally:
                await response.aclose()
            raise self._error(operation, response, error_body, what)
        return response

    async def call(
        self,
        operation: str,
        params: Mapping[str, Any],
        *,
        content: httpx.AsyncByteStream | None = None,
        what: str,
    ) -> dict[str, Any]:
        """Perform ``operation`` and return botocore's parse of the answer.

        Args:
            operation: The S3 operation's name, e.g. ``"UploadPart"``.
            params: Its parameters, as boto3 takes them.
            content: A streamed body; ``params`` must then carry ``ContentLength``.
            what: Says what was attempted, for error messages.

        Raises:
            StorageUnavailable: Transport failure, timeout, 5xx or throttling.
            StorageError: Any other refusal, as a subclass where S3's code says which.
        """
        response = await self._send(operation, params, content, what)
        try:
            body = await response.aread()
        except TRANSIENT_TRANSPORT_ERRORS as exc:
            raise StorageUnavailable(f"{what}: {exc!r}") from exc
        finally:
            await response.aclose()
        # CompleteMultipartUpload and UploadPartCopy can fail after a 200 status: the
        # server starts answering before the work is done, and the error is the body.
        # ("<" inside a key or message is escaped, so the tag itself is the error.)
        if b"<Error>" in body[:512]:
            raise self._error(operation, response, body, what)
        return self._parse(operation, response, body)

    def _parse(self, operation: str, response: httpx.Response, body: bytes) -> dict[str, Any]:
        # Operations without output (DeleteObject) have no shape; botocore's parser
        # then returns the metadata alone, though the stubs demand a shape.
        shape = cast("Shape", self.model.operation_model(operation).output_shape)
        parsed: dict[str, Any] = self._parser.parse(
            {"status_code": response.status_code, "headers": response.headers, "body": body}, shape
        )
        return parsed

    async def open(self, operation: str, params: Mapping[str, Any], *, what: str) -> httpx.Response:
        """Perform ``operation`` and return the response with its body unread (for GetObject).

        Resource handling:
            The caller must ``aclose()`` the response.
        """
        return await self._send(operation, params, None, what)

    def _error(
        self, operation: str, response: httpx.Response, body: bytes, what: str
    ) -> StorageError | StorageUnavailable:
        parsed = self._parse(operation, response, body)
        code = parsed.get("Error", {}).get("Code", str(response.status_code))
        message = parsed.get("Error", {}).get("Message", "")
        detail = f"{what}: {code} {message}".rstrip()
        if response.status_code >= 500 or response.status_code == 429 or code in _TRANSIENT_CODES:
            return StorageUnavailable(detail)
        if code in _NOT_FOUND or (code == "404" and operation == "HeadObject"):
            return _NOT_FOUND.get(code, ObjectNotFound)(detail)
        if code == "403":  # HEAD answers carry no body, so no code: only the status
            return AccessDenied(detail)
        return _PERMANENT.get(code, StorageError)(detail)
