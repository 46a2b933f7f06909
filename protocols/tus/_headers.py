"""Header-level building blocks: names, constants, and strict value parsers.

The parsers here never trust ``int()`` or ``str.isdigit()``: both accept
Unicode digits, ``_`` separators and surrounding whitespace, and ``int()``
raises ``ValueError`` past 4300 digits. A tus integer is ASCII ``[0-9]+``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Protocol

from ._errors import ErrorCode, TusError

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "CORS_ALLOW_HEADERS",
    "CORS_ALLOW_METHODS",
    "CORS_EXPOSE_HEADERS",
    "OFFSET_OCTET_STREAM",
    "TUS_RESUMABLE",
    "TUS_VERSION",
    "HeaderSource",
]

#: The protocol version this package implements, sent as ``Tus-Resumable``.
TUS_RESUMABLE = "1.0.0"
#: ``Tus-Version``: every version we accept, most preferred first. Only 1.0.0.
TUS_VERSION = "1.0.0"
#: The media type of PATCH bodies and of creation-with-upload bodies.
OFFSET_OCTET_STREAM = "application/offset+octet-stream"

#: ``Access-Control-Expose-Headers``: response headers a browser client (tus-js-client,
#: Uppy) must be able to read cross-origin, or it cannot resume.
CORS_EXPOSE_HEADERS: tuple[str, ...] = (
    "Location",
    "Upload-Offset",
    "Upload-Length",
    "Upload-Metadata",
    "Upload-Defer-Length",
    "Upload-Concat",
    "Upload-Expires",
    "Tus-Resumable",
    "Tus-Version",
    "Tus-Extension",
    "Tus-Max-Size",
    "Tus-Checksum-Algorithm",
)
#: ``Access-Control-Allow-Headers``: request headers tus clients send. The app adds
#: its own (``Authorization`` for the Bearer token).
CORS_ALLOW_HEADERS: tuple[str, ...] = (
    "Content-Type",
    "Tus-Resumable",
    "Upload-Length",
    "Upload-Defer-Length",
    "Upload-Metadata",
    "Upload-Offset",
    "Upload-Checksum",
    "Upload-Concat",
    "X-HTTP-Method-Override",
    "X-Requested-With",
)
#: ``Access-Control-Allow-Methods`` for the tus endpoints.
CORS_ALLOW_METHODS: tuple[str, ...] = ("POST", "HEAD", "PATCH", "DELETE", "OPTIONS")

# 64 digits is far past any real size (2**63 has 19) but keeps int() cheap and
# away from its 4300-digit ValueError.
_MAX_INT_DIGITS = 64
_UINT = re.compile(rf"[0-9]{{1,{_MAX_INT_DIGITS}}}")
# RFC 9110 5.6.2 token: what a method name and a media type part may contain.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_OWS = " \t"


class HeaderSource(Protocol):
    """Anything with ``items()`` yielding ``(name, value)`` pairs.

    A ``dict``, Quart/werkzeug ``Headers`` (which yields repeated fields once
    per occurrence, so duplicates are detected) or any ``Mapping[str, str]``.
    Names are matched case-insensitively.
    """

    def items(self) -> Iterable[tuple[str, str]]: ...


class Fields:
    """Case-insensitive view over request headers, with duplicate detection."""

    __slots__ = ("_values",)

    def __init__(self, source: HeaderSource) -> None:
        self._values: dict[str, list[str]] = {}
        for name, value in source.items():
            # RFC 9110 5.5: leading/trailing whitespace is not part of a field value.
            self._values.setdefault(name.lower(), []).append(value.strip(_OWS))

    def get(self, name: str) -> str | None:
        """The single value of ``name``, or None; 400 if it was sent more than once."""
        values = self._values.get(name.lower())
        if values is None:
            return None
        if len(values) > 1:
            raise TusError(400, ErrorCode.INVALID_HEADER, f"{name} was sent more than once")
        return values[0]

    def get_list(self, name: str) -> list[str]:
        """Items of a comma-separated list header, all occurrences joined (RFC 9110 5.3)."""
        items: list[str] = []
        for value in self._values.get(name.lower(), ()):
            items.extend(item.strip(_OWS) for item in value.split(","))
        return [item for item in items if item]


def parse_uint(name: str, value: str) -> int:
    """A non-negative decimal integer, as tus requires of every size and offset header."""
    if not _UINT.fullmatch(value):
        raise TusError(
            400,
            ErrorCode.INVALID_HEADER,
            f"{name} must be a non-negative integer, got {value!r:.80}",
        )
    return int(value)


def is_token(value: str) -> bool:
    return _TOKEN.fullmatch(value) is not None


def media_type(value: str) -> str:
    """``type/subtype`` of a Content-Type value, lower-cased, parameters dropped."""
    return value.partition(";")[0].strip(_OWS).lower()
