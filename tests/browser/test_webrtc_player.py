"""The channel page plays over WebRTC (WHEP) in headless Chromium.

ffmpeg publishes H.264 without B-frames; the page's player picks WebRTC by itself
(the channel's playback URLs offer WHEP), and the video element plays frames
Chromium decoded from the passed-through stream. A stream with B-frames is not
offered over WebRTC: the same page plays HLS.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import trio

from tests.browser.helpers import ONE_BACKEND, in_browser, logged_page, new_context, wait_playing
from tests.interop.media import Sample, make_sample
from tests.interop.whep_client import encoders_opened
from tests.trioflix.live_hls.helpers import go_live

if TYPE_CHECKING:
    from playwright.sync_api import Browser

    from tests.browser.helpers import Screenshots
    from tests.conftest import Server

pytestmark = [
    pytest.mark.slow,
    pytest.mark.interop,
    ONE_BACKEND,
    pytest.mark.settings(webrtc_addresses=("127.0.0.1",), hls_ladder="off"),
]


@pytest.fixture(scope="module")
def no_b_frames(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    """40 s of 360p30 H.264 without B-frames + AAC, a keyframe a second."""
    path = tmp_path_factory.mktemp("webrtc-browser") / "no-b.flv"
    return make_sample(path, seconds=40, gop=30, bframes=0)


async def test_the_channel_page_plays_over_webrtc_by_default(
    server: Server, no_b_frames: Sample, nursery: trio.Nursery, screenshots: Screenshots
) -> None:
    await go_live(nursery, server, no_b_frames.path)
    whep = server.app.trioflix.whep

    def counts() -> tuple[int, int, int]:
        live = trio.from_thread.run_sync(server.app.trioflix.registry.get, "alice")
        assert live is not None
        webrtc = trio.from_thread.run_sync(live.viewers_by_protocol)["webrtc"]
        return webrtc, trio.from_thread.run_sync(whep.feeds), whep.sessions

    def scenario(browser: Browser) -> None:
        context = new_context(browser, server.url)
        page, log = logged_page(context)
        page.goto("/channel/alice")
        wait_playing(page, advance_s=2)
        player = page.locator(".player")
        assert player.get_attribute("data-engine") == "webrtc"
        assert page.get_by_label("Latency mode").input_value() == "webrtc"
        # Frames decoded, and more of them as it plays: the picture is live, not frozen.
        decoded = "document.querySelector('video').getVideoPlaybackQuality().totalVideoFrames"
        first = int(page.evaluate(decoded))
        wait_playing(page, advance_s=1)
        assert int(page.evaluate(decoded)) > first > 0
        assert page.evaluate("document.querySelector('video').videoHeight") == 360
        # One viewer, counted as webrtc, fed by the channel's one Opus transcoder; its
        # video sender packetises what came in, no encoder of its own.
        assert counts() == (1, 1, 1)
        [pc] = trio.from_thread.run_sync(whep.peer_connections)
        assert trio.from_thread.run_sync(encoders_opened, pc) == 0
        assert pc.getTransceivers()[0].sender.track.kind == "video"
        screenshots.save(page, "channel-webrtc")
        # Leaving the page ends the session (DELETE on pagehide), without waiting for
        # the ICE consent to lapse.
        page.goto("/")
        page.wait_for_timeout(100)
        assert log.errors == []
        context.close()

    await in_browser(scenario)
    with trio.fail_after(15):
        while whep.sessions:  # noqa: ASYNC110 - the DELETE or the DTLS close ends it
            await trio.sleep(0.1)


@pytest.mark.settings(webrtc_addresses=("127.0.0.1",), hls_ladder="160p:200k")
async def test_the_quality_menu_reconnects_at_the_chosen_rung(
    server: Server, no_b_frames: Sample, nursery: trio.Nursery
) -> None:
    """On WebRTC the menu lists the renditions WHEP plays; choosing the ladder's 160p
    rung makes a new session at it (the old one is deleted), Auto goes back to the source."""
    await go_live(nursery, server, no_b_frames.path)
    whep = server.app.trioflix.whep
    live = server.app.trioflix.registry.get("alice")
    assert live is not None
    with trio.fail_after(60):
        while live.rendition("160p") is None:  # noqa: ASYNC110 - the ladder's child starts it
            await trio.sleep(0.1)
    rung = live.rendition("160p")
    assert rung is not None

    def rung_viewers() -> tuple[int, int]:
        """(sessions, of which watch the rung), once the sessions left have ended."""
        return whep.sessions, trio.from_thread.run_sync(rung.viewers_by_protocol)["webrtc"]

    def scenario(browser: Browser) -> None:
        context = new_context(browser, server.url)
        page, log = logged_page(context)

        def settles_at(expected: tuple[int, int]) -> None:
            for _ in range(150):  # a session ends within a second of its DELETE
                if rung_viewers() == expected:
                    return
                page.wait_for_timeout(100)
            assert rung_viewers() == expected

        page.goto("/channel/alice")
        wait_playing(page)
        assert page.locator(".player").get_attribute("data-engine") == "webrtc"
        quality = page.get_by_label("Quality")
        labels = quality.locator("option").all_text_contents()
        assert labels == ["Auto (360p)", "Source (360p)", "160p"]  # Auto plays the source
        quality.select_option(label="160p")
        page.wait_for_function("() => document.querySelector('video').videoHeight === 160")
        wait_playing(page)
        # One session, at the rung: the source's was deleted when the menu changed.
        settles_at((1, 1))
        assert page.locator(".player").get_attribute("data-level") == "160p"
        quality.select_option(label="Auto")
        page.wait_for_function("() => document.querySelector('video').videoHeight === 360")
        settles_at((1, 0))
        assert log.errors == []
        context.close()

    await in_browser(scenario)
