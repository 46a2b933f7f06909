"""Wallets: ``/api/wallet``: balances, ledger, top-ups, creator earnings, the payment webhook."""

from __future__ import annotations

import time
from typing import Annotated, Any

import msgspec
from quart import Blueprint, g, request

from trioflix.api._http import Body, json_body, parse_id, require_user
from trioflix.chat import wallet
from trioflix.chat.payments import SIGNATURE_HEADER, DevProvider, verify_webhook
from trioflix.chat.protocol import ChatError
from trioflix.chat.superchat import CURRENCIES
from trioflix.errors import APIError
from trioflix.state import state
from trioflix.store import Conflict

__all__ = ["blueprint"]

blueprint = Blueprint("wallet", __name__, url_prefix="/api/wallet")

MAX_TOPUP = 100_000_00  # 100,000.00 in minor units per top-up
MAX_PAGE = 100

Currency = Annotated[str, msgspec.Meta(pattern="^[A-Z]{3}$")]
Amount = Annotated[int, msgspec.Meta(ge=1, le=MAX_TOPUP)]


class TopupBody(Body):
    amount: Amount
    currency: Currency


class WebhookTopup(msgspec.Struct):
    reference: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    user_id: Annotated[int, msgspec.Meta(ge=1)]
    amount: Amount
    currency: Currency


class WebhookEvent(msgspec.Struct):
    """A provider's event; unknown fields are allowed (providers add them freely)."""

    id: str
    type: str
    data: msgspec.Raw


def _check_currency(currency: str) -> None:
    if currency not in CURRENCIES:
        raise APIError(
            422, "unsupported_currency", f"currency must be one of {', '.join(sorted(CURRENCIES))}"
        )


@blueprint.get("")
@require_user
async def balances() -> dict[str, Any]:
    return {"balances": await wallet.balances(state().db, g.user.id)}


@blueprint.get("/ledger")
@require_user
async def ledger() -> dict[str, Any]:
    limit_text = request.args.get("limit", "50")
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_PAGE:
        raise APIError(422, "invalid_query", f"limit must be 1-{MAX_PAGE}")
    before_text = request.args.get("before")
    before = None if before_text is None else parse_id(before_text, "page")
    entries = await wallet.ledger(state().db, g.user.id, limit=int(limit_text), before=before)
    return {"entries": [entry.public() for entry in entries]}


@blueprint.post("/topups")
@require_user
async def topup() -> tuple[dict[str, Any], int]:
    """Start a top-up with the configured provider (the development one credits at once)."""
    body = await json_body(TopupBody)
    _check_currency(body.currency)
    app_state = state()
    if not app_state.settings.dev_payments:
        raise APIError(
            503, "payments_unavailable", "no payment provider takes top-ups on this server"
        )
    result = await DevProvider().start_topup(g.user.id, body.amount, body.currency)
    async with app_state.db.transaction() as tx:
        await wallet.credit(tx, g.user.id, body.currency, body.amount, "topup", result.reference)
    return {
        "topup": {"reference": result.reference, "status": result.status},
        "balances": await wallet.balances(app_state.db, g.user.id),
    }, 201


@blueprint.post("/webhook")
async def webhook() -> dict[str, Any]:
    """A provider reports a payment. Signed (see trioflix.chat.payments); idempotent."""
    app_state = state()
    secret = app_state.settings.payment_webhook_secret
    if secret is None:
        raise APIError(404, "not_found", "no payment webhook is configured")
    data = await request.get_data(cache=False, as_text=False, parse_form_data=False)
    assert isinstance(data, bytes)
    try:
        verify_webhook(secret, request.headers.get(SIGNATURE_HEADER, ""), data, time.time())
    except ChatError as exc:
        raise APIError(400, exc.code, exc.message) from None
    try:
        event = msgspec.json.decode(data, type=WebhookEvent)
        if event.type != "topup.succeeded":
            return {"status": "ignored"}
        payment = msgspec.json.decode(event.data, type=WebhookTopup)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise APIError(422, "invalid_body", str(exc)) from None
    _check_currency(payment.currency)
    if "\x00" in payment.reference:  # PostgreSQL cannot store it: refused, not a 500
        raise APIError(422, "invalid_body", "the reference may not contain NUL (U+0000)")
    reference = f"webhook:{payment.reference}"
    try:
        async with app_state.db.transaction() as tx:
            entry = await wallet.credit(
                tx, payment.user_id, payment.currency, payment.amount, "topup", reference
            )
    except Conflict:
        entry = None  # a concurrent delivery of the same event won; or no such user
        if not await app_state.db.fetchval(
            "SELECT id FROM wallet_ledger WHERE reference = $1", reference
        ):
            raise APIError(422, "no_such_user", "the payment names no existing user") from None
    return {"status": "credited" if entry is not None else "duplicate"}


@blueprint.get("/earnings")
@require_user
async def earnings() -> dict[str, Any]:
    """What the user's channel has received in SuperChats, per currency."""
    return {"earnings": await wallet.earnings(state().db, g.user.id)}
