"""Resumable Uploads for HTTP (draft-ietf-httpbis-resumable-upload-12): requests and answers.

Rules (the draft's, as this server applies them):

- **Creation**: a ``POST`` to the creation URL with ``Upload-Complete``
  (a Boolean; absent or malformed is 400). ``?1``: the content is the whole
  upload; ``?0``: only its start. ``Upload-Length`` (an Integer), if sent,
  is the whole upload's size.
- **Lengths agree** (400 ``inconsistent-upload-length``): with ``?1`` and
  both lengths known, ``offset + Content-Length`` is ``Upload-Length``;
  content never runs past ``Upload-Length``; an ``Upload-Length`` sent
  later never differs from the one known (nor is less than the offset).
- **Offset retrieval**: ``HEAD`` on the upload answers ``Upload-Offset``,
  ``Upload-Complete``, ``Upload-Length`` (if known), ``Upload-Limit`` and
  ``Cache-Control: no-store``, without content.
- **Append**: ``PATCH`` on the upload with ``Content-Type:
  application/partial-upload`` (else 415), ``Upload-Offset`` and
  ``Upload-Complete`` (absent or malformed: 400). An upload that is
  already complete refuses it (409 ``completed-upload``), checked first;
  an offset that is not where the upload stands is 409
  ``mismatching-upload-offset`` with ``expected-offset`` and
  ``provided-offset``.
- **Cancellation**: ``DELETE`` on the upload.
- **Digests** (RFC 9530): ``Content-Digest`` covers this request's content;
  ``Repr-Digest`` the whole upload, whichever request carries it: the app
  checks it once the upload is complete, against all its bytes. A request
  that carries the whole upload (offset 0, ``Upload-Complete: ?1``) with
  both, different, can never match: 400. Only ``sha-256`` is read; other
  algorithms are ignored, as RFC 9530 allows. A malformed field is 400.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, NoReturn, Protocol, TypeVar

from ._errors import (
    COMPLETED_UPLOAD,
    INCONSISTENT_UPLOAD_LENGTH,
    MISMATCHING_UPLOAD_OFFSET,
    ResumableError,
)
from ._fields import (
    FieldError,
    format_boolean,
    format_dictionary,
    parse_boolean,
    parse_byte_sequence_dictionary,
    parse_integer,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

__all__ = [
    "PARTIAL_UPLOAD",
    "SHA256_SIZE",
    "Append",
    "AppendPlan",
    "Cancellation",
    "Creation",
    "HeaderSource",
    "OffsetRetrieval",
    "Progress",
    "Resource",
    "ResumableRequest",
    "limit_header",
    "parse_request",
    "progress_headers",
]

#: The media type of an append's content.
PARTIAL_UPLOAD = "application/partial-upload"
SHA256_SIZE = 32  # bytes of a sha-256 digest


class HeaderSource(Protocol):
    """Anything with ``items()`` yielding ``(name, value)`` pairs, names in any case:
    a ``dict`` or werkzeug's ``Headers`` (repeated fields once per occurrence)."""

    def items(self) -> Iterable[tuple[str, str]]: ...


#: ``creation``: the URL uploads are created at; ``upload``: one upload's URL.
Resource = Literal["creation", "upload"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Creation:
    """A new upload, with its first (or only) bytes.

    Attributes:
        complete: ``Upload-Complete``: the content is the whole upload.
        length: The whole upload's size, if known (``Upload-Length``, or the
            content's length when it is complete).
        content_length: ``Content-Length``; None for a chunked body.
        sha256: The sha-256 the content must hash to (``Content-Digest``), if given.
        repr_sha256: The sha-256 the whole upload must hash to (``Repr-Digest``), if given.
    """

    complete: bool
    length: int | None
    content_length: int | None
    sha256: bytes | None = None
    repr_sha256: bytes | None = None

    def as_append(self) -> Append:
        """The content as an append at offset 0 (the same rules hold for it)."""
        return Append(
            offset=0,
            complete=self.complete,
            length=self.length,
            content_length=self.content_length,
            sha256=self.sha256,
            repr_sha256=self.repr_sha256,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class OffsetRetrieval:
    """``HEAD`` on an upload: where does it stand?"""


@dataclass(frozen=True, slots=True, kw_only=True)
class Append:
    """Bytes for an upload at ``offset``.

    Attributes:
        offset: ``Upload-Offset``: where the client believes the upload stands.
        complete: ``Upload-Complete``: these are the upload's last bytes.
        length: ``Upload-Length`` if sent.
        content_length: ``Content-Length``; None for a chunked body.
        sha256: The sha-256 the content must hash to (``Content-Digest``), if given.
        repr_sha256: The sha-256 the whole upload must hash to (``Repr-Digest``), if given.
    """

    offset: int
    complete: bool
    length: int | None = None
    content_length: int | None = None
    sha256: bytes | None = None
    repr_sha256: bytes | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Cancellation:
    """``DELETE`` on an upload."""


#: Every request kind; the app dispatches on it.
ResumableRequest = Creation | OffsetRetrieval | Append | Cancellation


@dataclass(frozen=True, slots=True, kw_only=True)
class Progress:
    """What the app stores about an upload, as the protocol sees it.

    Attributes:
        offset: Bytes stored.
        length: The whole upload's size, if known.
        complete: All bytes are stored.
    """

    offset: int
    length: int | None
    complete: bool

    def plan_append(self, request: Append, max_size: int | None) -> AppendPlan:
        """Check an append against this upload (the rules of the module docstring).

        Args:
            request: The append (or a creation's content, :meth:`Creation.as_append`).
            max_size: The largest upload the server takes, if limited.

        Returns:
            How many bytes the body may bring, and the length to store if it
            became known.

        Raises:
            ResumableError: 409 ``completed-upload`` or ``mismatching-upload-offset``;
                400 ``inconsistent-upload-length``; 413 past ``max_size``.
        """
        if self.complete:
            raise ResumableError(
                409, "completed_upload", "the upload is already complete", COMPLETED_UPLOAD
            )
        if request.offset != self.offset:
            raise ResumableError(
                409,
                "mismatching_upload_offset",
                f"Upload-Offset is {request.offset} but the upload is at {self.offset}",
                MISMATCHING_UPLOAD_OFFSET,
                **{"expected-offset": self.offset, "provided-offset": request.offset},
            )
        length = self.length
        if request.length is not None:
            if length is not None and request.length != length:
                _inconsistent(f"Upload-Length {request.length} differs from the known {length}")
            if request.length < self.offset:
                _inconsistent(f"Upload-Length {request.length} is less than the offset")
            length = request.length
        if request.complete and request.content_length is not None:
            end = self.offset + request.content_length
            if length is not None and end != length:
                _inconsistent(f"the upload completes at {end} bytes but Upload-Length is {length}")
            length = end
        if length is not None and max_size is not None and length > max_size:
            raise ResumableError(
                413, "upload_too_large", f"the upload is larger than {max_size} bytes"
            )
        if length is not None:
            if request.content_length is not None and request.content_length > length - self.offset:
                _inconsistent(f"the content runs past the upload's {length} bytes")
            limit: int | None = length - self.offset
        elif max_size is not None:
            limit = max(max_size - self.offset, 0)
            if request.content_length is not None and request.content_length > limit:
                raise ResumableError(
                    413, "upload_too_large", f"the upload is larger than {max_size} bytes"
                )
        else:
            limit = None
        return AppendPlan(
            declared_length=length if length != self.length else None,
            limit=limit,
            complete=request.complete,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class AppendPlan:
    """An append that may go ahead.

    Attributes:
        declared_length: The upload's length, to store before the bytes, when
            this request made it known.
        limit: The most bytes the body may bring; None: no limit.
        complete: The upload ends with this body: once it has arrived, the
            upload is complete at the offset reached (its length, if unknown).
    """

    declared_length: int | None
    limit: int | None
    complete: bool


def _inconsistent(detail: str) -> NoReturn:
    raise ResumableError(400, "inconsistent_upload_length", detail, INCONSISTENT_UPLOAD_LENGTH)


def _field(headers: HeaderSource, name: str) -> str | None:
    """The last value of ``name`` (any case); None if absent."""
    found = None
    for key, value in headers.items():
        if key.lower() == name:
            found = value
    return found


_T = TypeVar("_T")


def _required(headers: HeaderSource, name: str, parse: Callable[[str], _T]) -> _T:
    value = _field(headers, name.lower())
    if value is None:
        raise ResumableError(400, "missing_header", f"{name} is required")
    return _parsed(name, value, parse)


def _optional(headers: HeaderSource, name: str, parse: Callable[[str], _T]) -> _T | None:
    value = _field(headers, name.lower())
    return None if value is None else _parsed(name, value, parse)


def _parsed(name: str, value: str, parse: Callable[[str], _T]) -> _T:
    try:
        return parse(value)
    except FieldError as exc:
        raise ResumableError(400, "invalid_header", f"{name}: {exc}") from exc


def _length(value: str) -> int:
    number = parse_integer(value)
    if number < 0:
        raise FieldError(f"{value!r} is negative")
    return number


def _content_length(headers: HeaderSource) -> int | None:
    value = _field(headers, "content-length")
    if value is None:
        return None
    # isdigit() alone takes "²" and other Unicode digits, which int() refuses.
    if not (value.isascii() and value.isdigit()):
        raise ResumableError(400, "invalid_header", "Content-Length is not a number")
    return int(value)


def _sha256(headers: HeaderSource, name: str) -> bytes | None:
    """The ``sha-256`` member of digest field ``name``, if there is one."""
    digest = (_optional(headers, name, parse_byte_sequence_dictionary) or {}).get("sha-256")
    if digest is not None and len(digest) != SHA256_SIZE:
        raise ResumableError(400, "invalid_header", f"{name}: a sha-256 has 32 bytes")
    return digest


def _digests(headers: HeaderSource, *, whole: bool) -> tuple[bytes | None, bytes | None]:
    """``Content-Digest``'s and ``Repr-Digest``'s sha-256. When the content is the
    whole upload they cover the same bytes: different values can never both match."""
    content, representation = _sha256(headers, "Content-Digest"), _sha256(headers, "Repr-Digest")
    if whole and None not in (content, representation) and content != representation:
        raise ResumableError(
            400, "invalid_header", "Content-Digest and Repr-Digest differ for the same bytes"
        )
    return content, representation


def parse_request(method: str, headers: HeaderSource, resource: Resource) -> ResumableRequest:
    """Classify and validate one request's head.

    Args:
        method: The request method.
        headers: The request headers.
        resource: Which URL it was sent to.

    Raises:
        ResumableError: 405 (with ``Allow``'s methods in ``detail``), 415 or 400
            as the module docstring says.
    """
    allowed = ("POST",) if resource == "creation" else ("HEAD", "PATCH", "DELETE")
    if method not in allowed:
        raise ResumableError(
            405, "method_not_allowed", f"{method} is not allowed here; use {', '.join(allowed)}"
        )
    if method == "HEAD":
        return OffsetRetrieval()
    if method == "DELETE":
        return Cancellation()
    complete = _required(headers, "Upload-Complete", parse_boolean)
    length = _optional(headers, "Upload-Length", _length)
    content_length = _content_length(headers)
    if method == "POST":
        sha256, repr_sha256 = _digests(headers, whole=complete)
        creation = Creation(
            complete=complete,
            length=length,
            content_length=content_length,
            sha256=sha256,
            repr_sha256=repr_sha256,
        )
        # The same length rules as an append at offset 0 (checked on a fresh upload).
        Progress(offset=0, length=None, complete=False).plan_append(creation.as_append(), None)
        return creation
    media_type = (_field(headers, "content-type") or "").partition(";")[0].strip().lower()
    if media_type != PARTIAL_UPLOAD:
        raise ResumableError(
            415, "unsupported_media_type", f"an append's Content-Type is {PARTIAL_UPLOAD}"
        )
    offset = _required(headers, "Upload-Offset", _length)
    sha256, repr_sha256 = _digests(headers, whole=complete and offset == 0)
    return Append(
        offset=offset,
        complete=complete,
        length=length,
        content_length=content_length,
        sha256=sha256,
        repr_sha256=repr_sha256,
    )


def limit_header(*, max_size: int | None, expires_s: int | None) -> str | None:
    """``Upload-Limit``: the largest upload, and how long an unfinished one lives (seconds).

    Returns:
        The field value, or None if there is no limit to state.
    """
    members = {}
    if max_size is not None:
        members["max-size"] = max_size
    if expires_s is not None:
        members["expires"] = max(expires_s, 0)
    return format_dictionary(members) if members else None


def progress_headers(progress: Progress) -> Iterable[tuple[str, str]]:
    """``Upload-Offset``, ``Upload-Complete`` and, if known, ``Upload-Length``."""
    yield "Upload-Offset", str(progress.offset)
    yield "Upload-Complete", format_boolean(progress.complete)
    if progress.length is not None:
        yield "Upload-Length", str(progress.length)
