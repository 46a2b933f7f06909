"""``trioflix serve`` SIGKILLed during a burst of SuperChats, then started again: every
acknowledged debit is in the ledger once, each with its SuperChat, and the balance is
the ledger's sum; the SuperChats in flight at the kill, sent again with their
idempotency keys, are paid exactly once each."""

from __future__ import annotations

import itertools
import signal
import sqlite3
from typing import TYPE_CHECKING

import httpx
import pytest
import trio

from tests.api import auth
from tests.ports import free_port
from tests.trioflix.live_hls.helpers import serve_env, serve_process
from tests.waiting import WAIT_LIMIT_S

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow

SENDERS = 4  # requests in flight at the kill: their outcome is unknown to the client
PRICE = 100
TOPUP = 100_000


async def _register(client: httpx.AsyncClient, name: str) -> str:
    response = await client.post(
        "/api/auth/register", json={"username": name, "password": "password1"}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["token"])


async def _resend(client: httpx.AsyncClient, token: str, key: str) -> dict[str, int]:
    """Send the SuperChat of ``key`` again until it is answered (while a SuperChat that
    was paid but not yet posted is being posted, the server asks to send it again)."""
    body = {"amount": PRICE, "currency": "USD", "text": "", "idempotency_key": key}
    with trio.fail_after(WAIT_LIMIT_S):
        while True:
            response = await client.post(
                "/api/chat/streamer/superchats", json=body, headers=auth(token)
            )
            if response.status_code == 201:
                return dict(response.json())
            assert response.status_code == 409, response.text
            assert response.json()["error"]["code"] == "superchat_pending"
            await trio.sleep(float(response.headers["Retry-After"]))


async def test_sigkill_during_superchats_then_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env, _ = serve_env(data_dir)
    env["TRIOFLIX_DEV_PAYMENTS"] = "on"
    port = free_port()
    log = tmp_path / "serve.log"
    acknowledged = 0
    keys = (f"attempt-{n}" for n in itertools.count())
    in_flight: list[str] = []  # keys whose request the kill cut off
    answered: dict[str, dict[str, int]] = {}  # the acknowledged ones' answers
    async with serve_process(env, port, log) as (process, client):
        await _register(client, "streamer")
        fan = await _register(client, "fan")
        topup = await client.post(
            "/api/wallet/topups", json={"amount": TOPUP, "currency": "USD"}, headers=auth(fan)
        )
        assert topup.status_code == 201, topup.text
        enough = trio.Event()

        async def send() -> None:
            nonlocal acknowledged
            while True:
                key = next(keys)
                try:
                    response = await client.post(
                        "/api/chat/streamer/superchats",
                        json={
                            "amount": PRICE,
                            "currency": "USD",
                            "text": "",
                            "idempotency_key": key,
                        },
                        headers=auth(fan),
                    )
                except httpx.TransportError:
                    in_flight.append(key)  # the server died under this request
                    return
                assert response.status_code == 201, response.text
                answered[key] = response.json()
                acknowledged += 1
                if acknowledged >= 20:
                    enough.set()

        async with trio.open_nursery() as nursery:
            for _ in range(SENDERS):
                nursery.start_soon(send)
            with trio.fail_after(WAIT_LIMIT_S):
                await enough.wait()
            process.send_signal(signal.SIGKILL)
    assert acknowledged >= 20
    assert len(in_flight) == SENDERS

    async with serve_process(env, port, log) as (process, client):
        resent = [await _resend(client, fan, key) for key in in_flight]
        # A client that lost an answer and sends again gets the same one, after a restart too.
        for key in list(answered)[-SENDERS:]:
            assert await _resend(client, fan, key) == answered[key]
        ledger = await client.get("/api/wallet/ledger?limit=100", headers=auth(fan))
        amounts = [entry["amount"] for entry in ledger.json()["entries"]]
        wallet = (await client.get("/api/wallet", headers=auth(fan))).json()
    debits = amounts.count(-PRICE)
    assert sorted(amounts) == [-PRICE] * debits + [TOPUP]
    # Every acknowledged debit is kept, and each SuperChat in flight at the kill is paid
    # once: by its first request if that committed, else by the resend.
    assert debits == acknowledged + SENDERS
    assert len({answer["superchat_id"] for answer in resent}) == SENDERS
    assert wallet == {"balances": {"USD": sum(amounts)}}
    with sqlite3.connect(data_dir / "trioflix.sqlite3") as db:
        records = db.execute("SELECT COUNT(*), COUNT(DISTINCT ledger_id) FROM superchats")
        assert records.fetchone() == (debits, debits)  # one SuperChat per debit, no orphan
        unposted = db.execute("SELECT COUNT(*) FROM superchats WHERE message_id IS NULL")
        assert unposted.fetchone() == (0,)  # the resends posted what the kill left unposted
