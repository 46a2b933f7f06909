"""JWT access tokens: HS256 only, with ``sub``, ``iat`` and ``exp`` required.

Signing keys rotate without logging anyone out: tokens are signed with the
current secret and name it in their ``kid`` header; the previous secrets still
verify the tokens they signed until those expire. A ``kid`` is a digest of its
secret (``HMAC-SHA256(secret, label)``, cut short), so it names the key without
revealing it. Tokens from before ``kid`` existed are tried against every key.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import secrets
import time
from typing import TYPE_CHECKING, Any

from trioflix.slim_imports import hidden

with hidden("cryptography"):  # PyJWT's asymmetric algorithms: HS256 needs only hmac
    import jwt

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["InvalidToken", "TokenIssuer", "key_id", "load_or_create_secret"]

logger = logging.getLogger(__name__)

ALGORITHM = "HS256"
LEEWAY_S = 5  # clock skew between hosts sharing a secret
KID_LABEL = b"trioflix-jwt-kid"
KID_HEX_CHARS = 16  # 64 bits: tells a handful of keys apart, says nothing of them


class InvalidToken(Exception):
    """The token is missing, malformed, expired, wrongly signed or names no subject."""


def key_id(secret: str) -> str:
    """The ``kid`` of the tokens ``secret`` signs."""
    return hmac.digest(secret.encode(), KID_LABEL, hashlib.sha256).hex()[:KID_HEX_CHARS]


class TokenIssuer:
    """Issues tokens signed with ``secret`` and verifies those of ``secret`` and ``previous``.

    Args:
        secret: The current key (``JWT_SECRET``): every new token is signed with it.
        ttl_s: Lifetime of a new token in seconds.
        previous: Keys rotated out (``TRIOFLIX_JWT_PREVIOUS_SECRETS``): their tokens
            are still accepted, and no new one is signed with them.
    """

    def __init__(self, secret: str, ttl_s: int, previous: tuple[str, ...] = ()) -> None:
        self._secret = secret
        self._kid = key_id(secret)
        self._ttl_s = ttl_s
        # The current key first: a token without ``kid`` is most likely its.
        self._keys = {key_id(key): key for key in (secret, *previous)}

    def issue(self, user_id: int, *, now: float | None = None) -> str:
        issued = int(time.time() if now is None else now)
        claims = {"sub": str(user_id), "iat": issued, "exp": issued + self._ttl_s}
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM, headers={"kid": self._kid})

    def _candidates(self, token: str) -> list[str]:
        """The keys that may have signed ``token``: the one its ``kid`` names, or all."""
        kid = jwt.get_unverified_header(token).get("kid")
        if kid is None:
            return list(self._keys.values())
        key = self._keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise InvalidToken("invalid token: signed with a key this server does not accept")
        return [key]

    def verify(self, token: str) -> int:
        """Return the user id in a valid token.

        Raises:
            InvalidToken: for every way a token can be wrong, including ``alg: none``,
                tokens signed with another algorithm or key, and a ``kid`` of no key
                this server accepts.
        """

        def decode(key: str) -> dict[str, Any]:
            return jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                options={"require": ["sub", "iat", "exp"]},
                leeway=LEEWAY_S,
            )

        try:
            *others, last = self._candidates(token)
            for key in others:
                with contextlib.suppress(jwt.InvalidSignatureError):
                    return _subject(decode(key))
            claims = decode(last)
        except jwt.ExpiredSignatureError:
            raise InvalidToken("token has expired") from None
        except jwt.InvalidTokenError as exc:
            raise InvalidToken(f"invalid token: {exc}") from None
        return _subject(claims)


def _subject(claims: dict[str, Any]) -> int:
    """The user id of verified ``claims``."""
    sub = claims["sub"]
    if not isinstance(sub, str) or not sub.isdigit() or len(sub) > 18:
        raise InvalidToken("invalid token: bad subject")
    return int(sub)


def load_or_create_secret(data_dir: Path) -> str:
    """The secret kept in ``data_dir/jwt-secret``, created on first use (blocking; call at start).

    Generated secrets survive restarts so tokens stay valid; several hosts must
    share ``JWT_SECRET`` instead.
    """
    path = data_dir / "jwt-secret"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    path.touch(mode=0o600)
    path.write_text(secret + "\n")
    logger.warning(
        "JWT_SECRET is not set: generated one and kept it in %s. Set JWT_SECRET when running "
        "more than one host.",
        path,
    )
    return secret
