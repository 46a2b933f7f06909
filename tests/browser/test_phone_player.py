"""The live player on a phone: every control inside the player and big enough to tap;
a tap shows the controls (it does not pause), a double tap toggles fullscreen."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.browser.helpers import (
    CONTROLS_HIDDEN,
    CONTROLS_SHOWN,
    ONE_BACKEND,
    PHONES,
    assert_controls_fit,
    in_browser,
    logged_page,
    new_phone_context,
    tap_video,
    wait_playing,
)
from tests.browser.test_live_player import STANDARD_HLS, wait_renditions
from tests.trioflix.live_hls.helpers import go_live

if TYPE_CHECKING:
    import trio
    from playwright.sync_api import Browser, Page

    from tests.browser.helpers import Screenshots
    from tests.conftest import Server
    from tests.interop.media import Sample

pytestmark = [pytest.mark.slow, pytest.mark.interop, ONE_BACKEND]

IN_FULLSCREEN = "document.fullscreenElement === document.querySelector('.player')"


def double_tap_video(page: Page) -> None:
    """Two taps in quick succession. A loaded machine may space them further apart than
    a double tap; the player then saw two single taps (which only show the controls,
    and leave ``lastTap`` set), and the pair is tapped again."""
    for _ in range(3):
        tap_video(page)
        tap_video(page)
        if page.evaluate("trioflix.player.lastTap") == 0:  # taken as a double tap
            return
    raise AssertionError("three double taps in a row were too slow")


async def test_phone_controls_fit_and_answer_touch(
    server: Server, live_sample: Sample, nursery: trio.Nursery, screenshots: Screenshots
) -> None:
    await go_live(nursery, server, live_sample.path)
    await wait_renditions(server, "alice", 3)

    def scenario(browser: Browser) -> None:
        for size, viewport in PHONES.items():
            context = new_phone_context(browser, server.url, viewport)
            page, log = logged_page(context)
            page.add_init_script(STANDARD_HLS)  # the ladder is in the standard mode
            page.goto("/channel/alice")
            wait_playing(page)
            page.wait_for_function(
                "() => document.querySelectorAll('.quality option').length === 4"
            )

            # Playing and untouched, the controls hide; a tap shows them and does not pause.
            page.wait_for_function(f"() => {CONTROLS_HIDDEN}")
            tap_video(page)
            page.wait_for_function(f"() => {CONTROLS_SHOWN}")
            assert page.evaluate("document.querySelector('video').paused") is False
            names = assert_controls_fit(page)
            assert {"Pause (k)", "Settings", "Fullscreen (f)"} <= set(names), names
            if size == "390x844":
                screenshots.save(page, "channel-live-phone")
            # ...and they hide again by themselves.
            page.wait_for_function(f"() => {CONTROLS_HIDDEN}")

            # The settings panel opens inside the player; its menus fit and work.
            tap_video(page)
            page.get_by_role("button", name="Settings").tap()
            page.get_by_label("Quality").wait_for()
            assert {"Quality", "Latency mode"} <= set(assert_controls_fit(page))
            if size == "390x844":
                screenshots.save(page, "channel-live-phone-settings")
            page.get_by_label("Quality").select_option(label="160p")
            page.wait_for_function("() => document.querySelector('video').videoHeight === 160")
            assert page.get_by_label("Quality").is_hidden()  # choosing closed the panel
            page.wait_for_function(f"() => {CONTROLS_HIDDEN}")
            # Escape closes it too (a keyboard on a tablet), from one of its menus, and
            # gives the focus back to its button.
            tap_video(page)
            page.get_by_role("button", name="Settings").tap()
            page.get_by_label("Quality").focus()
            page.keyboard.press("Escape")
            page.get_by_label("Quality").wait_for(state="hidden")
            assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "Settings"

            # A double tap enters fullscreen, where the controls fit too; the button leaves.
            double_tap_video(page)
            page.wait_for_function(f"() => {IN_FULLSCREEN}")
            tap_video(page)
            page.wait_for_function(f"() => {CONTROLS_SHOWN}")
            assert_controls_fit(page)
            page.get_by_role("button", name="Fullscreen (f)").tap()
            page.wait_for_function("() => document.fullscreenElement === null")
            assert page.evaluate("document.querySelector('video').paused") is False
            assert log.errors == []
            context.close()

    await in_browser(scenario)
