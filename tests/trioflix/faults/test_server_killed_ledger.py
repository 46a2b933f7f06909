"""``trioflix serve`` SIGKILLed during a burst of SuperChats, then started again: every
acknowledged debit is in the ledger once, each with its SuperChat, and the balance is
the ledger's sum."""

from __future__ import annotations

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


async def test_sigkill_during_superchats_then_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env, _ = serve_env(data_dir)
    env["TRIOFLIX_DEV_PAYMENTS"] = "on"
    port = free_port()
    log = tmp_path / "serve.log"
    acknowledged = 0
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
                try:
                    response = await client.post(
                        "/api/chat/streamer/superchats",
                        json={"amount": PRICE, "currency": "USD", "text": ""},
                        headers=auth(fan),
                    )
                except httpx.TransportError:
                    return  # the server died under this request
                assert response.status_code == 201, response.text
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

    async with serve_process(env, port, log) as (process, client):
        ledger = await client.get("/api/wallet/ledger?limit=100", headers=auth(fan))
        amounts = [entry["amount"] for entry in ledger.json()["entries"]]
        wallet = (await client.get("/api/wallet", headers=auth(fan))).json()
    debits = amounts.count(-PRICE)
    assert sorted(amounts) == [-PRICE] * debits + [TOPUP]
    # Every acknowledged debit is kept; at most the requests in flight add one each.
    assert acknowledged <= debits <= acknowledged + SENDERS
    assert wallet == {"balances": {"USD": sum(amounts)}}
    with sqlite3.connect(data_dir / "trioflix.sqlite3") as db:
        records = db.execute("SELECT COUNT(*), COUNT(DISTINCT ledger_id) FROM superchats")
        assert records.fetchone() == (debits, debits)  # one SuperChat per debit, no orphan
