"""``Upload-Checksum`` (checksum and checksum-trailer extensions).

Rules (tus 1.0.0, Checksum):

- the value is ``<algorithm> <Base64 digest>``, one space between;
- an algorithm the server does not offer is ``400 Bad Request``;
- a body that does not hash to the digest is ``460 Checksum Mismatch``;
- in both cases the chunk MUST be discarded and the offset not advanced, so
  the app writes a checksummed body to a staging area and commits it only
  after :func:`verify_checksum` passes;
- with checksum-trailer, the header arrives as an HTTP trailer after the body,
  announced up front by ``Trailer: Upload-Checksum``.

We also reject a digest whose decoded size does not fit the algorithm (400):
it could never match, and saying why beats a puzzling 460.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from ._config import CHECKSUM_DIGEST_SIZES, Extension, TusConfig
from ._errors import ErrorCode, TusError
from ._metadata import decode_base64

__all__ = ["Checksum", "parse_checksum", "parse_checksum_trailer", "verify_checksum"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Checksum:
    """An expected checksum of a request body.

    Attributes:
        algorithm: Lower-case name, also valid for ``hashlib.new()``.
        digest: The raw digest bytes the body must hash to.
    """

    algorithm: str
    digest: bytes

    def __post_init__(self) -> None:
        size = CHECKSUM_DIGEST_SIZES.get(self.algorithm)
        if size is None:
            raise ValueError(f"unknown checksum algorithm {self.algorithm!r}")
        if len(self.digest) != size:
            raise ValueError(f"a {self.algorithm} digest has {size} bytes")


def parse_checksum(value: str, config: TusConfig) -> Checksum:
    """Parse an ``Upload-Checksum`` value (header or trailer).

    Args:
        value: The field value, e.g. ``"sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0="``.
        config: Supplies the offered algorithms.

    Raises:
        TusError: 400 ``extension_not_supported`` if the checksum extension is off;
            400 ``unsupported_checksum_algorithm`` for an algorithm not in
            ``config.checksum_algorithms``; 400 ``invalid_header`` for a malformed
            value or a digest of the wrong size.
    """
    if not config.supports(Extension.CHECKSUM):
        raise TusError(
            400, ErrorCode.EXTENSION_NOT_SUPPORTED, "this server does not verify Upload-Checksum"
        )
    algorithm, space, encoded = value.partition(" ")
    if not space or not algorithm:
        raise TusError(
            400,
            ErrorCode.INVALID_HEADER,
            f"Upload-Checksum must be '<algorithm> <base64 digest>', got {value!r:.80}",
        )
    if algorithm not in config.checksum_algorithms:
        offered = ",".join(config.checksum_algorithms)
        raise TusError(
            400,
            ErrorCode.UNSUPPORTED_CHECKSUM_ALGORITHM,
            f"checksum algorithm {algorithm!r:.40} is not supported; use one of: {offered}",
        )
    digest = decode_base64(encoded)
    if digest is None:
        raise TusError(400, ErrorCode.INVALID_HEADER, "Upload-Checksum digest is not valid Base64")
    size = CHECKSUM_DIGEST_SIZES[algorithm]
    if len(digest) != size:
        raise TusError(
            400,
            ErrorCode.INVALID_HEADER,
            f"a {algorithm} digest has {size} bytes, Upload-Checksum has {len(digest)}",
        )
    return Checksum(algorithm=algorithm, digest=digest)


def parse_checksum_trailer(value: str | None, config: TusConfig) -> Checksum:
    """Parse the ``Upload-Checksum`` trailer of a request that announced one.

    Call this once the body and trailers are read, for a request whose parsed
    form has ``checksum_trailer=True``.

    Args:
        value: The trailer's value, or None if the client never sent it.
        config: Supplies the offered algorithms.

    Raises:
        TusError: 400 ``missing_header`` if the announced trailer did not arrive;
            otherwise as :func:`parse_checksum`.
    """
    if not config.supports(Extension.CHECKSUM_TRAILER):
        raise TusError(
            400,
            ErrorCode.EXTENSION_NOT_SUPPORTED,
            "this server does not accept Upload-Checksum as a trailer",
        )
    if value is None:
        raise TusError(
            400,
            ErrorCode.MISSING_HEADER,
            "the Upload-Checksum trailer was announced but not sent",
        )
    return parse_checksum(value.strip(" \t"), config)


def verify_checksum(expected: Checksum, actual_digest: bytes) -> None:
    """Compare the body's digest with the expected one.

    Args:
        expected: From :func:`parse_checksum` (or ``request.checksum``).
        actual_digest: ``hashlib.new(expected.algorithm, body).digest()``.

    Raises:
        TusError: 460 ``checksum_mismatch``; the app must then discard the chunk.
    """
    if not hmac.compare_digest(expected.digest, actual_digest):
        raise TusError(
            460,
            ErrorCode.CHECKSUM_MISMATCH,
            f"the request body does not match its {expected.algorithm} Upload-Checksum",
        )
