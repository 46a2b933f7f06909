"""Upload-Checksum as a header and as a trailer, and verification (460)."""

from __future__ import annotations

import base64
import hashlib

import pytest

from protocols import tus

from .helpers import ALL, DEFAULT, SHA1_HELLO, Err


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            f"{name} {b64(hashlib.new(name, b'hello world').digest())}",
            tus.Checksum(algorithm=name, digest=hashlib.new(name, b"hello world").digest()),
        )
        for name in ("sha1", "sha256", "md5")
    ]
    + [
        ("sha1", Err(400, tus.ErrorCode.INVALID_HEADER, "'<algorithm> <base64 digest>'")),
        (f" {SHA1_HELLO}", Err(400, tus.ErrorCode.INVALID_HEADER, "<algorithm>")),
        (f"SHA1 {SHA1_HELLO}", Err(400, tus.ErrorCode.UNSUPPORTED_CHECKSUM_ALGORITHM, "'SHA1'")),
        ("crc32 AAAAAA==", Err(400, tus.ErrorCode.UNSUPPORTED_CHECKSUM_ALGORITHM)),
        ("sha1 not-base64", Err(400, tus.ErrorCode.INVALID_HEADER, "not valid Base64")),
        (f"sha1  {SHA1_HELLO}", Err(400, tus.ErrorCode.INVALID_HEADER, "not valid Base64")),
        ("sha1 AAAA", Err(400, tus.ErrorCode.INVALID_HEADER, "sha1 digest has 20 bytes")),
        (f"md5 {SHA1_HELLO}", Err(400, tus.ErrorCode.INVALID_HEADER, "has 16 bytes, Upload")),
    ],
)
def test_parse_checksum(value: str, expected: tus.Checksum | Err) -> None:
    if isinstance(expected, Err):
        with pytest.raises(tus.TusError) as info:
            tus.parse_checksum(value, ALL)
        assert (info.value.status, info.value.code) == (expected.status, expected.code)
        assert expected.fragment in info.value.message
    else:
        assert tus.parse_checksum(value, ALL) == expected


def test_parse_checksum_trailer() -> None:
    expected = tus.parse_checksum(f"sha1 {SHA1_HELLO}", ALL)
    assert tus.parse_checksum_trailer(f" sha1 {SHA1_HELLO} ", ALL) == expected
    with pytest.raises(tus.TusError) as info:
        tus.parse_checksum_trailer(None, ALL)
    assert (info.value.status, info.value.code) == (400, tus.ErrorCode.MISSING_HEADER)
    with pytest.raises(tus.TusError) as info:
        tus.parse_checksum_trailer(f"sha1 {SHA1_HELLO}", DEFAULT)
    assert (info.value.status, info.value.code) == (400, tus.ErrorCode.EXTENSION_NOT_SUPPORTED)
    with pytest.raises(tus.TusError) as info:
        tus.parse_checksum_trailer("sha9 x", ALL)
    assert info.value.code == tus.ErrorCode.UNSUPPORTED_CHECKSUM_ALGORITHM


def test_verify_checksum() -> None:
    checksum = tus.parse_checksum(f"sha1 {SHA1_HELLO}", ALL)
    tus.verify_checksum(checksum, hashlib.sha1(b"hello world").digest())
    with pytest.raises(tus.TusError) as info:
        tus.verify_checksum(checksum, hashlib.sha1(b"hello world!").digest())
    assert (info.value.status, info.value.code) == (460, tus.ErrorCode.CHECKSUM_MISMATCH)
    assert info.value.message == "the request body does not match its sha1 Upload-Checksum"


@pytest.mark.parametrize(
    ("algorithm", "digest", "message"),
    [("crc32", b"1234", "unknown checksum algorithm"), ("sha1", b"short", "20 bytes")],
)
def test_checksum_invariants(algorithm: str, digest: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tus.Checksum(algorithm=algorithm, digest=digest)
