"""Keys derived from the site's shared secret (``JWT_SECRET``).

Each use gets its own key, ``HMAC-SHA256(secret, label)``, so that a value made
with one (a pull token, the fingerprint every host publishes) can never be
replayed as another (a login token), and none of them reveals the secret.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["derive_key", "secret_fingerprint"]

FINGERPRINT_LABEL = b"trioflix-cluster"
FINGERPRINT_HEX_CHARS = 32  # 128 bits: two different secrets never collide in practice


def derive_key(secret: str, label: bytes) -> bytes:
    """The key for one use of the shared secret: ``HMAC-SHA256(secret, label)``."""
    return hmac.digest(secret.encode(), label, hashlib.sha256)


def secret_fingerprint(secret: str) -> str:
    """What a host publishes so others can tell whether it shares their secret.

    Equal secrets give equal fingerprints; the secret cannot be recovered from it.
    """
    return derive_key(secret, FINGERPRINT_LABEL).hex()[:FINGERPRINT_HEX_CHARS]
