"""The channel page's LivePlayer in headless Chromium, with a stream published by ffmpeg.

HLS through hls.js plays and its quality menu switches between the real
renditions of the live ladder; the low-latency modes play over HTTP-FLV and
WS-FLV through mpegts.js; the offline slate gives way to playback by itself when
the channel goes live.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest
import trio

from tests.browser.helpers import ONE_BACKEND, in_browser, logged_page, new_context, wait_playing
from tests.trioflix.live_hls.helpers import (
    go_live,
    parse_master_playlist,
    start_publisher,
    wait_live,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from playwright.sync_api import Browser, Page, Response, Route

    from tests.browser.helpers import Screenshots
    from tests.conftest import Server
    from tests.interop.media import Sample

pytestmark = [pytest.mark.slow, pytest.mark.interop, ONE_BACKEND]

LADDER_TIMEOUT_S = 20.0
HANDLED_WITHIN_S = 20.0
# The player remembers the latency mode chosen; the ladder's renditions are in the
# standard HLS mode (LL-HLS, the default, has the source only).
STANDARD_HLS = "localStorage.setItem('trioflix.latencyMode', 'hls')"


async def wait_renditions(server: Server, channel: str, count: int) -> list[str]:
    """Wait until the live master playlist lists ``count`` renditions; their heights."""
    with trio.fail_after(LADDER_TIMEOUT_S):
        while True:
            response = await server.client.get(f"/live/{channel}/master.m3u8")
            if response.status_code == 200:
                variants = parse_master_playlist(response.text)
                if len(variants) >= count:
                    return [attrs["RESOLUTION"].split("x")[1] for attrs, _ in variants]
            await trio.sleep(0.25)


async def test_hls_plays_and_quality_menu_switches_renditions(
    server: Server, live_sample: Sample, nursery: trio.Nursery, screenshots: Screenshots
) -> None:
    await go_live(nursery, server, live_sample.path)
    heights = await wait_renditions(server, "alice", 3)
    assert sorted(heights) == ["160", "240", "360"]

    def scenario(browser: Browser) -> None:
        context = new_context(browser, server.url)
        page, log = logged_page(context)
        page.goto("/channel/alice")
        # The standard mode (LL-HLS, the default, offers the same ladder).
        page.get_by_label("Latency mode").select_option("hls")
        page.wait_for_function("() => document.querySelector('.player').dataset.engine === 'hls'")
        wait_playing(page)
        quality = page.get_by_label("Quality")
        # Auto plus the three real renditions, highest first.
        page.wait_for_function("() => document.querySelectorAll('.quality option').length === 4")
        labels = quality.locator("option").all_text_contents()
        assert labels[0].startswith("Auto")
        assert labels[1:] == ["Source (360p)", "240p", "160p"]

        for label, height in [("160p", 160), ("240p", 240)]:
            quality.select_option(label=label)
            page.wait_for_function(
                f"() => document.querySelector('video').videoHeight === {height}"
            )
            wait_playing(page)
        quality.select_option(value="-1")
        assert page.evaluate("trioflix.player.engine.auto") is True

        page.get_by_role("heading", name="alice live").wait_for()
        page.locator(".player").hover()
        edge = page.locator(".live-edge").text_content() or ""
        assert edge.startswith("LIVE") or edge.endswith("s behind")
        screenshots.save(page, "channel-live")
        assert log.errors == []
        context.close()

    await in_browser(scenario)


@pytest.mark.parametrize("mode", ["http-flv", "ws-flv"])
async def test_low_latency_mode_plays_over_flv(
    server: Server, live_sample: Sample, nursery: trio.Nursery, mode: str
) -> None:
    await go_live(nursery, server, live_sample.path)

    def scenario(browser: Browser) -> float:
        context = new_context(browser, server.url)
        page, log = logged_page(context)
        page.goto("/channel/alice")
        page.get_by_label("Latency mode").select_option(mode)
        page.wait_for_function(
            "() => document.querySelector('.player').dataset.engine === 'flv'"
            f" && document.querySelector('.player').dataset.mode === '{mode}'"
        )
        wait_playing(page, advance_s=2.0)
        assert page.evaluate("document.querySelector('video').videoHeight") == 360
        # mpegts.js keeps close to what has arrived: the low-latency point of this mode.
        behind = float(page.evaluate("trioflix.player.engine.behindLive()"))
        # The choice is remembered for the next visit.
        page.reload()
        page.wait_for_function("() => document.querySelector('.player').dataset.engine === 'flv'")
        wait_playing(page)
        assert page.get_by_label("Latency mode").input_value() == mode
        assert log.errors == []
        context.close()
        return behind

    behind = await in_browser(scenario)
    assert behind < 3.0
    viewers = server.app.trioflix.registry.get("alice")
    assert viewers is not None


def pump_until(page: Page, predicate: Callable[[], bool], what: str) -> None:
    """Wait until ``predicate()``, true by the page's route or event handlers (which run
    only while Playwright waits), for at most :data:`HANDLED_WITHIN_S`."""
    deadline = time.monotonic() + HANDLED_WITHIN_S
    while not predicate():
        assert time.monotonic() < deadline, f"not done within {HANDLED_WITHIN_S} s: {what}"
        page.wait_for_timeout(100)


# The channel page reads its count every 10 s; it must not wait for that to count this viewer.
COUNTED_WITHIN_MS = 4000


async def test_viewer_count_counts_this_viewer_once_over_hls_then_http_flv(
    server: Server, live_sample: Sample, nursery: trio.Nursery
) -> None:
    await go_live(nursery, server, live_sample.path)

    def site_counts() -> dict[str, int]:
        live = trio.from_thread.run_sync(server.app.trioflix.registry.get, "alice")
        assert live is not None
        return trio.from_thread.run_sync(live.viewers_by_protocol)

    def scenario(browser: Browser) -> None:
        context = new_context(browser, server.url)
        page, log = logged_page(context)
        page.goto("/channel/alice")
        wait_playing(page)
        assert page.locator(".player").get_attribute("data-engine") == "ll-hls"
        watching = page.locator(".player .viewers")
        page.wait_for_function(
            "() => document.querySelector('.player .viewers').textContent === '1 watching'",
            timeout=COUNTED_WITHIN_MS,
        )
        assert site_counts()["hls"] == 1
        # The switch ends the HLS playback session: this viewer counts once, over FLV,
        # in the first count the page reads after the switch, even when the session's
        # end is slower than the FLV engine's start (as on a loaded server). The end is
        # held in the browser until FLV plays, then let through.
        held: list[Route] = []
        counts_read: list[Response] = []

        def hold(route: Route) -> None:
            held.append(route)

        def count_read(response: Response) -> None:
            if response.url.endswith("/api/channels/alice"):
                counts_read.append(response)

        page.route("**/live/alice/players/*", hold)
        page.on("response", count_read)
        page.get_by_label("Latency mode").select_option("http-flv")
        page.wait_for_function("() => document.querySelector('.player').dataset.engine === 'flv'")
        wait_playing(page)
        pump_until(page, lambda: bool(held), "the switch ended the HLS session")
        held[0].continue_()
        pump_until(page, lambda: bool(counts_read), "the page read the count after the switch")
        assert counts_read[0].json()["viewers"] == 1
        assert watching.text_content() == "1 watching"
        counts = site_counts()
        assert (counts["hls"], counts["http-flv"]) == (0, 1)
        assert log.errors == []
        context.close()

    await in_browser(scenario)


async def test_offline_slate_then_playback_starts_by_itself(
    server: Server, live_sample: Sample, nursery: trio.Nursery, screenshots: Screenshots
) -> None:
    token, _ = await server.register("alice")
    await server.client.post(
        "/api/streaming/start",
        json={"title": "Friday build", "description": "we build things"},
        headers={"Authorization": f"Bearer {token}"},
    )
    key = await server.create_key(token)

    async def publish() -> None:
        await start_publisher(nursery, server, key, live_sample.path)
        await wait_live(server, "alice")

    def scenario(browser: Browser) -> None:
        context = new_context(browser, server.url)
        page, log = logged_page(context)
        page.goto("/channel/alice")
        slate = page.locator(".slate")
        slate.get_by_text("alice is offline").wait_for()
        assert "Friday build" in (slate.text_content() or "")
        screenshots.save(page, "channel-offline")
        trio.from_thread.run(publish)
        wait_playing(page)
        assert slate.is_hidden()
        page.get_by_role("heading", name="Friday build").wait_for()
        # Still playing. Waited for: when the ladder's rungs appear after playback began
        # (a busy machine), the player re-reads the master and starts again from 0.
        page.wait_for_function("() => document.querySelector('video').currentTime > 0")
        # The home page lists the channel as live now.
        page.goto("/")
        card = page.locator("#live-grid .tile", has_text="Friday build")
        card.wait_for()
        assert card.locator(".badge.live").text_content() == "LIVE"
        # The card shows a picture of the stream (the server's live thumbnail, 320 px wide).
        picture = card.locator("img.live-picture")
        assert (picture.get_attribute("src") or "").startswith("/live/alice/thumbnail.jpg?t=")
        page.wait_for_function(
            "() => { const img = document.querySelector('#live-grid img.live-picture');"
            " return img && img.complete && img.naturalWidth === 320 }"
        )
        screenshots.save(page, "home")
        assert log.errors == []
        context.close()

    await in_browser(scenario)


def source_only(master: str) -> str:
    """``master`` as it was before the ladder's rungs had segments: the source variant only."""
    lines = master.splitlines()
    kept: list[str] = []
    for index, line in enumerate(lines):
        if line.startswith("#EXT-X-STREAM-INF"):
            if lines[index + 1].startswith("source/"):
                kept += [line, lines[index + 1]]
        elif line.startswith("#") and line:
            kept.append(line)
    return "\n".join(kept) + "\n"


async def test_a_player_that_loaded_before_the_ladder_gets_its_renditions(
    server: Server, live_sample: Sample, nursery: trio.Nursery
) -> None:
    """hls.js never reloads a master playlist: the player re-reads it and starts again."""
    await go_live(nursery, server, live_sample.path)
    await wait_renditions(server, "alice", 3)

    def scenario(browser: Browser) -> list[int]:
        context = new_context(browser, server.url)
        page, log = logged_page(context)
        masters: list[int] = []

        def early_master(route: Route) -> None:
            # The first master this page gets is the one a viewer got before the rungs existed.
            response = route.fetch()
            body = response.text() if masters else source_only(response.text())
            masters.append(len(parse_master_playlist(body)))
            headers = {k: v for k, v in response.headers.items() if k != "content-length"}
            route.fulfill(response=response, body=body, headers=headers)

        page.route("**/live/alice/master.m3u8*", early_master)
        page.add_init_script(STANDARD_HLS)  # the route above rewrites the standard master
        page.goto("/channel/alice")
        wait_playing(page)
        # A few seconds later the player has found the rungs and plays them too.
        page.wait_for_function("() => document.querySelectorAll('.quality option').length === 4")
        assert page.evaluate("trioflix.player.engine.restarts") == 1
        labels = page.get_by_label("Quality").locator("option").all_text_contents()
        assert labels[1:] == ["Source (360p)", "240p", "160p"]
        wait_playing(page)
        page.get_by_label("Quality").select_option(label="160p")
        page.wait_for_function("() => document.querySelector('video').videoHeight === 160")
        assert log.errors == []
        context.close()
        return masters

    masters = await in_browser(scenario)
    assert masters[0] == 1
    assert masters[1:] and all(count == 3 for count in masters[1:])
