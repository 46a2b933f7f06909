"""The pages and their files over plain HTTP (no browser): shells, headers, asset serving,
404 pages, channel names in any case."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
import trio

from tests.browser.helpers import ONE_BACKEND
from trioflix.api.pages import STATIC_CACHE, VERSIONED_CACHE
from trioflix.api.security_headers import content_security_policy
from trioflix.media.library import create_video, set_ready
from trioflix.web import assets_digest

if TYPE_CHECKING:
    from tests.conftest import Server

pytestmark = ONE_BACKEND

HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}  # what a browser asks for


async def new_video(server: Server, user_id: int, *, ready: bool) -> int:
    """A video of ``user_id``'s in the library: ready (public) or still processing."""
    db = server.app.trioflix.db
    video = await create_video(db, user_id=user_id, title="clip", description="", origin="upload")
    if ready:
        media = {"duration": 6.0, "video": {"display_width": 640, "display_height": 360}}
        await set_ready(db, video, {"media": media, "renditions": []})
    return video


@pytest.mark.parametrize(
    ("path", "needle"),
    [
        ("/", '/js/home.js"'),
        ("/channel/alice", 'data-channel="alice"'),
        ("/watch/{video}", 'data-video-id="{video}"'),
        ("/studio", '/js/studio.js"'),
        ("/upload", '/vendor/tus.min.js"'),
        ("/login", 'id="auth-form"'),
    ],
)
async def test_pages_render_with_a_strict_policy(server: Server, path: str, needle: str) -> None:
    _, alice = await server.register("alice")
    video = str(await new_video(server, alice["id"], ready=True))
    response = await server.client.get(path.format(video=video), headers=HTML)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["content-security-policy"] == content_security_policy()
    assert "'unsafe-inline'" not in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert needle.format(video=video) in response.text
    assert "<script>" not in response.text  # no inline script: the policy would block it


async def test_channel_names_are_escaped_not_interpreted(server: Server) -> None:
    response = await server.client.get('/channel/"><img src=x>')
    assert response.status_code == 404
    assert "<img src=x>" not in response.text
    assert "&#34;&gt;&lt;img src=x&gt;" in response.text


@pytest.mark.parametrize(
    ("path", "heading"),
    [
        ("/no/such/page", "Page not found"),
        ("/channel/nobody", "Channel not found"),
        ("/channel/" + "a" * 40, "Channel not found"),
        ("/channel/K", "Channel not found"),  # the Kelvin sign: lowercases to "k"
        ("/watch/999999", "Video not found"),
    ],
)
async def test_what_is_not_there_gets_a_404_page(server: Server, path: str, heading: str) -> None:
    await server.register("kkk")
    response = await server.client.get(path, headers=HTML)
    assert response.status_code == 404
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["content-security-policy"] == content_security_policy()
    assert f"<h1>{heading}</h1>" in response.text
    assert 'href="/">Go to the home page</a>' in response.text
    assert 'class="site-nav"' in response.text  # the site's header, as on every page


async def test_a_video_not_yet_ready_is_404_with_its_page_for_the_owner(server: Server) -> None:
    _, alice = await server.register("alice")
    video = await new_video(server, alice["id"], ready=False)
    response = await server.client.get(f"/watch/{video}", headers=HTML)
    # Only its owner may see it, and the page request carries no token; the owner's
    # script, which sends the token, shows the processing progress.
    assert response.status_code == 404
    assert f'data-video-id="{video}"' in response.text
    assert (await server.client.get(f"/api/videos/{video}")).status_code == 404


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/api/no/such/route", HTML),  # the API answers JSON even to a browser
        ("/no/such/page", {}),  # httpx asks for */*, as scripts and players do
        ("/no/such/page", {"Accept": "application/json"}),
    ],
)
async def test_api_paths_and_other_clients_keep_the_json_404(
    server: Server, path: str, headers: dict[str, str]
) -> None:
    response = await server.client.get(path, headers=headers)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("spelling", ["Alice", "ALICE", "aLiCe"])
async def test_channel_names_in_any_case_redirect_to_the_stored_one(
    server: Server, spelling: str
) -> None:
    await server.register("alice")
    response = await server.client.get(f"/channel/{spelling}", headers=HTML)
    assert response.status_code == 301
    assert response.headers["location"] == "/channel/alice"


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
    await server.register("alice")
    digest = await trio.to_thread.run_sync(assets_digest)
    page = (await server.client.get("/channel/alice")).text
    linked = re.findall(r'(?:src|href)="(/assets/[^"]+)"', page)
    assert sorted(linked) == [
        f"/assets/v/{digest}/{name}"
        for name in (
            "css/site.css",
            "favicon.svg",
            "js/channel.js",
            "js/channel_schedule.js",
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
