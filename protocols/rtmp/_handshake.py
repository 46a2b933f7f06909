"""RTMP handshake: C0/C1/C2 and S0/S1/S2, plain and Flash-9 digest forms.

Plain (RTMP spec 5.2): C1/S1 are time(4) + zero(4) + 1528 random bytes, and each
side's C2/S2 echoes the other's C1/S1.

Digest (not in the published spec; what Flash Player >= 9.0.124, librtmp, OBS and
ffmpeg do): the version field of C1 is non-zero and C1 carries a 32-byte
HMAC-SHA256 of the rest of C1, keyed with the first 30 bytes of the Genuine Flash
Player key. Its position depends on the "scheme":

* scheme 0: the digest lives in the second 764-byte block,
  ``offset = (C1[772] + C1[773] + C1[774] + C1[775]) % 728 + 776``;
* scheme 1: the digest lives in the first block,
  ``offset = (C1[8] + C1[9] + C1[10] + C1[11]) % 728 + 12`` (ffmpeg, librtmp).

The server answers with an S1 digested the same way (first 36 bytes of the Flash
Media Server key), and an S2 whose last 32 bytes are
``HMAC(key=HMAC(key=FMS_KEY, msg=C1 digest), msg=S2[:1504])``. The client's C2
mirrors that with the Flash Player key and the S1 digest. A server that does not
find a valid digest falls back to the plain echo, as Flash Media Server does.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

from ._errors import LocalProtocolError

__all__ = [
    "HANDSHAKE_SIZE",
    "RTMP_VERSION",
    "ClientHandshake",
    "server_reply",
]

RTMP_VERSION = 3  # RTMP 5.2.2: C0/S0 carry 3; 6 is RTMPE (encrypted), not supported
HANDSHAKE_SIZE = 1536
_DIGEST_SIZE = 32
_SIGNED_SIZE = HANDSHAKE_SIZE - _DIGEST_SIZE  # 1504

# The 32 bytes shared by both keys; the readable prefixes sign C1/S1.
_KEY_TAIL = bytes.fromhex("f0eec24a8068bee82e00d0d1029e7e576eec5d2d29806fab93b8e636cfeb31ae")
FP_KEY = b"Genuine Adobe Flash Player 001" + _KEY_TAIL  # 62 bytes
FMS_KEY = b"Genuine Adobe Flash Media Server 001" + _KEY_TAIL  # 68 bytes
_FP_KEY_PARTIAL = FP_KEY[:30]
_FMS_KEY_PARTIAL = FMS_KEY[:36]

# Versions written into C1/S1 bytes 4..7; any non-zero value announces the digest form.
CLIENT_VERSION = bytes((9, 0, 124, 2))  # Flash Player 9.0.124.2, as ffmpeg sends
SERVER_VERSION = bytes((4, 5, 0, 1))  # Flash Media Server 4.5.0.1

RandomBytes = Callable[[int], bytes]


def _hmac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def _digest_offset(block: bytes, scheme: int) -> int:
    base = 772 if scheme == 0 else 8
    return sum(block[base : base + 4]) % 728 + base + 4


def _digest_at(block: bytes, offset: int, key: bytes) -> bytes:
    return _hmac(key, block[:offset] + block[offset + _DIGEST_SIZE :])


def _find_digest(block: bytes, key: bytes) -> tuple[int, bytes] | None:
    """Return (scheme, digest) if ``block`` carries a valid digest, else None."""
    for scheme in (1, 0):
        offset = _digest_offset(block, scheme)
        digest = block[offset : offset + _DIGEST_SIZE]
        if hmac.compare_digest(digest, _digest_at(block, offset, key)):
            return scheme, digest
    return None


def _make_digested(prefix: bytes, random_bytes: RandomBytes, scheme: int, key: bytes) -> bytes:
    block = bytearray(prefix + random_bytes(HANDSHAKE_SIZE - len(prefix)))
    offset = _digest_offset(bytes(block), scheme)
    block[offset : offset + _DIGEST_SIZE] = _digest_at(bytes(block), offset, key)
    return bytes(block)


def _signed_tail(block_random: bytes, peer_digest: bytes, full_key: bytes) -> bytes:
    return block_random + _hmac(_hmac(full_key, peer_digest), block_random)


def check_version(c0: int, who: str) -> None:
    if c0 != RTMP_VERSION:
        hint = " (looks like HTTP)" if c0 in b"GPHOD" else ""
        raise LocalProtocolError(f"unsupported RTMP version {c0} in {who}{hint}")


def server_reply(c0c1: bytes, random_bytes: RandomBytes) -> tuple[bytes, bool]:
    """Answer C0+C1 (1537 bytes) with S0+S1+S2. Returns (bytes, used_digest)."""
    check_version(c0c1[0], "C0")
    c1 = c0c1[1:]
    found = _find_digest(c1, _FP_KEY_PARTIAL) if any(c1[4:8]) else None
    if found is None:
        s1 = bytes(8) + random_bytes(HANDSHAKE_SIZE - 8)
        return bytes((RTMP_VERSION,)) + s1 + c1, False
    scheme, client_digest = found
    s1 = _make_digested(bytes(4) + SERVER_VERSION, random_bytes, scheme, _FMS_KEY_PARTIAL)
    s2 = _signed_tail(random_bytes(_SIGNED_SIZE), client_digest, FMS_KEY)
    return bytes((RTMP_VERSION,)) + s1 + s2, True


class ClientHandshake:
    """Client side: produces C0+C1, then checks S0+S1+S2 and produces C2."""

    __slots__ = ("_c1_digest", "_random_bytes", "c0c1")

    def __init__(self, random_bytes: RandomBytes, *, digest: bool) -> None:
        self._random_bytes = random_bytes
        self._c1_digest: bytes | None = None
        if digest:
            c1 = _make_digested(bytes(4) + CLIENT_VERSION, random_bytes, 1, _FP_KEY_PARTIAL)
            self._c1_digest = c1[_digest_offset(c1, 1) :][:_DIGEST_SIZE]
        else:
            c1 = bytes(8) + random_bytes(HANDSHAKE_SIZE - 8)
        self.c0c1 = bytes((RTMP_VERSION,)) + c1

    def reply(self, s0s1s2: bytes) -> tuple[bytes, bool]:
        """Validate S0+S1+S2 (3073 bytes); return (C2, used_digest)."""
        check_version(s0s1s2[0], "S0")
        s1 = s0s1s2[1 : 1 + HANDSHAKE_SIZE]
        s2 = s0s1s2[1 + HANDSHAKE_SIZE :]
        found = None
        if self._c1_digest is not None and any(s1[4:8]):
            found = _find_digest(s1, _FMS_KEY_PARTIAL)
        if found is None:
            return s1, False
        expected = _signed_tail(s2[:_SIGNED_SIZE], self._c1_digest, FMS_KEY)  # type: ignore[arg-type]
        if not hmac.compare_digest(expected, s2):
            raise LocalProtocolError("server handshake S2 does not sign our C1 digest")
        return _signed_tail(self._random_bytes(_SIGNED_SIZE), found[1], FP_KEY), True
