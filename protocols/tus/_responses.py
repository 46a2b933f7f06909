"""Response builders: status and headers for each tus answer. The body is the app's.

Every response carries ``Tus-Resumable`` (tus 1.0.0: in every response).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC
from typing import TYPE_CHECKING

from ._concat import Final, format_concat
from ._config import Extension, TusConfig
from ._headers import TUS_RESUMABLE, TUS_VERSION
from ._metadata import encode_metadata

if TYPE_CHECKING:
    from datetime import datetime

    from ._errors import TusError
    from ._state import UploadState

__all__ = [
    "TusResponse",
    "creation_response",
    "error_response",
    "format_http_date",
    "head_response",
    "options_response",
    "patch_response",
    "termination_response",
]

# HTTP-dates are always English (RFC 9110 5.6.7); strftime would follow the locale.
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_LOCATION = re.compile(r"[\x21-\x7e]+")


@dataclass(frozen=True, slots=True, kw_only=True)
class TusResponse:
    """Status and headers to answer with.

    Attributes:
        status: HTTP status code.
        headers: ``(name, value)`` pairs in a stable order; pass
            ``list(response.headers)`` to Quart's ``Response(headers=...)``.
    """

    status: int
    headers: tuple[tuple[str, str], ...]

    def header(self, name: str) -> str | None:
        """The value of ``name`` (case-insensitive), or None."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)


def format_http_date(moment: datetime) -> str:
    """``moment`` as an RFC 9110 IMF-fixdate, e.g. ``Wed, 25 Jun 2014 16:00:00 GMT``.

    Args:
        moment: A timezone-aware datetime; sub-second precision is dropped.

    Raises:
        ValueError: ``moment`` is naive (its zone would be a guess).
    """
    if moment.utcoffset() is None:
        raise ValueError("format_http_date needs a timezone-aware datetime")
    utc = moment.astimezone(UTC)
    return (
        f"{_DAYS[utc.weekday()]}, {utc.day:02d} {_MONTHS[utc.month - 1]} {utc.year:04d} "
        f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d} GMT"
    )


def options_response(config: TusConfig) -> TusResponse:
    """``204`` for ``OPTIONS``: what the server speaks and offers.

    ``Tus-Extension`` lists exactly ``config.extensions`` and is omitted when
    empty (the spec requires that); ``Tus-Max-Size`` appears when there is a
    limit, ``Tus-Checksum-Algorithm`` when the checksum extension is on.
    """
    headers = [("Tus-Resumable", TUS_RESUMABLE), ("Tus-Version", TUS_VERSION)]
    if config.extensions:
        headers.append(("Tus-Extension", ",".join(config.extensions)))
    if config.max_size is not None:
        headers.append(("Tus-Max-Size", str(config.max_size)))
    if config.supports(Extension.CHECKSUM):
        headers.append(("Tus-Checksum-Algorithm", ",".join(config.checksum_algorithms)))
    return TusResponse(status=204, headers=tuple(headers))


def creation_response(
    *, location: str, state: UploadState, with_upload: bool = False
) -> TusResponse:
    """``201 Created`` for a creation ``POST``.

    Args:
        location: The new upload's URL, absolute or relative.
        state: The upload after storing any body bytes.
        with_upload: The request had a body (``request.has_body``): then
            ``Upload-Offset`` MUST be sent (creation-with-upload).

    Raises:
        ValueError: ``location`` is not visible ASCII (spaces, controls, non-ASCII).
    """
    if not _LOCATION.fullmatch(location):
        raise ValueError(f"invalid Location {location!r}")
    headers = [("Tus-Resumable", TUS_RESUMABLE), ("Location", location)]
    if with_upload:
        headers.append(("Upload-Offset", str(state.offset)))
    headers.extend(_expires(state))
    return TusResponse(status=201, headers=tuple(headers))


def head_response(state: UploadState) -> TusResponse:
    """``200`` for ``HEAD``: where the upload stands. Never cacheable.

    A final upload shows ``Upload-Offset`` only once concatenated (tus:
    SHOULD NOT before), and ``Upload-Length`` once it can be computed.
    """
    headers = [("Tus-Resumable", TUS_RESUMABLE), ("Cache-Control", "no-store")]
    if state.finished or not isinstance(state.concat, Final):
        headers.append(("Upload-Offset", str(state.offset)))
    if state.length is not None:
        headers.append(("Upload-Length", str(state.length)))
    elif state.deferred:
        headers.append(("Upload-Defer-Length", "1"))
    if state.metadata:
        headers.append(("Upload-Metadata", encode_metadata(state.metadata)))
    if state.concat is not None:
        headers.append(("Upload-Concat", format_concat(state.concat)))
    headers.extend(_expires(state))
    return TusResponse(status=200, headers=tuple(headers))


def patch_response(state: UploadState) -> TusResponse:
    """``204`` for a successful ``PATCH``, with the new ``Upload-Offset``.

    Args:
        state: The upload after storing the body (``plan.state.advanced(n)``).
    """
    headers = [("Tus-Resumable", TUS_RESUMABLE), ("Upload-Offset", str(state.offset))]
    headers.extend(_expires(state))
    return TusResponse(status=204, headers=tuple(headers))


def termination_response() -> TusResponse:
    """``204`` for a successful ``DELETE`` (termination)."""
    return TusResponse(status=204, headers=(("Tus-Resumable", TUS_RESUMABLE),))


def error_response(error: TusError) -> TusResponse:
    """Status and headers for a :class:`TusError`; the app adds its JSON body."""
    return TusResponse(
        status=error.status, headers=(("Tus-Resumable", TUS_RESUMABLE), *error.headers)
    )


def _expires(state: UploadState) -> list[tuple[str, str]]:
    # Expiration: MUST be in every PATCH response (and the creation response) if
    # the upload is going to expire; a finished upload no longer is.
    if state.expires_at is None or state.finished:
        return []
    return [("Upload-Expires", format_http_date(state.expires_at))]
