"""``Upload-Metadata`` (creation extension): ``key base64,key2 base64,key3``.

Rules (tus 1.0.0, Creation / Upload-Metadata):

- comma-separated key-value pairs, key and value separated by one space;
- a key is non-empty, unique, without spaces or commas, and SHOULD be ASCII:
  we require visible ASCII (0x21-0x7E), so a key can never smuggle a control
  character into a log line or a response header;
- a value is Base64 and MAY be empty, in which case the space MAY be left
  out. "Absent" and "empty" are the same thing, so both decode to ``b""``,
  and ``b""`` encodes as the bare key.

We decode Base64 strictly (standard alphabet, correct ``=`` padding, no
whitespace, canonical trailing bits) so that decode -> encode gives back the
exact text the client sent, which HEAD must echo. Whitespace around a pair is
tolerated (``a YQ==, b Yg==``): since keys cannot contain spaces, this is
unambiguous.
"""

from __future__ import annotations

import base64
import re
from typing import TYPE_CHECKING

from ._errors import ErrorCode, TusError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["encode_metadata", "parse_metadata"]

_KEY = re.compile(r"[\x21-\x2b\x2d-\x7e]+")  # visible ASCII minus ","
_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
_OWS = " \t"


def decode_base64(value: str) -> bytes | None:
    """Strict standard Base64, or None if ``value`` is not canonical Base64."""
    if not _BASE64.fullmatch(value):
        return None
    # Cannot raise: the regex admits only well-formed, correctly padded input.
    decoded = base64.b64decode(value, validate=True)
    # Reject non-zero padding bits ("QR==" decodes like "QQ=="), so that the
    # text we echo back is exactly what was sent.
    if base64.b64encode(decoded).decode("ascii") != value:
        return None
    return decoded


def parse_metadata(value: str) -> dict[str, bytes]:
    """Parse an ``Upload-Metadata`` header value.

    An empty (or all-whitespace) value yields ``{}``: the spec asks for one or
    more pairs, but some clients send the header empty and no harm follows.

    Args:
        value: The header value.

    Returns:
        Keys to decoded values, in the order sent; a key without a value maps
        to ``b""``.

    Raises:
        TusError: 400 ``invalid_header`` for an empty pair, a bad or duplicate
            key, or a value that is not strict Base64.
    """
    metadata: dict[str, bytes] = {}
    if not value.strip(_OWS):
        return metadata
    for pair in value.split(","):
        key, _, encoded = pair.strip(_OWS).partition(" ")
        if not key:
            raise TusError(
                400, ErrorCode.INVALID_HEADER, "Upload-Metadata contains an empty key-value pair"
            )
        if not _KEY.fullmatch(key):
            raise TusError(
                400,
                ErrorCode.INVALID_HEADER,
                f"Upload-Metadata key {key!r:.80} must be visible ASCII",
            )
        if key in metadata:
            raise TusError(
                400, ErrorCode.INVALID_HEADER, f"Upload-Metadata key {key!r:.80} is repeated"
            )
        decoded = decode_base64(encoded)
        if decoded is None:
            raise TusError(
                400,
                ErrorCode.INVALID_HEADER,
                f"Upload-Metadata value of {key!r:.80} is not valid Base64",
            )
        metadata[key] = decoded
    return metadata


def encode_metadata(metadata: Mapping[str, bytes]) -> str:
    """Serialise metadata for ``Upload-Metadata`` (the inverse of :func:`parse_metadata`).

    Args:
        metadata: Keys to raw values; ``b""`` is written as the bare key.

    Returns:
        The header value; ``""`` for no metadata (omit the header then).

    Raises:
        ValueError: A key that :func:`parse_metadata` would reject.
    """
    pairs: list[str] = []
    for key, raw in metadata.items():
        if not _KEY.fullmatch(key):
            raise ValueError(f"invalid Upload-Metadata key {key!r}")
        pairs.append(f"{key} {base64.b64encode(raw).decode('ascii')}" if raw else key)
    return ",".join(pairs)
