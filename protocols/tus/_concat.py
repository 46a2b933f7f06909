"""``Upload-Concat`` (concatenation extension): ``partial`` or ``final;URL URL ...``.

A final upload lists the partial uploads' URLs, absolute or relative, separated
by spaces (URLs cannot contain spaces, RFC 3986). The server must map them back
to its own upload ids: :func:`upload_id_from_url` does that given the path the
uploads live under, ignoring scheme and host (the server may sit behind a proxy
that rewrites them) and rejecting anything outside that path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from ._errors import ErrorCode, TusError

__all__ = ["Final", "Partial", "format_concat", "parse_concat", "upload_id_from_url"]

_URL = re.compile(r"[\x21-\x7e]+")  # visible ASCII: no spaces, no controls
# RFC 3986 unreserved characters: an id that needs no escaping and cannot be a
# path separator, so the app may safely use it as a file or key name.
_UPLOAD_ID = re.compile(r"[A-Za-z0-9_~-][A-Za-z0-9._~-]*")


@dataclass(frozen=True, slots=True, kw_only=True)
class Partial:
    """``Upload-Concat: partial``: this upload is one piece of a later final upload."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Final:
    """``Upload-Concat: final;...``: this upload is the concatenation of ``urls``, in order.

    Attributes:
        urls: The partial uploads' URLs exactly as the client sent them (non-empty).
    """

    urls: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.urls:
            raise ValueError("a final upload needs at least one partial upload")
        for url in self.urls:
            if not _URL.fullmatch(url):
                raise ValueError(f"invalid partial upload URL {url!r}")

    def upload_ids(self, base_path: str) -> tuple[str, ...]:
        """The partial uploads' ids, via :func:`upload_id_from_url`; 400 if one is foreign."""
        return tuple(upload_id_from_url(url, base_path) for url in self.urls)


def parse_concat(value: str) -> Partial | Final:
    """Parse an ``Upload-Concat`` request header value.

    Raises:
        TusError: 400 ``invalid_header`` unless the value is ``partial`` or
            ``final;`` followed by one or more space-separated URLs.
    """
    if value == "partial":
        return Partial()
    kind, semicolon, rest = value.partition(";")
    urls = tuple(rest.split())
    if kind != "final" or not semicolon or not urls:
        raise TusError(
            400,
            ErrorCode.INVALID_HEADER,
            f"Upload-Concat must be 'partial' or 'final;<url> ...', got {value!r:.80}",
        )
    for url in urls:
        if not _URL.fullmatch(url):
            raise TusError(
                400,
                ErrorCode.INVALID_HEADER,
                f"Upload-Concat URL {url!r:.80} must be visible ASCII",
            )
    return Final(urls=urls)


def format_concat(concat: Partial | Final) -> str:
    """The ``Upload-Concat`` value for HEAD responses (the spec asks for the value as
    received; this is that value with whitespace normalised)."""
    if isinstance(concat, Partial):
        return "partial"
    return "final;" + " ".join(concat.urls)


def upload_id_from_url(url: str, base_path: str) -> str:
    """The upload id in ``url``, an upload URL this server handed out.

    ``url`` may be absolute (``https://host/api/upload/video/tus/ab12``), an
    absolute path (``/api/upload/video/tus/ab12``) or relative to the
    collection (``ab12``). Scheme, host, query and fragment are ignored; the
    path, after resolving ``.``/``..``, must be exactly ``base_path/<id>``.

    Args:
        url: One URL from :attr:`Final.urls`.
        base_path: The path uploads live under, e.g. ``/api/upload/video/tus``.

    Returns:
        The id: one path segment of RFC 3986 unreserved characters, not
        starting with ``.`` (so never ``.``, ``..`` or a hidden file name).

    Raises:
        TusError: 400 ``invalid_concatenation`` if the URL is not an upload URL
            under ``base_path``.
    """
    prefix = base_path.rstrip("/") + "/"
    try:
        path = urlsplit(urljoin(prefix, url)).path
    except ValueError:  # e.g. an unbalanced "[" in the host part
        path = ""
    upload_id = path[len(prefix) :]
    if not path.startswith(prefix) or not _UPLOAD_ID.fullmatch(upload_id):
        raise TusError(
            400,
            ErrorCode.INVALID_CONCATENATION,
            f"{url!r:.80} is not an upload URL of this server",
        )
    return upload_id
