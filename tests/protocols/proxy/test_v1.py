"""PROXY v1 headers: what nginx and HAProxy send, and what is refused."""

from __future__ import annotations

import pytest

from protocols.proxy import V1_MAX_BYTES, ProxyHeader, ProxyProtocolError, parse_v1


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"PROXY TCP4 198.51.100.7 10.0.0.1 51234 1935\r\n\x03rtmp",
         ProxyHeader(length=45, source="198.51.100.7", source_port=51234)),
        (b"PROXY TCP6 2001:db8::7 2001:db8::1 0 1935\r\n",
         ProxyHeader(length=43, source="2001:db8::7", source_port=0)),
        (b"PROXY UNKNOWN\r\n", ProxyHeader(length=15)),
        (b"PROXY UNKNOWN ffff:f...f:ffff 1 2\r\n", ProxyHeader(length=35)),
        # Not whole yet: a prefix of the signature, or a line without its CRLF.
        (b"", None),
        (b"PRO", None),
        (b"PROXY TCP4 198.51.100.7", None),
    ],
)  # fmt: skip
def test_valid_and_partial_headers(data: bytes, expected: ProxyHeader | None) -> None:
    assert parse_v1(data) == expected


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"\x03" + b"\x00" * 10, "no PROXY signature"),
        (b"PROXY TCP4 " + b"1" * V1_MAX_BYTES, "no CRLF in the first 107 bytes"),
        (b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", "unknown family b'UDP4'"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "3 fields after the family; 4 expected"),
        (b"PROXY TCP4 2001:db8::7 5.6.7.8 1 2\r\n", "invalid TCP4 addresses"),
        (b"PROXY TCP6 2001:db8::7 \xff 1 2\r\n", "invalid TCP6 addresses"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", "invalid port b'01'"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 x\r\n", "invalid port b'x'"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", "port 65536 out of range"),
    ],
)
def test_invalid_headers(data: bytes, error: str) -> None:
    with pytest.raises(ProxyProtocolError) as caught:
        parse_v1(data)
    assert str(caught.value) == error
