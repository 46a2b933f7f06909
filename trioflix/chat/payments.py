"""Wallet top-ups: the payment-provider interface, the development provider, webhook signatures.

A provider starts a top-up; money arrives either at once (the development
provider, for local use and tests) or later through the signed webhook that a
real provider calls. Webhooks are signed Stripe-style: the header
``Trioflix-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">``,
checked in constant time and refused outside a 5-minute window (replays).
Crediting is idempotent by the provider's payment reference.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Literal, Protocol

from trioflix.chat.protocol import ChatError

__all__ = [
    "SIGNATURE_HEADER",
    "DevProvider",
    "PaymentProvider",
    "Topup",
    "sign_webhook",
    "verify_webhook",
]

SIGNATURE_HEADER = "Trioflix-Signature"
WEBHOOK_TOLERANCE_S = 300  # Stripe's default: long enough for retries, short against replays


@dataclass(frozen=True, slots=True, kw_only=True)
class Topup:
    """A started top-up. ``succeeded`` ones are credited at once; ``pending`` ones by webhook."""

    reference: str
    status: Literal["succeeded", "pending"]
    checkout_url: str | None = None


class PaymentProvider(Protocol):
    name: str

    async def start_topup(self, user_id: int, amount: int, currency: str) -> Topup: ...


class DevProvider:
    """Development provider: every top-up succeeds immediately. Enable only where money is fake."""

    name = "dev"

    async def start_topup(self, user_id: int, amount: int, currency: str) -> Topup:
        return Topup(reference=f"dev_{secrets.token_hex(12)}", status="succeeded")


def sign_webhook(secret: str, body: bytes, timestamp: int) -> str:
    """The signature header value a provider sends with ``body``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_webhook(secret: str, header: str, body: bytes, now: float) -> None:
    """Check a webhook's signature header against ``body``.

    Raises:
        ChatError: ``invalid_signature`` (HTTP 400) when the header is missing,
            malformed, too old or too new, or no ``v1`` signature matches.
    """
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if sep:
            fields.setdefault(name, []).append(value)
    stamps = fields.get("t", [])
    if len(stamps) != 1 or not stamps[0].isdigit() or len(stamps[0]) > 12:
        raise ChatError("invalid_signature", f"{SIGNATURE_HEADER} needs one t=<unix time>")
    timestamp = int(stamps[0])
    if abs(now - timestamp) > WEBHOOK_TOLERANCE_S:
        raise ChatError("invalid_signature", "the signature timestamp is outside the window")
    expected = sign_webhook(secret, body, timestamp).rpartition("v1=")[2]
    if not any(hmac.compare_digest(expected, given) for given in fields.get("v1", [])):
        raise ChatError("invalid_signature", "no v1 signature matches the body")
