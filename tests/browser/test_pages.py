"""The pages and their files over plain HTTP (no browser): shells, headers, asset serving."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
import trio

from tests.browser.helpers import ONE_BACKEND
from trioflix.api.pages import STATIC_CACHE, VERSIONED_CACHE
from trioflix.api.security_headers import content_security_policy
from trioflix.web import assets_digest

if TYPE_CHECKING:
    from tests.conftest import Server

pytestmark = ONE_BACKEND


@pytest.mark.parametrize(
    ("path", "needle"),
    [
        ("/", '/js/home.js"'),
        ("/channel/alice", 'data-channel="alice"'),
        ("/watch/7", 'data-video-id="7"'),
        ("/studio", '/js/studio.js"'),
        ("/upload", '/vendor/tus.min.js"'),
        ("/login", 'id="auth-form"'),
    ],
)
async def test_pages_render_with_a_strict_policy(server: Server, path: str, needle: str) -> None:
    response = await server.client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["content-security-policy"] == content_security_policy()
    assert "'unsafe-inline'" not in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert needle in response.text
    assert "<script>" not in response.text  # no inline script: the policy would block it


async def test_channel_names_are_escaped_not_interpreted(server: Server) -> None:
    response = await server.client.get('/channel/"><img src=x>')
    assert response.status_code == 200
    assert "<img src=x>" not in response.text
    assert "&#34;&gt;&lt;img src=x&gt;" in response.text


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/assets/js/player.js", "text/javascript; charset=utf-8"),
        ("/assets/css/site.css", "text/css; charset=utf-8"),
        ("/assets/vendor/hls.min.js", "text/javascript; charset=utf-8"),
        ("/assets/vendor/mpegts.js", "text/javascript; charset=utf-8"),
        ("/assets/vendor/tus.min.js", "text/javascript; charset=utf-8"),
    ],
)
async def test_assets_and_vendor_builds_are_served(
    server: Server, path: str, content_type: str
) -> None:
    response = await server.client.get(path)
    assert response.status_code == 200, (path, response.text[:200])
    assert response.headers["content-type"] == content_type
    assert response.headers["x-content-type-options"] == "nosniff"
    assert len(response.content) > 1000


async def test_pages_link_assets_by_the_digest_of_their_contents(server: Server) -> None:
    digest = await trio.to_thread.run_sync(assets_digest)
    page = (await server.client.get("/channel/alice")).text
    linked = re.findall(r'(?:src|href)="(/assets/[^"]+)"', page)
    assert sorted(linked) == [
        f"/assets/v/{digest}/{name}"
        for name in (
            "css/site.css",
            "favicon.svg",
            "js/channel.js",
            "js/layout.js",
            "vendor/hls.min.js",
            "vendor/mpegts.js",
        )
    ]
    for url in linked:
        response = await server.client.get(url)
        assert response.status_code == 200, url
        assert response.headers["cache-control"] == VERSIONED_CACHE
    # An ES module's relative import stays under the digest, and so in the long cache.
    imported = await server.client.get(f"/assets/v/{digest}/js/api.js")
    assert imported.headers["cache-control"] == VERSIONED_CACHE
    # Another release's digest: the file of this one, never cached as if it were that one.
    other = await server.client.get("/assets/v/0123456789abcdef/js/api.js")
    assert other.status_code == 200
    assert other.headers["cache-control"] == STATIC_CACHE
    assert (await server.client.get("/assets/js/api.js")).headers["cache-control"] == STATIC_CACHE


@pytest.mark.parametrize(
    "path",
    [
        "/assets/v/0123456789abcdef/../../api/pages.py",
        "/assets/v/0123456789abcdef/vendor/../../web/package.json",
        "/assets/v/0123456789abcdef/vendor/lodash.throttle",
        "/assets/../api/pages.py",
        "/assets/%2e%2e/%2e%2e/pyproject.toml",
        "/assets/vendor/lodash.throttle",
        "/assets/vendor/../../web/package.json",
        "/assets/js/missing.js",
        "/watch/not-a-number",
    ],
)
async def test_nothing_outside_the_asset_folders_is_served(server: Server, path: str) -> None:
    response = await server.client.get(path)
    assert response.status_code == 404
