"""The studio, as a new streamer uses it: register, make a key, paste it into the encoder,
watch the ingest health, end the stream."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest
import trio

from tests.browser.helpers import ONE_BACKEND, in_browser, logged_page, new_context
from tests.trioflix.live_hls.helpers import start_publisher, wait_live
from trioflix.media.library import create_video, set_failed, set_progress

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Route

    from tests.browser.helpers import Screenshots
    from tests.conftest import Server
    from tests.interop.media import Sample

pytestmark = [pytest.mark.slow, pytest.mark.interop, ONE_BACKEND]


async def test_register_create_key_go_live_and_stop_from_the_studio(
    server: Server, live_sample: Sample, nursery: trio.Nursery, screenshots: Screenshots
) -> None:
    publishers: list[trio.Process] = []

    async def publish(key: str) -> None:
        publishers.append(await start_publisher(nursery, server, key, live_sample.path))
        await wait_live(server, "carol")

    async def reconnect_refused(key: str) -> None:
        """The stop disconnects the encoder; reconnecting at once, as OBS does, fails."""
        with trio.fail_after(10):
            await publishers[-1].wait()
        await wait_live(server, "carol", live=False)
        reconnect = await start_publisher(nursery, server, key, live_sample.path)
        with trio.fail_after(15):
            await reconnect.wait()
        assert reconnect.returncode != 0
        assert server.app.trioflix.registry.state_of("carol") is None

    def scenario(browser: Browser) -> None:
        context = new_context(browser, server.url)
        context.grant_permissions(["clipboard-read", "clipboard-write"])
        page, log = logged_page(context)
        page.on("dialog", lambda dialog: dialog.accept())

        # Not signed in: the studio sends you to sign in, and back afterwards.
        page.goto("/studio")
        page.wait_for_url("**/login?next=%2Fstudio")
        page.get_by_role("tab", name="Create account").click()
        page.get_by_label("Username").fill("carol")
        page.get_by_label("Display name").fill("Carol")
        page.get_by_label("Password").fill("a long password")
        page.get_by_role("button", name="Create account").click()
        page.wait_for_url("**/studio")
        page.locator("#account").get_by_text("Carol").wait_for()

        page.get_by_label("Name of a new key").fill("obs")
        page.get_by_role("button", name="Create key").click()
        full_key = page.get_by_label("Stream key", exact=True)
        page.wait_for_function("() => document.getElementById('obs-key').value.startsWith('live_')")
        key = full_key.input_value()
        item = page.locator(".key-item", has_text="obs")
        item.wait_for()
        assert "*" in (item.locator(".key-masked").text_content() or "")

        page.locator("[data-copy=obs-key]").click()
        assert page.evaluate("navigator.clipboard.readText()") == key
        server_url = page.get_by_label("Server", exact=True).input_value()
        assert server_url == server.rtmp_url
        assert page.get_by_label("WHIP URL").input_value() == f"{server.url}/api/whip"

        stream = page.get_by_role("region", name="Stream", exact=True)
        stream.get_by_label("Title", exact=True).fill("Studio test run")
        stream.get_by_label("Description", exact=True).fill("from the browser")
        page.get_by_role("button", name="Save title and description").click()
        page.locator("#live-state[data-state=ready]").wait_for()

        # The encoder uses exactly what the page shows.
        trio.from_thread.run(publish, key)
        page.locator("#live-state[data-state=live]").wait_for()
        page.wait_for_function(
            "() => document.getElementById('h-resolution').textContent === '640\u00d7360'"
        )
        page.wait_for_function(
            "() => parseFloat(document.getElementById('h-fps').textContent) > 20"
        )
        page.wait_for_function(
            "() => parseFloat(document.getElementById('h-bitrate').textContent) > 10"
        )
        assert "avc1" in (page.locator("#h-codecs").text_content() or "")
        # ffmpeg's stream is clean: nothing dropped on ingest, no slow viewer skipped.
        assert page.locator("#h-dropped").text_content() == "0"
        assert page.locator("#h-skipped").text_content() == "0 packets"
        assert page.locator("#h-discontinuities").text_content() == "0"
        assert stream.get_by_label("Title", exact=True).input_value() == "Studio test run"
        screenshots.save(page, "studio", full_page=True)

        page.get_by_role("button", name="End stream").click()
        page.locator("#live-state[data-state=offline]").wait_for()
        ended = page.locator("#stream-ended")
        ended.get_by_text(
            "Stream ended. Your encoder will be refused until you go live again."
        ).wait_for()
        trio.from_thread.run(reconnect_refused, key)

        # Back later: still ended, and the last stream's title and description are the
        # next one's; the keys say how they are shown and replaced.
        page.reload()
        ended.wait_for()
        page.wait_for_function(
            "() => document.getElementById('stream-title').value === 'Studio test run'"
        )
        assert stream.get_by_label("Description", exact=True).input_value() == "from the browser"
        assert "shown only once" in (page.locator("#key-help").text_content() or "")
        screenshots.save(page, "studio-ended")
        page.get_by_role("button", name="Go live again").click()
        page.locator("#live-state[data-state=ready]").wait_for()
        assert ended.is_hidden()
        trio.from_thread.run(publish, key)
        page.locator("#live-state[data-state=live]").wait_for()
        assert stream.get_by_label("Title", exact=True).input_value() == "Studio test run"
        assert log.errors == []
        context.close()

    await in_browser(scenario)


async def test_recordings_and_uploads_are_listed_apart_with_their_state(server: Server) -> None:
    token, user = await server.register("dave")
    db = server.app.trioflix.db
    recording = await create_video(
        db, user_id=user["id"], title="Tuesday stream", description="", origin="live"
    )
    await set_progress(db, recording, 0.4)
    upload = await create_video(
        db, user_id=user["id"], title="broken.mov", description="", origin="upload"
    )
    await set_failed(db, upload, "no video stream")

    def scenario(browser: Browser) -> None:
        context = new_context(browser, server.url, login=(token, user))
        page, log = logged_page(context)
        page.goto("/studio")
        recordings = page.get_by_role("region", name="Recordings", exact=True)
        uploads = page.get_by_role("region", name="Uploads", exact=True)
        item = recordings.locator(f".video-item[data-video='{recording}']")
        item.wait_for()
        assert item.get_attribute("data-state") == "processing"
        assert "40%" in (item.text_content() or "")
        assert item.get_by_role("progressbar").get_attribute("value") == "40"
        assert recordings.locator(".video-item").count() == 1
        failed = uploads.locator(f".video-item[data-video='{upload}']")
        failed.wait_for()
        assert failed.locator(".state-badge").text_content() == "failed"
        assert "no video stream" in (failed.text_content() or "")
        assert uploads.locator(".video-item").count() == 1
        assert log.errors == []
        context.close()

    await in_browser(scenario)


# The studio reloads its lists every 5 s (studio_videos.js, VIDEOS_POLL_MS).
NEXT_LOAD_WITHIN_S = 15.0


async def test_an_edit_form_opened_while_the_lists_load_stays_open(server: Server) -> None:
    token, user = await server.register("erin")
    video = await create_video(
        server.app.trioflix.db, user_id=user["id"], title="Picnic", description="", origin="upload"
    )

    def scenario(browser: Browser) -> None:
        context = new_context(browser, server.url, login=(token, user))
        page, log = logged_page(context)
        page.goto("/studio")
        item = page.locator(f".video-item[data-video='{video}']")
        item.wait_for()
        # Hold the next reload of the lists, open the form, then let the reload answer.
        held: list[Route] = []

        def hold(route: Route) -> None:
            held.append(route)

        page.route(lambda url: "/api/videos?mine=1" in url, hold)
        deadline = time.monotonic() + NEXT_LOAD_WITHIN_S
        while not held:
            assert time.monotonic() < deadline, "the studio did not reload its lists"
            page.wait_for_timeout(100)
        item.get_by_role("button", name="Edit").click()
        form = item.get_by_role("form")
        form.get_by_label("Title").fill("Picnic by the lake")
        with page.expect_request_finished(lambda request: "/api/videos?mine=1" in request.url):
            held[0].continue_()
        page.wait_for_timeout(300)  # the answer drawn, were it drawn
        assert form.is_visible(), "the reload redrew the list under the open form"
        assert form.get_by_label("Title").input_value() == "Picnic by the lake"
        page.unroute_all()
        form.get_by_role("button", name="Save").click()
        item.locator(".video-title", has_text="Picnic by the lake").wait_for()  # saved, redrawn
        assert log.errors == []
        context.close()

    await in_browser(scenario)
