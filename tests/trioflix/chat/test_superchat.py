"""SuperChat: paid from an append-only ledger that never goes negative, even under a race."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import trio

from .conftest import WEBHOOK_SECRET
from .helpers import auth, chat, provider_signature, topup

if TYPE_CHECKING:
    from tests.conftest import Server


async def test_concurrent_superchats_never_overspend(server: Server) -> None:
    """100 concurrent SuperChats of 5.00 against a wallet holding 50.00: exactly 10 are paid."""
    await server.register("streamer")
    fan, _ = await server.register("fan")
    await topup(server.client, fan, 5000)
    statuses: list[int] = []

    async def fire(i: int) -> None:
        response = await server.client.post(
            "/api/chat/streamer/superchats",
            json={"amount": 500, "currency": "USD", "text": f"number {i}"},
            headers=auth(fan),
        )
        statuses.append(response.status_code)
        if response.status_code == 402:
            assert response.json()["error"]["code"] == "insufficient_funds"

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            for i in range(100):
                nursery.start_soon(fire, i)
    assert sorted(statuses) == [201] * 10 + [402] * 90
    wallet = (await server.client.get("/api/wallet", headers=auth(fan))).json()
    assert wallet == {"balances": {"USD": 0}}
    ledger = (await server.client.get("/api/wallet/ledger?limit=100", headers=auth(fan))).json()
    amounts = [entry["amount"] for entry in ledger["entries"]]
    assert sorted(amounts) == [-500] * 10 + [5000]
    assert all(entry["balance_after"] >= 0 for entry in ledger["entries"])
    assert sum(amounts) == 0  # the balance is the ledger's sum


async def test_superchat_is_shown_with_its_tier_and_counted_as_earnings(server: Server) -> None:
    streamer, _ = await server.register("streamer")
    fan, _ = await server.register("fan")
    await topup(server.client, fan, 10_000)
    with trio.fail_after(20):
        async with (
            chat(server.url, "streamer") as (watcher, _),
            chat(server.url, "streamer", fan) as (payer, _),
        ):
            answer = await payer.request(
                {"type": "superchat", "amount": 1000, "currency": "USD", "text": "great :gg:"}
            )
            assert answer["type"] == "ack"
            shown = await watcher.until("superchat")
            assert shown["id"] == answer["id"]
            assert shown["amount"] == 1000 and shown["currency"] == "USD"
            assert shown["tier"] == {"colour": "#ffb300", "max_length": 200, "pin_s": 300}
            assert shown["pinned_until"] == shown["ts"] + 300
            assert shown["segments"][1]["code"] == "gg"

            small = await payer.request(
                {"type": "superchat", "amount": 100, "currency": "USD", "text": "words"}
            )
            assert small["type"] == "error" and small["code"] == "message_too_long"
            pinned_none = await payer.request(
                {"type": "superchat", "amount": 200, "currency": "USD", "text": "hi"}
            )
            assert pinned_none["type"] == "ack"
            assert (await watcher.until("superchat"))["pinned_until"] is None
            broke = await payer.request(
                {"type": "superchat", "amount": 100_000, "currency": "USD", "text": ""}
            )
            assert broke["code"] == "insufficient_funds"
            odd = await payer.request(
                {"type": "superchat", "amount": 500, "currency": "XXX", "text": ""}
            )
            assert odd["code"] == "unsupported_currency"
    earned = (await server.client.get("/api/wallet/earnings", headers=auth(streamer))).json()
    assert earned == {"earnings": {"USD": {"total": 1200, "count": 2}}}
    left = (await server.client.get("/api/wallet", headers=auth(fan))).json()
    assert left == {"balances": {"USD": 10_000 - 1200}}


async def test_webhook_credits_once_and_only_when_signed(server: Server) -> None:
    _, fan = await server.register("fan")
    token, _ = await server.register("other")
    body = json.dumps(
        {
            "id": "evt_1",
            "type": "topup.succeeded",
            "data": {"reference": "pay_1", "user_id": fan["id"], "amount": 2500, "currency": "EUR"},
        }
    ).encode()
    now = int(time.time())
    good = {"Trioflix-Signature": provider_signature(WEBHOOK_SECRET, body, now)}
    for headers, status in [
        ({}, 400),
        ({"Trioflix-Signature": provider_signature("wrong-secret" * 4, body, now)}, 400),
        ({"Trioflix-Signature": provider_signature(WEBHOOK_SECRET, body, now - 3600)}, 400),
        ({"Trioflix-Signature": provider_signature(WEBHOOK_SECRET, body + b" ", now)}, 400),
        (good, 200),
        (good, 200),
    ]:
        response = await server.client.post("/api/wallet/webhook", content=body, headers=headers)
        assert response.status_code == status, response.text
        if status == 400:
            assert response.json()["error"]["code"] == "invalid_signature"
    assert response.json() == {"status": "duplicate"}
    login = await server.client.post(
        "/api/auth/login", json={"username": "fan", "password": "correct horse"}
    )
    wallet = await server.client.get("/api/wallet", headers=auth(login.json()["token"]))
    assert wallet.json() == {"balances": {"EUR": 2500}}
    assert (await server.client.get("/api/wallet", headers=auth(token))).json() == {"balances": {}}


async def test_webhook_refuses_a_reference_postgresql_cannot_store(server: Server) -> None:
    _, fan = await server.register("fan")
    body = json.dumps(
        {
            "id": "evt_nul",
            "type": "topup.succeeded",
            "data": {"reference": "pay\x00", "user_id": fan["id"], "amount": 1, "currency": "EUR"},
        }
    ).encode()
    signature = provider_signature(WEBHOOK_SECRET, body, int(time.time()))
    response = await server.client.post(
        "/api/wallet/webhook", content=body, headers={"Trioflix-Signature": signature}
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_body"


async def test_topup_rejects_bad_input(server: Server) -> None:
    fan, _ = await server.register("fan")
    for body, status in [
        ({"amount": 0, "currency": "USD"}, 422),
        ({"amount": 100, "currency": "usd"}, 422),
        ({"amount": 100, "currency": "XYZ"}, 422),
        ({"amount": "100", "currency": "USD"}, 422),
        ({"amount": 100, "currency": "USD", "extra": 1}, 422),
    ]:
        response = await server.client.post("/api/wallet/topups", json=body, headers=auth(fan))
        assert response.status_code == status, (body, response.text)
        assert "error" in response.json()
    anonymous = await server.client.post(
        "/api/wallet/topups", json={"amount": 1, "currency": "USD"}
    )
    assert anonymous.status_code == 401


async def test_superchat_resent_with_its_key_is_paid_once(server: Server) -> None:
    """A resend with the same idempotency key answers with the first SuperChat, even once
    the wallet is empty; a new key pays again; a key is bound to what it paid for."""
    await server.register("streamer")
    fan, _ = await server.register("fan")
    await topup(server.client, fan, 1000)
    frame = {"type": "superchat", "amount": 500, "currency": "USD", "text": "once"}
    with trio.fail_after(20):
        async with chat(server.url, "streamer", fan) as (payer, _):
            first = await payer.request({**frame, "idempotency_key": "key-1"})
            assert first["type"] == "ack", first
            again = await payer.request({**frame, "idempotency_key": "key-1"})
            assert again == {**first, "nonce": again["nonce"]}
            second = await payer.request({**frame, "idempotency_key": "key-2"})
            assert second["type"] == "ack" and second["id"] != first["id"]
            # The wallet is empty now: a resend still gets its answer, not a refusal.
            assert (await payer.request({**frame, "idempotency_key": "key-2"}))["id"] == (
                second["id"]
            )
            other = await payer.request({**frame, "amount": 200, "idempotency_key": "key-1"})
            assert other["type"] == "error" and other["code"] == "idempotency_key_reused"
            spaced = await payer.request({**frame, "idempotency_key": "a key"})
            assert spaced["code"] == "invalid_frame"
    resent = await server.client.post(
        "/api/chat/streamer/superchats",
        json={"amount": 500, "currency": "USD", "text": "once", "idempotency_key": "key-1"},
        headers=auth(fan),
    )
    assert resent.status_code == 201, resent.text
    assert resent.json()["message_id"] == first["id"]
    ledger = (await server.client.get("/api/wallet/ledger", headers=auth(fan))).json()
    assert sorted(entry["amount"] for entry in ledger["entries"]) == [-500, -500, 1000]


async def test_concurrent_superchats_with_one_key_pay_once(server: Server) -> None:
    """Ten concurrent sends with one key: one debit; every answer is that SuperChat's,
    or asks to send again while it is being posted (and then it is)."""
    await server.register("streamer")
    fan, _ = await server.register("fan")
    await topup(server.client, fan, 5000)
    body = {"amount": 500, "currency": "USD", "text": "", "idempotency_key": "same"}
    answers: list[tuple[int, dict[str, Any]]] = []

    async def fire() -> None:
        response = await server.client.post(
            "/api/chat/streamer/superchats", json=body, headers=auth(fan)
        )
        answers.append((response.status_code, response.json()))

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            for _ in range(10):
                nursery.start_soon(fire)
    paid = {json.dumps(answer, sort_keys=True) for status, answer in answers if status == 201}
    pending = [answer for status, answer in answers if status != 201]
    assert len(paid) == 1, answers
    assert all(answer["error"]["code"] == "superchat_pending" for answer in pending), answers
    final = await server.client.post("/api/chat/streamer/superchats", json=body, headers=auth(fan))
    assert json.dumps(final.json(), sort_keys=True) in paid
    ledger = (await server.client.get("/api/wallet/ledger", headers=auth(fan))).json()
    assert sorted(entry["amount"] for entry in ledger["entries"]) == [-500, 5000]
