"""The security headers every answer carries, and the pages' policy for media stored elsewhere."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from trioflix.api.security_headers import content_security_policy, media_origins

if TYPE_CHECKING:
    from tests.conftest import Server
    from trioflix.config import Settings

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

CDN = "https://cdn.example.com:8443"


def _directives(policy: str) -> dict[str, list[str]]:
    name_values = (part.split() for part in policy.split(";"))
    return {words[0]: words[1:] for words in name_values if words}


@pytest.mark.parametrize(
    "path",
    ["/api/auth/me", "/api/videos", "/api/no-such-route", "/healthz", "/assets/css/site.css"],
)
async def test_every_answer_is_nosniff_and_only_pages_carry_a_policy(
    server: Server, path: str
) -> None:
    response = await server.client.get(path)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in response.headers
    assert "x-frame-options" not in response.headers


@pytest.mark.settings(media_base_url=f"{CDN}/media")
async def test_pages_allow_the_media_origin(server: Server) -> None:
    response = await server.client.get("/channel/alice")
    directives = _directives(response.headers["content-security-policy"])
    for name in ("img-src", "media-src", "connect-src"):
        assert CDN in directives[name], name
    assert CDN not in directives["script-src"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert response.headers["x-frame-options"] == "DENY"


def test_presigned_s3_urls_are_allowed_at_the_endpoint(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://s3.internal:8333")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    s3 = settings.replace(storage_url="s3://bucket/trioflix", media_base_url=None)
    assert media_origins(s3) == ("http://s3.internal:8333",)
    assert media_origins(settings.replace(storage_url=None, media_base_url=None)) == ()
    policy = _directives(content_security_policy(media_origins(s3)))
    assert "http://s3.internal:8333" in policy["connect-src"]
