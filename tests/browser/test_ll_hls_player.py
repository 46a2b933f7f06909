"""The channel page's player on LL-HLS: hls.js in low-latency mode, in headless Chromium,
plays a live ffmpeg publish (a keyframe every second) for a minute without stalling and
within the latency goal, while the player shows how far behind the stream it is; with
the ladder on, it switches rungs at a part boundary and plays on.
"""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING

import pytest

from tests.browser.helpers import (
    ONE_BACKEND,
    in_browser,
    logged_page,
    new_context,
    time_waits,
    wait_playing,
    waits_ms,
)
from tests.interop.media import make_sample
from tests.trioflix.live_hls.helpers import go_live

if TYPE_CHECKING:
    import trio
    from playwright.sync_api import Browser

    from tests.browser.helpers import Screenshots
    from tests.conftest import Server
    from tests.interop.media import Sample

pytestmark = [pytest.mark.slow, pytest.mark.interop, ONE_BACKEND]

WATCH_S = 60
# What hls.js reports (seconds from the playlist's newest media to the picture). The
# goal, 2 s at the median glass to glass, is the latency benchmark's to measure
# (bench/latency.py); here the bound leaves room for hls.js raising its target by 1 s
# after any wait, as it does after its part loop at the start (docs/hls.md): about
# 1.95 s then, against 1.2-1.3 s without.
LATENCY_P50_S = 2.5
LATENCY_P95_S = 3.0
# A wait for data longer than this is a stall a viewer sees: a part the player missed
# stops the picture for seconds (3-6 s before the player kept its back buffer). Shorter
# ones are a few frames late on a loaded machine, or the 0.4-0.6 s of hls.js's part
# loop at the end of the segment it joined in (docs/hls.md).
STALL_MS = 1000


@pytest.fixture(scope="module")
def keyframe_each_second(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    """360p30 H.264/AAC with a keyframe every second (-g 30 at 30 fps), encoded once
    beforehand: publishing it in real time with ``-c copy`` costs the machine nothing,
    so what the player sees is the server's doing, not a starved live encoder's."""
    return make_sample(tmp_path_factory.mktemp("ll") / "ll.flv", seconds=WATCH_S + 30, gop=30)


@pytest.mark.settings(hls_ladder="off")
async def test_ll_hls_plays_a_minute_within_the_latency_goal_without_stalls(
    server: Server,
    keyframe_each_second: Sample,
    nursery: trio.Nursery,
    screenshots: Screenshots,
) -> None:
    await go_live(nursery, server, keyframe_each_second.path)

    def scenario(browser: Browser) -> tuple[list[float], list[float], str]:
        context = new_context(browser, server.url)
        page, log = logged_page(context)
        page.goto("/channel/alice")
        wait_playing(page)
        player = page.locator(".player")
        assert player.get_attribute("data-engine") == "ll-hls"
        assert page.evaluate("trioflix.player.engine.hls.config.lowLatencyMode") is True
        # No back-buffer flush: one completing while a segment's parts are appended makes
        # hls.js forget them and stall at that segment's end (docs/hls.md).
        assert page.evaluate("trioflix.player.engine.hls.config.backBufferLength === Infinity")
        assert page.get_by_label("Latency mode").input_value() == "ll-hls"
        # HTTP-FLV stays a choice; the quality menu lists what the LL master has.
        options = page.get_by_label("Latency mode").locator("option").all_text_contents()
        assert "Low latency (HTTP-FLV)" in options
        assert page.locator(".quality option").all_text_contents()[1:] == ["Source (360p)"]
        # Count stalls from here: the video waiting for data while it should play. A wait
        # of a few frames (Chromium's decoder on a loaded machine, with a second buffered)
        # is not seen; a missing part stops the picture for seconds.
        time_waits(page)
        latencies = []
        for _ in range(WATCH_S):
            page.wait_for_timeout(1000)
            latencies.append(float(page.evaluate("trioflix.player.engine.latency() ?? 99")))
        edge = page.locator(".live-edge").text_content() or ""
        # A wait still open at the end counts once it is long enough to be a stall.
        waits = waits_ms(page, STALL_MS)
        page.locator(".player").hover()
        screenshots.save(page, "channel-ll-hls")
        assert log.errors == []
        context.close()
        return latencies, waits, edge

    latencies, waits, edge = await in_browser(scenario)
    ordered = sorted(latencies)
    p50, p95 = statistics.median(ordered), ordered[int(len(ordered) * 0.95) - 1]
    stalls = [round(ms) for ms in waits if ms > STALL_MS]
    print(
        f"LL-HLS latency over {WATCH_S} s: p50 {p50:.2f} s, p95 {p95:.2f} s, "
        f"waits (ms) {[round(ms) for ms in waits]}, stalls {len(stalls)}"
    )
    assert stalls == [], (waits, latencies)
    assert p50 < LATENCY_P50_S and p95 < LATENCY_P95_S, latencies
    # The player shows the figure beside LIVE.
    assert edge.startswith("LIVE ") and edge.endswith(" s"), edge


@pytest.mark.settings(hls_ladder="240p:300k,160p")
async def test_ll_hls_switches_ladder_rungs_and_plays_on(
    server: Server,
    keyframe_each_second: Sample,
    nursery: trio.Nursery,
    screenshots: Screenshots,
) -> None:
    """hls.js in low-latency mode on the ladder's LL master playlist: picking another
    rung in the quality menu (hls.js ``currentLevel``) loads that rung's parts and the
    picture goes on, with no fatal error."""
    await go_live(nursery, server, keyframe_each_second.path, ll_variants=3)

    def scenario(browser: Browser) -> tuple[str, list[str], list[str], list[str]]:
        context = new_context(browser, server.url)
        page, log = logged_page(context)
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        page.goto("/channel/alice")
        wait_playing(page, advance_s=0.5)
        assert page.locator(".player").get_attribute("data-engine") == "ll-hls"
        page.evaluate(
            """() => {
              window.fatal = [];
              trioflix.player.engine.hls.on(Hls.Events.ERROR, (_event, data) => {
                if (data.fatal) window.fatal.push(data.details);
              });
            }"""
        )
        urls = page.evaluate("trioflix.player.engine.hls.levels.map((level) => level.url[0])")
        names = [url.split("?")[0].split("/")[-2] for url in urls]
        assert sorted(names) == ["160p", "240p", "source"], urls
        # The smallest rung, or the source if hls.js chose the smallest to start with.
        current = int(page.evaluate("trioflix.player.engine.hls.currentLevel"))
        target = names.index("160p" if names[current] != "160p" else "source")
        before = len(requested)
        page.get_by_label("Quality").select_option(str(target))
        page.wait_for_function(f"() => trioflix.player.engine.hls.currentLevel === {target}")
        wait_playing(page, advance_s=2.0)  # the picture goes on, from the new rung
        screenshots.save(page, "channel-ll-hls-rung")
        fatal = page.evaluate("window.fatal")
        context.close()
        return names[target], requested[before:], fatal, log.errors

    rung, requested, fatal, errors = await in_browser(scenario)
    assert fatal == [] and errors == []
    parts = [url for url in requested if f"/{rung}/ll-" in url and ".m4s" in url]
    assert len(parts) >= 3, requested  # the new rung's parts were loaded
