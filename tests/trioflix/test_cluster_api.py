"""``GET /api/cluster`` on a single host: off unless enabled, then this host alone,
with what it serves. (The rig in tests/trioflix/cluster/ checks it over three hosts.)"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.trioflix.live.test_rtmp_robustness import publishing_client
from tests.waiting import wait_until

if TYPE_CHECKING:
    from tests.conftest import Server


@pytest.fixture
def backend() -> str:
    return "sqlite"  # one host: the database plays no part


async def test_the_cluster_api_is_off_by_default(server: Server) -> None:
    token, _ = await server.register("alice")
    response = await server.client.get("/api/cluster", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert "TRIOFLIX_CLUSTER_API=on" in response.json()["error"]["message"]


@pytest.mark.settings(cluster_api=True)
async def test_enabled_it_lists_this_host_to_signed_in_users(server: Server) -> None:
    anonymous = await server.client.get("/api/cluster")
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "unauthorized"

    client, _ = await publishing_client(server, "alice")
    token, _ = await server.register("viewer")
    await wait_until(lambda: bool(server.app.trioflix.registry.live()))
    response = await server.client.get("/api/cluster", headers={"Authorization": f"Bearer {token}"})
    await client.aclose()
    assert response.status_code == 200
    body = response.json()
    assert body["mode"] == "single host"
    (host,) = body["hosts"]
    assert host["host"] == body["this_host"] == server.app.trioflix.site.host.id
    assert host["advertise_url"] is None
    assert host["channels"] == ["alice"]
    assert host["load"]["publishers"] == 1
    assert host["load"]["viewers"] == 0
    assert {"rtmp", "http-flv", "ws-flv"} <= set(host["load"]["viewers_by_protocol"])
