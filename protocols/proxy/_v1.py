"""PROXY protocol version 1 (HAProxy's "The PROXY protocol", section 2.1).

Rules:

- The line is ``PROXY`` SP family [SP source SP destination SP source-port SP
  destination-port] CRLF, at most 107 bytes with the CRLF.
- family is ``TCP4``, ``TCP6`` or ``UNKNOWN``; for ``UNKNOWN`` the rest of the line
  is ignored and the receiver uses the connection's own addresses.
- Addresses are in their family's textual form; ports are 0-65535, in decimal.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

__all__ = ["V1_MAX_BYTES", "V1_SIGNATURE", "ProxyHeader", "ProxyProtocolError", "parse_v1"]

V1_SIGNATURE = b"PROXY "
V1_MAX_BYTES = 107  # section 2.1: the longest line, "PROXY UNKNOWN" and two IPv6 addresses
_FAMILIES = {b"TCP4": ipaddress.IPv4Address, b"TCP6": ipaddress.IPv6Address}


class ProxyProtocolError(ValueError):
    """The bytes are not a valid PROXY v1 header."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ProxyHeader:
    """A parsed header.

    Attributes:
        length: Bytes the header took, CRLF included; the client's bytes follow.
        source: The client's address; ``None`` for ``UNKNOWN`` (use the peer's).
        source_port: The client's port; ``None`` for ``UNKNOWN``.
    """

    length: int
    source: str | None = None
    source_port: int | None = None


def _port(text: bytes) -> int:
    # Section 2.1: decimal, no leading zeros (a lone 0 aside), 0-65535.
    if not text.isdigit() or len(text) > 5 or (text[:1] == b"0" and text != b"0"):
        raise ProxyProtocolError(f"invalid port {text!r}")
    port = int(text)
    if port > 65535:
        raise ProxyProtocolError(f"port {port} out of range")
    return port


def parse_v1(data: bytes) -> ProxyHeader | None:
    """The header at the start of ``data``; ``None`` while it may still arrive whole.

    Raises:
        ProxyProtocolError: ``data`` does not start with a valid header.
    """
    if not data.startswith(V1_SIGNATURE[: len(data)]):
        raise ProxyProtocolError("no PROXY signature")
    end = data.find(b"\r\n", 0, V1_MAX_BYTES)
    if end < 0:
        if len(data) >= V1_MAX_BYTES:
            raise ProxyProtocolError(f"no CRLF in the first {V1_MAX_BYTES} bytes")
        return None
    fields = data[len(V1_SIGNATURE) : end].split(b" ")
    if fields[0] == b"UNKNOWN":
        return ProxyHeader(length=end + 2)
    family = _FAMILIES.get(fields[0])
    if family is None:
        raise ProxyProtocolError(f"unknown family {fields[0]!r}")
    if len(fields) != 5:
        raise ProxyProtocolError(f"{len(fields) - 1} fields after the family; 4 expected")
    try:
        source = family(fields[1].decode("ascii"))
        family(fields[2].decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        raise ProxyProtocolError(f"invalid {fields[0].decode()} addresses") from None
    source_port = _port(fields[3])
    _port(fields[4])
    return ProxyHeader(length=end + 2, source=str(source), source_port=source_port)
