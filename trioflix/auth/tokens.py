"""JWT access tokens: HS256 only, with ``sub``, ``iat`` and ``exp`` required."""

from __future__ import annotations

import logging
import secrets
import time
from typing import TYPE_CHECKING

import jwt

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["InvalidToken", "TokenIssuer", "load_or_create_secret"]

logger = logging.getLogger(__name__)

ALGORITHM = "HS256"
LEEWAY_S = 5  # clock skew between hosts sharing a secret


class InvalidToken(Exception):
    """The token is missing, malformed, expired, wrongly signed or names no subject."""


class TokenIssuer:
    def __init__(self, secret: str, ttl_s: int) -> None:
        self._secret = secret
        self._ttl_s = ttl_s

    def issue(self, user_id: int, *, now: float | None = None) -> str:
        issued = int(time.time() if now is None else now)
        claims = {"sub": str(user_id), "iat": issued, "exp": issued + self._ttl_s}
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def verify(self, token: str) -> int:
        """Return the user id in a valid token.

        Raises:
            InvalidToken: for every way a token can be wrong, including ``alg: none``
                and tokens signed with another algorithm or key.
        """
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                options={"require": ["sub", "iat", "exp"]},
                leeway=LEEWAY_S,
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("token has expired") from None
        except jwt.InvalidTokenError as exc:
            raise InvalidToken(f"invalid token: {exc}") from None
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
