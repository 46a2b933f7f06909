"""Managing videos from the pages, as their owner does: a title and description when
uploading, a file that is no video refused and deleted, edits and deletion in the
studio, the channel page's videos and recordings, and the offline slate's link to
the latest recording."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import trio

from tests.browser.helpers import ONE_BACKEND, in_browser, logged_page, new_context
from tests.interop.media import make_sample
from tests.trioflix.live_hls.helpers import start_publisher, wait_live
from tests.trioflix.uploads.helpers import V, auth, create, make_video, metadata, patch

if TYPE_CHECKING:
    from pathlib import Path

    from playwright.sync_api import Browser, Locator, Page

    from tests.browser.helpers import Screenshots
    from tests.conftest import Server

pytestmark = [pytest.mark.slow, pytest.mark.interop, ONE_BACKEND]

PROCESSING_TIMEOUT_MS = 120_000  # one media worker, a full VOD ladder on a loaded machine
REFUSAL = "This file is not a video we can play (it is not a media file we can read)."

# Every data-state each upload row had, by file name: what a person saw, in order.
WATCH_STATES = """
() => {
  window.seenStates = {};
  const note = (node) => {
    const seen = (window.seenStates[node.dataset.file] ||= []);
    if (seen[seen.length - 1] !== node.dataset.state) seen.push(node.dataset.state);
  };
  new MutationObserver((changes) => {
    for (const change of changes) {
      const nodes = change.type === "attributes" ? [change.target] : [...change.addedNodes];
      for (const node of nodes) {
        if (node.classList && node.classList.contains("upload-item")) note(node);
      }
    }
  }).observe(document.getElementById("upload-list"), {
    subtree: true, childList: true, attributes: true, attributeFilter: ["data-state"],
  });
}
"""


def _upload_row(page: Page, name: str) -> Locator:
    return page.locator(f".upload-item[data-file='{name}']")


def _wait_state(page: Page, name: str, state: str) -> None:
    page.wait_for_function(
        f"() => document.querySelector(\".upload-item[data-file='{name}']\")"
        f".dataset.state === '{state}'",
        timeout=PROCESSING_TIMEOUT_MS,
    )


@pytest.mark.settings(check_uploads=True)
async def test_upload_with_details_edit_and_delete_from_the_pages(
    server: Server, tmp_path: Path, screenshots: Screenshots
) -> None:
    token, user = await server.register("alice")
    clip = tmp_path / "beach_day.mp4"
    make_video(clip, seconds=2)
    notes = tmp_path / "notes.txt"
    notes.write_text("shopping list: milk, eggs\n" * 50)
    # Uploads a crash left behind: the studio lists them, and the upload page the one
    # this browser remembers; both delete them.
    half, remembered = [
        await create(server.client, token, 100, **{"Upload-Metadata": metadata(filename=name)})
        for name in ("half.mp4", "remembered.mp4")
    ]
    for path in (half, remembered):
        assert (await patch(server.client, token, path, 0, b"x" * 10)).status_code == 204
    # What tus-js-client keeps in localStorage for an upload it may resume.
    remembered_entry = {
        "size": 100,
        "metadata": {"filename": "remembered.mp4"},
        "creationTime": "Sun Dec 06 2026",
        "uploadUrl": server.url + remembered,
    }

    def scenario(browser: Browser) -> dict[str, Any]:
        context = new_context(browser, server.url, login=(token, user))
        # The refused file's status stream ends with its failure; nothing else may complain.
        page, log = logged_page(context)
        page.on("dialog", lambda dialog: dialog.accept())

        page.goto("/upload")
        page.evaluate(
            "(entry) => localStorage.setItem('tus::remembered::1', JSON.stringify(entry))",
            remembered_entry,
        )
        page.reload()
        left = page.locator("#unfinished .unfinished-item", has_text="remembered.mp4")
        left.get_by_role("button", name="Delete").click()
        page.locator("#unfinished").wait_for(state="hidden")
        assert page.evaluate("localStorage.getItem('tus::remembered::1')") is None

        page.evaluate(WATCH_STATES)
        page.locator("#file-input").set_input_files([str(clip), str(notes)])
        row = _upload_row(page, clip.name)
        assert row.get_by_label("Title").input_value() == "beach day"  # from the file name
        row.get_by_label("Title").fill("Beach day")
        row.get_by_label("Description").fill("Waves and sand")
        row.get_by_role("button", name="Save details").click()

        # The text file: refused with the reason, never "processing", and deletable.
        refused = _upload_row(page, notes.name)
        _wait_state(page, notes.name, "failed")
        assert REFUSAL in (refused.text_content() or "")
        assert "processing" not in page.evaluate(f"seenStates[{notes.name!r}]")
        refused_id = int(refused.get_attribute("data-video-id") or "0")
        refused.get_by_role("button", name="Delete").click()
        refused.wait_for(state="detached")

        _wait_state(page, clip.name, "ready")
        page.locator(f".upload-item[data-file='{clip.name}'][data-details-saved=true]").wait_for()
        video_id = int(row.get_attribute("data-video-id") or "0")
        screenshots.save(page, "upload-details")
        row.get_by_role("link", name="Watch").click()
        page.get_by_role("heading", name="Beach day").wait_for()
        assert page.locator("#video-description").text_content() == "Waves and sand"

        # The studio: the unfinished upload is listed and deleted; the video is edited.
        page.goto("/studio")
        uploads = page.get_by_role("region", name="Uploads", exact=True)
        unfinished = uploads.locator(".video-item[data-upload]")
        unfinished.filter(has_text="half.mp4").get_by_role("button", name="Delete").click()
        unfinished.wait_for(state="detached")
        item = uploads.locator(f".video-item[data-video='{video_id}']")
        item.get_by_role("button", name="Edit").click()
        form = item.get_by_role("form")
        form.get_by_label("Title").fill("Beach day, edited")
        form.get_by_role("button", name="Save").click()
        item.get_by_role("link", name="Beach day, edited").wait_for()
        assert "null" not in (item.text_content() or "")  # every part of the item is text
        screenshots.save(page, "studio-videos", full_page=True)

        page.goto(f"/watch/{video_id}")
        page.get_by_role("heading", name="Beach day, edited").wait_for()

        # The channel page lists it under the player; no recording, so no slate link.
        page.goto("/channel/alice")
        page.locator(f"#channel-videos .tile[data-video='{video_id}']").wait_for()
        assert "Beach day, edited" in (page.locator("#channel-videos").text_content() or "")
        page.locator(".slate").get_by_text("alice is offline").wait_for()
        assert page.locator(".slate-recording").count() == 0

        page.goto("/studio")
        item = page.locator(f".video-item[data-video='{video_id}']")
        item.get_by_role("button", name="Delete").click()
        item.wait_for(state="detached")
        page.get_by_text("No uploads yet.").wait_for()
        assert log.errors == []
        context.close()
        return {"video_id": video_id, "refused_id": refused_id}

    result = await in_browser(scenario)
    for video_id in (result["video_id"], result["refused_id"]):
        gone = await server.client.get(f"/api/videos/{video_id}", headers=auth(token))
        assert gone.status_code == 404
    objects = server.app.trioflix.objects
    assert await objects.list_prefix(f"videos/{result['video_id']}-") == []
    assert await objects.list_prefix("uploads/") == []
    unfinished = await server.client.get("/api/upload/unfinished", headers=auth(token))
    assert unfinished.json() == {"uploads": []}
    for path in (half, remembered):
        assert (await server.client.head(path, headers={**V, **auth(token)})).status_code == 410


@pytest.mark.settings(reconnect_grace=1.0)
async def test_the_offline_slate_links_the_latest_recording(
    server: Server, tmp_path: Path, nursery: trio.Nursery, screenshots: Screenshots
) -> None:
    token, _ = await server.register("bob")
    await server.client.post(
        "/api/streaming/start", json={"title": "Sunday stream"}, headers=auth(token)
    )
    sample = make_sample(tmp_path / "short.flv", seconds=4)
    key = await server.create_key(token)  # recording is on for a new key
    publisher = await start_publisher(nursery, server, key, sample.path)
    await wait_live(server, "bob")
    with trio.fail_after(60):
        await publisher.wait()
    await wait_live(server, "bob", live=False)
    with trio.fail_after(PROCESSING_TIMEOUT_MS / 1000):
        while not (  # noqa: ASYNC110 (the job runs in a child process: nothing to wait on)
            recordings := (
                await server.client.get("/api/videos", params={"channel": "bob", "origin": "live"})
            ).json()["videos"]
        ):
            await trio.sleep(0.5)
    (recording,) = recordings

    def scenario(browser: Browser) -> None:
        context = new_context(browser, server.url)
        page, log = logged_page(context)
        page.goto("/channel/bob")
        link = page.locator(".slate").get_by_role("link", name="Watch the latest recording")
        link.wait_for()
        assert link.get_attribute("href") == f"/watch/{recording['id']}"
        assert recording["title"] in (page.locator(".slate-recording").text_content() or "")
        tile = page.locator(f"#channel-videos .tile[data-video='{recording['id']}']")
        assert tile.locator(".badge.recording").text_content() == "Recording"
        screenshots.save(page, "channel-offline-recording")
        link.click()
        page.wait_for_url(f"**/watch/{recording['id']}")
        page.get_by_role("heading", name=recording["title"]).wait_for()
        assert log.errors == []
        context.close()

    await in_browser(scenario)
