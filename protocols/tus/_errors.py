"""The one exception type of the tus package.

Every rule the client can break surfaces as a :class:`TusError` that already
knows its HTTP status, a stable machine ``code`` for the JSON error body, a
human ``message`` and any header the response must carry (``Tus-Version`` on
412, ``Allow`` on 405). Mistakes by the *calling application* (a naive
datetime, an invalid metadata key passed to an encoder) are ``ValueError``.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ErrorCode", "TusError"]


class ErrorCode(StrEnum):
    """Machine-readable reason carried by :class:`TusError` (``error.code`` in the JSON body)."""

    #: 400: a header is present but not in the form the spec requires.
    INVALID_HEADER = "invalid_header"
    #: 400: a header the request needs is absent.
    MISSING_HEADER = "missing_header"
    #: 400: the request uses an extension this server does not advertise.
    EXTENSION_NOT_SUPPORTED = "extension_not_supported"
    #: 400: ``Upload-Checksum`` names an algorithm the server does not offer (checksum ext.).
    UNSUPPORTED_CHECKSUM_ALGORITHM = "unsupported_checksum_algorithm"
    #: 400: ``Upload-Length`` differs from the length fixed earlier.
    LENGTH_IMMUTABLE = "length_immutable"
    #: 400: a final upload names an upload that cannot be concatenated (yet).
    INVALID_CONCATENATION = "invalid_concatenation"
    #: 403: PATCH against a final (concatenated) upload.
    FINAL_UPLOAD_NOT_PATCHABLE = "final_upload_not_patchable"
    #: 405: method not served on this resource (or its extension is disabled).
    METHOD_NOT_ALLOWED = "method_not_allowed"
    #: 409: ``Upload-Offset`` is not the upload's current offset.
    OFFSET_MISMATCH = "offset_mismatch"
    #: 410: the unfinished upload has expired (expiration ext.).
    UPLOAD_EXPIRED = "upload_expired"
    #: 412: ``Tus-Resumable`` is missing or names a version we do not speak.
    UNSUPPORTED_VERSION = "unsupported_version"
    #: 413: the upload (or this request's body) would exceed a size limit.
    UPLOAD_TOO_LARGE = "upload_too_large"
    #: 415: the body is not ``application/offset+octet-stream``.
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    #: 460: the body does not match ``Upload-Checksum`` (checksum ext.).
    CHECKSUM_MISMATCH = "checksum_mismatch"


class TusError(Exception):
    """A tus request the server must refuse.

    Attributes:
        status: HTTP status code to answer with.
        code: Stable machine-readable reason.
        message: One sentence for humans; safe to send to the client (it may
            quote header values, which were received as ASCII header text).
        headers: Extra response headers the spec requires for this error,
            e.g. ``("Tus-Version", "1.0.0")`` on 412. ``Tus-Resumable`` is not
            included here: :func:`error_response` adds it.
    """

    status: int
    code: ErrorCode
    message: str
    headers: tuple[tuple[str, str], ...]

    def __init__(
        self,
        status: int,
        code: ErrorCode,
        message: str,
        *,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(status, code, message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"
