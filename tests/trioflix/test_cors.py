"""Cross-origin requests as a browser makes them: pre-flights, then the request.

The API answers the origins in ``TRIOFLIX_CORS_ORIGINS`` alone; the media answers any.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.api import auth

if TYPE_CHECKING:
    from tests.conftest import Server

APP = "https://app.example.com"
EVIL = "https://evil.example.net"

pytestmark = [
    pytest.mark.parametrize("backend", ["sqlite"], indirect=True),
    pytest.mark.settings(cors_origins=(APP,)),
]


def preflight(origin: str, method: str = "GET") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization, content-type",
    }


async def test_a_configured_origin_may_call_the_api(server: Server) -> None:
    token, user = await server.register("corsy")
    answer = await server.client.options("/api/auth/me", headers=preflight(APP))
    assert answer.status_code == 204
    assert answer.headers["access-control-allow-origin"] == APP
    allowed = answer.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed
    assert "content-type" in allowed
    answer = await server.client.options("/api/streaming/keys", headers=preflight(APP, "POST"))
    assert "POST" in answer.headers["access-control-allow-methods"]

    answer = await server.client.get("/api/auth/me", headers={"Origin": APP, **auth(token)})
    assert answer.status_code == 200
    assert answer.json()["user"]["id"] == user["id"]
    assert answer.headers["access-control-allow-origin"] == APP
    assert "Origin" in answer.headers["vary"]
    assert "retry-after" in answer.headers["access-control-expose-headers"].lower()


async def test_other_origins_are_refused(server: Server) -> None:
    token, _ = await server.register("corsy")
    answer = await server.client.options("/api/auth/me", headers=preflight(EVIL))
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "cors_origin_refused"
    assert "access-control-allow-origin" not in answer.headers
    # A request that skipped the pre-flight is answered, but unreadable to EVIL's page.
    answer = await server.client.get("/api/auth/me", headers={"Origin": EVIL, **auth(token)})
    assert "access-control-allow-origin" not in answer.headers
    # A same-origin page sends no pre-flight and needs no header.
    answer = await server.client.get("/api/videos")
    assert answer.status_code == 200
    assert "access-control-allow-origin" not in answer.headers


@pytest.mark.parametrize(
    "path",
    [
        "/live/nobody/master.m3u8",
        "/live/nobody/thumbnail.jpg",
        "/videos/1/master.m3u8",
        "/api/emotes/1",
    ],
)
async def test_media_answers_any_origin(server: Server, path: str) -> None:
    answer = await server.client.options(path, headers=preflight(EVIL))
    assert answer.status_code < 400, answer.text
    assert answer.headers["access-control-allow-origin"] == "*"
    answer = await server.client.get(path, headers={"Origin": EVIL})
    assert answer.headers["access-control-allow-origin"] == "*"
