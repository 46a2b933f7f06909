"""S3 answers sorted into transient and permanent errors, as botocore reports them.

The outage tests reach the transport failures with a real server; 5xx and
throttling answers cannot be provoked from SeaweedFS on demand, so the mapping
is checked here on the error botocore raises for such an answer.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError

from trioflix.storage import (
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
from trioflix.storage._s3 import _translate


def _answer(code: str, status: int) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": "m"},
            "ResponseMetadata": {
                "RequestId": "r",
                "HostId": "",
                "HTTPStatusCode": status,
                "HTTPHeaders": {},
                "RetryAttempts": 0,
            },
        },
        "PutObject",
    )


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("InternalError", 500, StorageUnavailable),
        ("ServiceUnavailable", 503, StorageUnavailable),
        ("SlowDown", 503, StorageUnavailable),
        ("BadGateway", 502, StorageUnavailable),  # a proxy in front: any 5xx is transient
        ("TooManyRequests", 429, StorageUnavailable),
        ("RequestTimeout", 400, StorageUnavailable),
        ("NoSuchKey", 404, ObjectNotFound),
        ("404", 404, ObjectNotFound),
        ("NoSuchUpload", 404, UploadNotFound),
        ("NoSuchBucket", 404, BucketNotFound),
        ("SignatureDoesNotMatch", 403, AccessDenied),
        ("InvalidAccessKeyId", 403, AccessDenied),
        ("403", 403, AccessDenied),
        ("EntityTooSmall", 400, InvalidPart),
        ("InvalidRange", 416, InvalidRange),
        ("MalformedXML", 400, StorageError),
    ],
)
def test_answers(code: str, status: int, expected: type[StorageFailure]) -> None:
    error = _translate(_answer(code, status), "storing 'k'")
    assert type(error) is expected
    assert str(error).startswith(f"storing 'k': {code}")


@pytest.mark.parametrize(
    "exc",
    [
        EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
        ConnectionClosedError(endpoint_url="http://127.0.0.1:1"),
    ],
)
def test_transport_failures_are_transient(exc: Exception) -> None:
    assert isinstance(_translate(exc, "storing 'k'"), StorageUnavailable)
