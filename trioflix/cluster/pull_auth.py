"""Internal pull tokens: an edge proves to the origin that it is a host of the same site.

An edge pulling a channel from its origin sends a token
``<channel, base64url>.<expiry, integer seconds since 1970>.<HMAC-SHA256, base64url>``,
signed with a key derived from the shared ``JWT_SECRET`` (``trioflix.cluster.keys``):
only hosts of the site can make one, it is good for one channel, and for at most
:data:`PULL_TOKEN_TTL_S` (a token leaked in a log is soon worthless). The origin
checks the signature first, in constant time, so that every other reason it gives
(another channel, expired) is about a token a host of the site really made.

Time is an input: callers pass ``now`` (seconds since 1970), and hosts' clocks may
differ by up to ``trioflix.auth.tokens.LEEWAY_S``, the leeway login tokens allow.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import re

from trioflix.auth.tokens import LEEWAY_S
from trioflix.cluster.errors import ClusterError
from trioflix.cluster.keys import derive_key

__all__ = ["PULL_TOKEN_TTL_S", "PullTokenRejected", "PullTokens", "Rejection"]

PULL_TOKEN_TTL_S = 30  # an edge makes one per pull it opens: it is used within a second
_LABEL = b"trioflix-cluster-pull"
_TOKEN = re.compile(r"([A-Za-z0-9_-]+)\.([0-9]{1,15})\.([A-Za-z0-9_-]{43})")  # 43: SHA-256


class Rejection(enum.Enum):
    """Why a pull token is refused."""

    MALFORMED = "malformed"
    BAD_SIGNATURE = "bad signature"
    WRONG_CHANNEL = "wrong channel"
    EXPIRED = "expired"
    TOO_LONG = "lives too long"


class PullTokenRejected(ClusterError):
    """A pull token is refused; ``reason`` says why, the message says it in words.

    Attributes:
        reason: Why.
    """

    def __init__(self, reason: Rejection, message: str) -> None:
        super().__init__(f"pull token refused ({reason.value}): {message}")
        self.reason = reason


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class PullTokens:
    """Makes and checks pull tokens with the site's shared secret.

    Args:
        secret: The site's ``JWT_SECRET``.
        label: What the tokens are for (pulls by default): a token made under
            one label fails the signature check under any other, so a pull token
            cannot be replayed to do something else with the same channel.
    """

    def __init__(self, secret: str, label: bytes = _LABEL) -> None:
        self._key = derive_key(secret, label)

    def _sign(self, payload: str) -> str:
        return _b64(hmac.digest(self._key, payload.encode("ascii"), hashlib.sha256))

    def issue(self, channel: str, now: float) -> str:
        """A token for pulling ``channel``, good for :data:`PULL_TOKEN_TTL_S` from ``now``."""
        payload = f"{_b64(channel.encode())}.{int(now) + PULL_TOKEN_TTL_S}"
        return f"{payload}.{self._sign(payload)}"

    def verify(self, token: str, channel: str, now: float) -> None:
        """Accept a token for pulling ``channel`` at ``now``, or say why not.

        Raises:
            PullTokenRejected: the token does not parse, was not signed with this
                site's secret (or was altered), is for another channel, has expired,
                or claims a longer life than any host gives a token.
        """
        parts = _TOKEN.fullmatch(token)
        try:
            if parts is None:
                raise ValueError(token)
            channel_b64, expiry_text, signature = parts.groups()
            token_channel = _unb64(channel_b64).decode()
        except ValueError:  # UnicodeDecodeError and binascii.Error are ValueErrors
            raise PullTokenRejected(
                Rejection.MALFORMED, "expected <channel>.<expiry>.<signature>"
            ) from None
        expires = int(expiry_text)
        if not hmac.compare_digest(self._sign(f"{channel_b64}.{expiry_text}"), signature):
            raise PullTokenRejected(
                Rejection.BAD_SIGNATURE,
                "not signed with this site's secret, or altered (do all hosts share JWT_SECRET?)",
            )
        if token_channel != channel:
            raise PullTokenRejected(
                Rejection.WRONG_CHANNEL, f"made for channel {token_channel!r}, not {channel!r}"
            )
        if now > expires + LEEWAY_S:
            raise PullTokenRejected(Rejection.EXPIRED, f"expired {now - expires:.0f} s ago")
        if expires - now > PULL_TOKEN_TTL_S + LEEWAY_S:
            raise PullTokenRejected(
                Rejection.TOO_LONG,
                f"expires in {expires - now:.0f} s, more than the {PULL_TOKEN_TTL_S} s a"
                " host gives a token (is this host's clock behind?)",
            )
