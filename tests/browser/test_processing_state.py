"""Processing as the pages say it: a queued job with the jobs ahead of it, not "0%", and a
recording watchable while its other qualities are made."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.browser.helpers import ONE_BACKEND, in_browser, logged_page, new_context
from trioflix.jobs.queue import enqueue
from trioflix.media.library import create_video, set_progress, video_subject

if TYPE_CHECKING:
    from playwright.sync_api import Browser

    from tests.conftest import Server

pytestmark = [pytest.mark.slow, pytest.mark.interop, ONE_BACKEND]


async def test_the_studio_and_the_video_page_say_queued_with_the_jobs_ahead(
    server: Server,
) -> None:
    token, user = await server.register("erin")
    db = server.app.trioflix.db
    # A kind no worker here runs: the jobs stay where the test puts them.
    for n in range(2):
        await enqueue(db, "test.held", {}, subject=f"other:{n}")
    waiting = await create_video(
        db, user_id=user["id"], title="holiday.mp4", description="", origin="upload"
    )
    await enqueue(db, "test.held", {}, subject=video_subject(waiting))
    recording = await create_video(
        db, user_id=user["id"], title="Morning show", description="", origin="live"
    )
    await db.execute(
        "UPDATE videos SET state = 'ready', ladder_state = 'pending' WHERE id = $1", recording
    )
    await set_progress(db, recording, 0.4)
    ladder = await enqueue(db, "test.held", {}, subject=video_subject(recording))
    await db.execute("UPDATE jobs SET state = 'running' WHERE id = $1", ladder)

    def scenario(browser: Browser) -> None:
        context = new_context(browser, server.url, login=(token, user))
        page, log = logged_page(context)
        page.goto("/studio")
        queued = page.locator(f"#my-uploads .video-item[data-video='{waiting}']")
        queued.locator(".processing-state").wait_for()
        assert queued.locator(".processing-state").text_content() == "Queued, 2 ahead of it"
        assert queued.locator("progress").count() == 0
        made = page.locator(f"#my-recordings .video-item[data-video='{recording}']")
        made.locator(".processing-state").wait_for()
        text = made.locator(".processing-state").text_content()
        assert text == "Watchable \u00b7 other qualities 40%", text

        assert log.errors == []

        # A video not yet ready is its owner's alone and a page request carries no
        # token: the page comes with a 404 (which the console reports once), and the
        # owner's script, which sends the token, shows the processing.
        response = page.goto(f"/watch/{waiting}")
        assert response is not None and response.status == 404
        page.locator("#processing-text").get_by_text("Queued, 2 ahead of it").wait_for()
        assert page.locator("#processing-bar").is_hidden()
        assert len(log.errors) == 1 and "404" in log.errors[0], log.errors
        context.close()

    await in_browser(scenario)
