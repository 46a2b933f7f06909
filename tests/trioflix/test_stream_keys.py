from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from tests.api import auth

if TYPE_CHECKING:
    from tests.conftest import Server

KEYS = "/api/streaming/keys"


async def test_key_lifecycle(server: Server) -> None:
    token, _ = await server.register("alice")
    created = await server.client.post(KEYS, json={"name": "obs"}, headers=auth(token))
    assert created.status_code == 201
    key = created.json()["key"]
    full = key["key"]
    assert key["masked"] is False
    assert full.startswith("live_") and len(full) >= 5 + 43  # 32 random bytes, base64url
    assert key["name"] == "obs" and key["enabled"] is True and key["record"] is True

    listed = await server.client.get(KEYS, headers=auth(token))
    assert listed.status_code == 200
    [entry] = listed.json()["keys"]
    assert entry["id"] == key["id"]
    assert entry["masked"] is True
    assert full not in listed.text
    assert entry["key"].startswith(full[:9]) and "*" in entry["key"]

    one = await server.client.get(f"{KEYS}/{key['id']}", headers=auth(token))
    assert one.json()["key"] == entry

    renamed = await server.client.put(
        f"{KEYS}/{key['id']}", json={"name": "studio", "enabled": False}, headers=auth(token)
    )
    assert renamed.status_code == 200
    assert renamed.json()["key"]["name"] == "studio"
    assert renamed.json()["key"]["enabled"] is False
    assert renamed.json()["key"]["masked"] is True

    regenerated = await server.client.put(
        f"{KEYS}/{key['id']}", json={"regenerate": True}, headers=auth(token)
    )
    assert regenerated.status_code == 200
    new_full = regenerated.json()["key"]["key"]
    assert regenerated.json()["key"]["masked"] is False
    assert new_full.startswith("live_") and new_full != full
    assert regenerated.json()["key"]["name"] == "studio"

    deleted = await server.client.delete(f"{KEYS}/{key['id']}", headers=auth(token))
    assert deleted.status_code == 204
    gone = await server.client.get(f"{KEYS}/{key['id']}", headers=auth(token))
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "not_found"


async def test_key_stored_only_as_hash(server: Server) -> None:
    from trioflix.store import open_database

    token, _ = await server.register("alice")
    full = (await server.client.post(KEYS, headers=auth(token))).json()["key"]["key"]
    async with open_database(server.settings) as db:
        rows = await db.fetch("SELECT * FROM stream_keys")
    [row] = rows
    assert full not in repr(row)
    assert row["key_hash"] == hashlib.sha256(full.encode()).hexdigest()


async def test_find_key_by_secret(server: Server) -> None:
    from trioflix.store import open_database
    from trioflix.store.stream_keys import find_key

    token, user = await server.register("alice")
    full = (await server.client.post(KEYS, headers=auth(token))).json()["key"]["key"]
    async with open_database(server.settings) as db:
        found = await find_key(db, full)
        missing = await find_key(db, full + "x")
    assert found is not None and found.user_id == user["id"]
    assert missing is None


async def test_other_users_keys_are_invisible(server: Server) -> None:
    alice, _ = await server.register("alice")
    mallory, _ = await server.register("mallory")
    key_id = (await server.client.post(KEYS, headers=auth(alice))).json()["key"]["id"]

    assert (await server.client.get(KEYS, headers=auth(mallory))).json() == {"keys": []}
    for method, body in [
        ("GET", None),
        ("PUT", {"enabled": False}),
        ("PUT", {"regenerate": True}),
        ("DELETE", None),
    ]:
        response = await server.client.request(
            method, f"{KEYS}/{key_id}", json=body, headers=auth(mallory)
        )
        assert response.status_code == 404, (method, body)
        assert response.json()["error"]["code"] == "not_found"
    # Alice's key is untouched.
    mine = (await server.client.get(f"{KEYS}/{key_id}", headers=auth(alice))).json()["key"]
    assert mine["enabled"] is True


async def test_key_limit(server: Server) -> None:
    from trioflix.api.stream_keys import MAX_KEYS_PER_USER

    token, _ = await server.register("alice")
    for _ in range(MAX_KEYS_PER_USER):
        assert (await server.client.post(KEYS, headers=auth(token))).status_code == 201
    refused = await server.client.post(KEYS, headers=auth(token))
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "limit_reached"
