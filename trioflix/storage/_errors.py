"""What an object store raises: transient failures apart from permanent ones.

A caller retries :class:`StorageUnavailable` with backoff (the server is down,
restarting, overloaded or slow) and never retries a :class:`StorageError`
(the object is not there, the credentials are refused): that split is the
whole point of the hierarchy, so no exception is both.
"""

from __future__ import annotations

__all__ = [
    "AccessDenied",
    "BucketNotFound",
    "InvalidPart",
    "InvalidRange",
    "ObjectNotFound",
    "StorageConfigError",
    "StorageError",
    "StorageFailure",
    "StorageProbeError",
    "StorageUnavailable",
    "UploadNotFound",
]


class StorageFailure(Exception):
    """Base of everything an object store raises."""


class StorageUnavailable(StorageFailure):
    """Transient: connection refused or reset, a timeout, a 5xx or a throttling answer.

    The same request may succeed later; nothing was acknowledged.
    """


class StorageError(StorageFailure):
    """Permanent: retrying the same request gives the same answer."""


class ObjectNotFound(StorageError):
    """No object under that key."""


class UploadNotFound(StorageError):
    """No multipart upload with that id (completed, aborted or never created)."""


class BucketNotFound(StorageError):
    """The configured bucket does not exist."""


class AccessDenied(StorageError):
    """The credentials are wrong or lack the permission."""


class InvalidPart(StorageError, ValueError):
    """A multipart completion names a missing part, a wrong ETag, bad order or a small part."""


class InvalidRange(StorageError, ValueError):
    """A read starts at or past the end of the object."""


class StorageConfigError(StorageError, ValueError):
    """The storage URL or the AWS variables are unusable."""


class StorageProbeError(StorageError):
    """The start-up probe could not write, read back or delete its object."""
