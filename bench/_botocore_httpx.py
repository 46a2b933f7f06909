"""The "botocore + httpx" S3 client measured by bench/s3_clients.py.

botocore does what must match S3 exactly: it serialises an operation's
parameters from the service model (the JSON model boto3 uses), signs with SigV4
(``S3SigV4Auth``) and parses the XML answers. Only the transport is different:
an ``httpx.AsyncClient``, natively under Trio, with keep-alive connections and
request bodies streamed from a file range read in 1 MiB slices in a worker
thread. botocore's handler chain (retries, flexible checksums, endpoint rules)
is not involved: requests are path-style, bodies travel as ``UNSIGNED-PAYLOAD``
as with the other clients, small XML bodies are signed in full.

This was trioflix's S3 transport until the benchmark showed boto3 in worker
threads cheaper in CPU both ways; it stays here so the comparison can be rerun.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import httpx
import trio
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import create_request_object, prepare_request_dict
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Self

    from botocore.model import ServiceModel, Shape

__all__ = ["FileRangeStream", "S3Requests", "load_s3_model"]

CHUNK_BYTES = 1024 * 1024  # per read from disk while sending: one thread hop per MiB
MAX_CONNECTIONS = 64
_SIGN_PAYLOAD = Config(s3={"payload_signing_enabled": True})
_UNSIGNED_PAYLOAD = Config(s3={"payload_signing_enabled": False})


@functools.cache
def load_s3_model() -> ServiceModel:
    """botocore's S3 service model (read once). Reads packaged JSON: call it from a thread."""
    from botocore.session import Session

    return Session().get_service_model("s3")


class FileRangeStream(httpx.AsyncByteStream):
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
        size = min(CHUNK_BYTES, self._end - self._position)
        if size == 0:
            raise StopAsyncIteration
        chunk: bytes = await trio.to_thread.run_sync(
            os.pread, self._fd, size, self._position, limiter=self._limiter
        )
        if not chunk:
            raise RuntimeError(f"the file ended {self._end - self._position} bytes early")
        self._position += len(chunk)
        return chunk


@dataclass
class S3Requests:
    """Signed S3 calls to one endpoint with one identity."""

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
            timeout=httpx.Timeout(60.0, pool=None),
            limits=httpx.Limits(max_connections=MAX_CONNECTIONS),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def open(
        self,
        operation: str,
        params: Mapping[str, Any],
        *,
        content: httpx.AsyncByteStream | None = None,
    ) -> httpx.Response:
        """Send ``operation``; the response with its body unread (the caller closes it)."""
        request_dict = self._serializer.serialize_to_request(
            dict(params), self.model.operation_model(operation)
        )
        config = _UNSIGNED_PAYLOAD if content is not None else _SIGN_PAYLOAD
        prepare_request_dict(request_dict, self.endpoint_url, context={"client_config": config})
        signed = create_request_object(request_dict)
        S3SigV4Auth(self._credentials, "s3", self.region).add_auth(signed)
        prepared = signed.prepare()
        body = request_dict["body"] if isinstance(request_dict["body"], bytes) else b""
        request = self._http.build_request(
            prepared.method, prepared.url, headers=dict(prepared.headers.items()), content=body
        )
        if content is not None:  # set as the stream itself: httpx wraps iterables in generators
            request.stream = content
        response = await self._http.send(request, stream=True)
        if response.status_code >= 300:
            text = (await response.aread()).decode(errors="replace")
            await response.aclose()
            raise RuntimeError(f"{operation}: {response.status_code} {text[:300]}")
        return response

    async def call(
        self,
        operation: str,
        params: Mapping[str, Any],
        *,
        content: httpx.AsyncByteStream | None = None,
    ) -> dict[str, Any]:
        """Send ``operation`` and return botocore's parse of the answer."""
        response = await self.open(operation, params, content=content)
        try:
            body = await response.aread()
        finally:
            await response.aclose()
        shape = cast("Shape", self.model.operation_model(operation).output_shape)
        parsed: dict[str, Any] = self._parser.parse(
            {"status_code": response.status_code, "headers": response.headers, "body": body}, shape
        )
        return parsed
