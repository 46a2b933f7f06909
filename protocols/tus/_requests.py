"""Request parsing: headers (+ method) in, one typed request out, or a TusError.

Theory of operation
-------------------
Each parser checks, in this order, so the client always hears about the most
fundamental problem first:

1. the method is served here (405, with ``Allow``);
2. ``Tus-Resumable`` is exactly ``1.0.0`` (412, with ``Tus-Version``) - except for
   ``OPTIONS``, whose ``Tus-Resumable`` the server MUST ignore;
3. the body's media type (415);
4. each tus header's syntax (400) and the extension it belongs to being enabled
   in :class:`TusConfig` (400 ``extension_not_supported``);
5. limits that need no stored state (413 against ``max_size``).

Checks that need the stored upload (offset 409, final 403, expiry 410, the
remaining length 413) live in :class:`UploadState`. Nothing here reads a
clock, touches storage or looks at the body.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from ._checksum import Checksum, parse_checksum
from ._concat import Final, Partial, parse_concat
from ._config import Extension, TusConfig
from ._errors import ErrorCode, TusError
from ._headers import (
    OFFSET_OCTET_STREAM,
    TUS_RESUMABLE,
    TUS_VERSION,
    Fields,
    HeaderSource,
    is_token,
    media_type,
    parse_uint,
)
from ._metadata import parse_metadata

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "CreationRequest",
    "DeleteRequest",
    "HeadRequest",
    "OptionsRequest",
    "PatchRequest",
    "Resource",
    "TusRequest",
    "allowed_methods",
    "effective_method",
    "parse_creation",
    "parse_delete",
    "parse_head",
    "parse_options",
    "parse_patch",
    "parse_request",
]

#: Which tus URL a request hit: the creation URL (``.../tus``) or an upload URL
#: (``.../tus/{id}``). They serve different methods.
Resource = Literal["creation", "upload"]


@dataclass(frozen=True, slots=True, kw_only=True)
class OptionsRequest:
    """``OPTIONS``: the client asks what the server supports."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HeadRequest:
    """``HEAD`` on an upload URL: the client asks for the upload's offset."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteRequest:
    """``DELETE`` on an upload URL (termination extension)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CreationRequest:
    """``POST`` to the creation URL (creation extension and friends).

    Attributes:
        length: ``Upload-Length``; None when deferred or for a final upload
            (whose length is the sum of its partial uploads, see :func:`final_length`).
        defer_length: ``Upload-Defer-Length: 1`` was sent.
        metadata: Decoded ``Upload-Metadata``; ``b""`` for a key without value.
        concat: ``Upload-Concat``, or None for an ordinary upload.
        has_body: The body carries upload data (creation-with-upload): the app
            must read it like a PATCH body, starting at offset 0.
        content_length: ``Content-Length``; None if absent (chunked body).
        checksum: ``Upload-Checksum`` for the body, if sent as a header.
        checksum_trailer: The checksum will follow the body as a trailer; call
            :func:`parse_checksum_trailer` once the body is read.
    """

    length: int | None = None
    defer_length: bool = False
    metadata: Mapping[str, bytes] = field(default_factory=dict)
    concat: Partial | Final | None = None
    has_body: bool = False
    content_length: int | None = None
    checksum: Checksum | None = None
    checksum_trailer: bool = False

    def __post_init__(self) -> None:
        if self.length is not None and self.length < 0:
            raise ValueError("length must be >= 0")
        if self.defer_length and self.length is not None:
            raise ValueError("a deferred length cannot have a length")
        is_final = isinstance(self.concat, Final)
        if not is_final and not self.defer_length and self.length is None:
            raise ValueError("length is required unless deferred or final")
        if is_final and (self.defer_length or self.length is not None or self.has_body):
            raise ValueError("a final upload has no length and no body")
        if (self.checksum is not None or self.checksum_trailer) and not self.has_body:
            raise ValueError("a checksum needs a body")
        if self.checksum is not None and self.checksum_trailer:
            raise ValueError("checksum and checksum_trailer are exclusive")

    def as_patch(self) -> PatchRequest:
        """The body of a creation-with-upload request, as a PATCH at offset 0.

        creation-with-upload: "similar rules as for the PATCH request apply", so
        the app runs it through the same :meth:`UploadState.plan_patch`.

        Raises:
            ValueError: The request has no body (``has_body`` is false).
        """
        if not self.has_body:
            raise ValueError("this creation request carries no upload data")
        return PatchRequest(
            offset=0,
            content_length=self.content_length,
            checksum=self.checksum,
            checksum_trailer=self.checksum_trailer,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class PatchRequest:
    """``PATCH`` on an upload URL: bytes to append at ``offset``.

    Attributes:
        offset: ``Upload-Offset``: where the client believes the upload stands.
        length: ``Upload-Length`` if sent: declares a deferred length (or repeats
            the known one). :meth:`UploadState.plan_patch` decides if that is allowed.
        content_length: ``Content-Length``; None if absent (chunked body).
        checksum: ``Upload-Checksum`` for this body, if sent as a header.
        checksum_trailer: The checksum will follow the body as a trailer.
    """

    offset: int
    length: int | None = None
    content_length: int | None = None
    checksum: Checksum | None = None
    checksum_trailer: bool = False

    def __post_init__(self) -> None:
        if self.offset < 0 or (self.length is not None and self.length < 0):
            raise ValueError("offset and length must be >= 0")
        if self.checksum is not None and self.checksum_trailer:
            raise ValueError("checksum and checksum_trailer are exclusive")


#: Every parsed request kind; ``match`` on it in the app's dispatcher.
TusRequest = OptionsRequest | HeadRequest | CreationRequest | PatchRequest | DeleteRequest


def allowed_methods(config: TusConfig, resource: Resource) -> tuple[str, ...]:
    """Methods served on ``resource`` given the enabled extensions (for ``Allow``)."""
    if resource == "creation":
        return ("OPTIONS", "POST") if config.supports(Extension.CREATION) else ("OPTIONS",)
    methods = ("OPTIONS", "HEAD", "PATCH")
    return (*methods, "DELETE") if config.supports(Extension.TERMINATION) else methods


def effective_method(method: str, headers: HeaderSource) -> str:
    """The request's method, honouring ``X-HTTP-Method-Override``.

    tus 1.0.0: if the header is present, its value MUST be taken as the method
    and the actual method ignored (for clients that cannot send PATCH/DELETE).

    Returns:
        The upper-cased method.

    Raises:
        TusError: 400 ``invalid_header`` if the override is not an HTTP token.
    """
    override = Fields(headers).get("X-HTTP-Method-Override")
    if override is None:
        return method.upper()
    if not is_token(override):
        raise TusError(
            400,
            ErrorCode.INVALID_HEADER,
            f"X-HTTP-Method-Override must be a method name, got {override!r:.40}",
        )
    return override.upper()


def parse_request(
    method: str, headers: HeaderSource, config: TusConfig, *, resource: Resource
) -> TusRequest:
    """Dispatch on the effective method and parse the request.

    Args:
        method: The HTTP method as received.
        headers: The request headers.
        config: The server's tus configuration.
        resource: Which tus URL was hit.

    Raises:
        TusError: 405 ``method_not_allowed`` (with ``Allow``) for a method not
            served on ``resource``; otherwise as the specific parser.
    """
    verb = effective_method(method, headers)
    allowed = allowed_methods(config, resource)
    if verb not in allowed:
        raise _method_not_allowed(verb, allowed)
    if verb == "OPTIONS":
        return parse_options(headers)
    if verb == "POST":
        return parse_creation(headers, config)
    if verb == "HEAD":
        return parse_head(headers)
    if verb == "PATCH":
        return parse_patch(headers, config)
    return parse_delete(headers, config)


def parse_options(headers: HeaderSource) -> OptionsRequest:
    """Parse an ``OPTIONS`` request. Its ``Tus-Resumable`` is ignored, as the spec says."""
    return OptionsRequest()


def parse_head(headers: HeaderSource) -> HeadRequest:
    """Parse a ``HEAD`` request.

    Raises:
        TusError: 412 ``unsupported_version``.
    """
    _require_version(Fields(headers))
    return HeadRequest()


def parse_delete(headers: HeaderSource, config: TusConfig) -> DeleteRequest:
    """Parse a ``DELETE`` request (termination extension).

    Raises:
        TusError: 405 if termination is disabled; 412 ``unsupported_version``.
    """
    if not config.supports(Extension.TERMINATION):
        raise _method_not_allowed("DELETE", allowed_methods(config, "upload"))
    _require_version(Fields(headers))
    return DeleteRequest()


def parse_creation(headers: HeaderSource, config: TusConfig) -> CreationRequest:
    """Parse a ``POST`` that creates an upload.

    Args:
        headers: The request headers.
        config: Enabled extensions and ``max_size``.

    Returns:
        The creation request. For a final upload the app still has to resolve
        the partial uploads (:meth:`Final.upload_ids`, :func:`final_length`).

    Raises:
        TusError: 405 if creation is disabled; 412; 400 for a missing or
            malformed ``Upload-Length``/``Upload-Defer-Length``/``Upload-Metadata``/
            ``Upload-Concat``/``Upload-Checksum`` or a disabled extension; 413 if
            ``Upload-Length`` or ``Content-Length`` exceeds ``max_size``; 415 for a
            non-empty body that is not ``application/offset+octet-stream``.
    """
    if not config.supports(Extension.CREATION):
        raise _method_not_allowed("POST", allowed_methods(config, "creation"))
    fields = Fields(headers)
    _require_version(fields)
    concat_value = fields.get("Upload-Concat")
    concat: Partial | Final | None = None
    if concat_value is not None:
        _require_extension(config, Extension.CONCATENATION, "Upload-Concat")
        concat = parse_concat(concat_value)
    length, defer_length = _creation_length(fields, config, concat)
    metadata_value = fields.get("Upload-Metadata")
    metadata = parse_metadata(metadata_value) if metadata_value is not None else {}
    has_body, content_length = _creation_body(fields, config, concat, length)
    checksum, checksum_trailer = _parse_body_checksum(fields, config)
    if (checksum is not None or checksum_trailer) and not has_body:
        raise TusError(
            400, ErrorCode.INVALID_HEADER, "Upload-Checksum was sent without upload data"
        )
    return CreationRequest(
        length=length,
        defer_length=defer_length,
        metadata=metadata,
        concat=concat,
        has_body=has_body,
        content_length=content_length,
        checksum=checksum,
        checksum_trailer=checksum_trailer,
    )


def _creation_length(
    fields: Fields, config: TusConfig, concat: Partial | Final | None
) -> tuple[int | None, bool]:
    """The upload's length: ``Upload-Length`` or ``Upload-Defer-Length``, or neither
    for a final upload. Returns the length (None if deferred or final) and whether
    it is deferred."""
    length_value = fields.get("Upload-Length")
    defer_value = fields.get("Upload-Defer-Length")
    if isinstance(concat, Final):
        # tus 1.0.0, Concatenation: the Client MUST NOT include Upload-Length in the
        # final upload creation; its length is the sum of the partial uploads.
        if length_value is not None or defer_value is not None:
            raise TusError(
                400,
                ErrorCode.INVALID_HEADER,
                "a final upload takes its length from its partial uploads; "
                "do not send Upload-Length or Upload-Defer-Length",
            )
        return None, False
    if defer_value is not None:
        _require_extension(config, Extension.CREATION_DEFER_LENGTH, "Upload-Defer-Length")
        if defer_value != "1":
            raise TusError(
                400,
                ErrorCode.INVALID_HEADER,
                f"Upload-Defer-Length must be 1, got {defer_value!r:.40}",
            )
        if length_value is not None:
            raise TusError(
                400,
                ErrorCode.INVALID_HEADER,
                "send either Upload-Length or Upload-Defer-Length, not both",
            )
        return None, True
    if length_value is None:
        raise TusError(
            400,
            ErrorCode.MISSING_HEADER,
            "creating an upload needs Upload-Length (or Upload-Defer-Length: 1)",
        )
    length = parse_uint("Upload-Length", length_value)
    _check_max_size(config, length, "Upload-Length")
    return length, False


def _creation_body(
    fields: Fields, config: TusConfig, concat: Partial | Final | None, length: int | None
) -> tuple[bool, int | None]:
    """Whether the request carries upload data (creation-with-upload), and its
    ``Content-Length``; checks its media type and size."""
    content_length = _optional_uint(fields, "Content-Length")
    content_type = fields.get("Content-Type")
    is_offset_stream = content_type is not None and media_type(content_type) == OFFSET_OCTET_STREAM
    if content_length or _is_chunked(fields):
        # creation-with-upload: the Client MUST send Content-Type:
        # application/offset+octet-stream with upload data.
        if not is_offset_stream:
            raise TusError(
                415,
                ErrorCode.UNSUPPORTED_MEDIA_TYPE,
                f"upload data in a creation request must be sent as {OFFSET_OCTET_STREAM}",
            )
        _require_extension(config, Extension.CREATION_WITH_UPLOAD, "upload data in a POST")
        if isinstance(concat, Final):
            raise TusError(400, ErrorCode.INVALID_HEADER, "a final upload cannot carry upload data")
    # An empty body with the tus media type still counts as creation-with-upload
    # (the response then carries Upload-Offset: 0), where that extension is on.
    has_body = (
        is_offset_stream
        and config.supports(Extension.CREATION_WITH_UPLOAD)
        and not isinstance(concat, Final)
    )
    if has_body and content_length is not None:
        if length is not None and content_length > length:
            raise TusError(
                413,
                ErrorCode.UPLOAD_TOO_LARGE,
                f"Content-Length {content_length} exceeds Upload-Length {length}",
            )
        _check_max_size(config, content_length, "Content-Length")
    return has_body, content_length


def parse_patch(headers: HeaderSource, config: TusConfig) -> PatchRequest:
    """Parse a ``PATCH`` that appends bytes to an upload.

    Validate it against the stored upload with :meth:`UploadState.plan_patch`.

    Raises:
        TusError: 412; 415 unless ``Content-Type: application/offset+octet-stream``;
            400 for a missing or malformed ``Upload-Offset``, a malformed
            ``Upload-Length``/``Content-Length``/``Upload-Checksum``, or a disabled
            extension; 413 if ``Upload-Length`` exceeds ``max_size``.
    """
    fields = Fields(headers)
    _require_version(fields)
    content_type = fields.get("Content-Type")
    if content_type is None or media_type(content_type) != OFFSET_OCTET_STREAM:
        # tus 1.0.0, PATCH: otherwise the server SHOULD return 415.
        raise TusError(
            415,
            ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            f"PATCH requests must use Content-Type: {OFFSET_OCTET_STREAM}",
        )
    offset = _optional_uint(fields, "Upload-Offset")
    if offset is None:
        raise TusError(400, ErrorCode.MISSING_HEADER, "PATCH requests need Upload-Offset")
    length = _optional_uint(fields, "Upload-Length")
    if length is not None:
        _check_max_size(config, length, "Upload-Length")
    content_length = _optional_uint(fields, "Content-Length")
    checksum, checksum_trailer = _parse_body_checksum(fields, config)
    return PatchRequest(
        offset=offset,
        length=length,
        content_length=content_length,
        checksum=checksum,
        checksum_trailer=checksum_trailer,
    )


def _require_version(fields: Fields) -> None:
    version = fields.get("Tus-Resumable")
    if version != TUS_RESUMABLE:
        # tus 1.0.0, Tus-Resumable: 412 and MUST include Tus-Version; MUST NOT
        # process the request.
        sent = "no Tus-Resumable header" if version is None else f"Tus-Resumable {version!r:.40}"
        raise TusError(
            412,
            ErrorCode.UNSUPPORTED_VERSION,
            f"this server speaks tus {TUS_VERSION}; the request has {sent}",
            headers=(("Tus-Version", TUS_VERSION),),
        )


def _require_extension(config: TusConfig, extension: Extension, what: str) -> None:
    if not config.supports(extension):
        raise TusError(
            400,
            ErrorCode.EXTENSION_NOT_SUPPORTED,
            f"{what} needs the {extension} extension, which this server does not offer",
        )


def _method_not_allowed(method: str, allowed: tuple[str, ...]) -> TusError:
    return TusError(
        405,
        ErrorCode.METHOD_NOT_ALLOWED,
        f"{method:.20} is not allowed here",
        headers=(("Allow", ", ".join(allowed)),),
    )


def _optional_uint(fields: Fields, name: str) -> int | None:
    value = fields.get(name)
    return None if value is None else parse_uint(name, value)


def _check_max_size(config: TusConfig, size: int, name: str) -> None:
    if config.max_size is not None and size > config.max_size:
        # tus 1.0.0, Creation: a length above the maximum MUST get 413.
        raise TusError(
            413,
            ErrorCode.UPLOAD_TOO_LARGE,
            f"{name} {size} exceeds the maximum upload size of {config.max_size} bytes",
        )


def _is_chunked(fields: Fields) -> bool:
    return any(coding.lower() == "chunked" for coding in fields.get_list("Transfer-Encoding"))


def _parse_body_checksum(fields: Fields, config: TusConfig) -> tuple[Checksum | None, bool]:
    value = fields.get("Upload-Checksum")
    announced = any(name.lower() == "upload-checksum" for name in fields.get_list("Trailer"))
    if announced:
        _require_extension(config, Extension.CHECKSUM_TRAILER, "an Upload-Checksum trailer")
        if value is not None:
            raise TusError(
                400,
                ErrorCode.INVALID_HEADER,
                "Upload-Checksum was sent both as a header and as a trailer",
            )
        return None, True
    return (None if value is None else parse_checksum(value, config)), False
