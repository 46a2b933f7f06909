"""The upload page and the video page: files dropped on the page become playable videos;
an upload cut off by a reload resumes where it stopped."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.helpers import (
    CONTROLS_SHOWN,
    ONE_BACKEND,
    PHONES,
    assert_controls_fit,
    in_browser,
    logged_page,
    new_context,
    new_phone_context,
    tap_video,
    wait_playing,
)
from tests.trioflix.uploads.helpers import make_video
from trioflix.media.library import get_video
from trioflix.media.processing import ORIGINAL_NAME

if TYPE_CHECKING:
    from pathlib import Path

    from playwright.sync_api import Browser, Page, Request, Route

    from tests.browser.helpers import Screenshots
    from tests.conftest import Server

pytestmark = [pytest.mark.slow, pytest.mark.interop, ONE_BACKEND]

PROCESSING_TIMEOUT_MS = 120_000  # one media worker; two small videos, each a full ladder

DROP_FILES = """
([zone, files]) => {
  const transfer = new DataTransfer();
  for (const {name, type, data} of files) {
    const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
    transfer.items.add(new File([bytes], name, {type}));
  }
  for (const kind of ["dragenter", "dragover", "drop"]) {
    const init = {dataTransfer: transfer, bubbles: true, cancelable: true};
    zone.dispatchEvent(new DragEvent(kind, init));
  }
}
"""


def drop_files(page: Page, paths: list[Path]) -> None:
    """Drag and drop ``paths`` onto the drop zone, as a person dragging from a file manager."""
    files = [
        {"name": p.name, "type": "video/mp4", "data": base64.b64encode(p.read_bytes()).decode()}
        for p in paths
    ]
    zone = page.locator("#drop-zone").element_handle()
    page.evaluate(DROP_FILES, [zone, files])


def upload_row(page: Page, name: str) -> Any:
    return page.locator(f".upload-item[data-file='{name}']")


async def test_dropped_uploads_become_playable_videos_with_seek_previews(
    server: Server, tmp_path: Path, screenshots: Screenshots
) -> None:
    login = await server.register("alice")
    trip = tmp_path / "mountain_trip.mp4"
    make_video(trip, seconds=6, width=854, height=480)
    short = tmp_path / "short-clip.mp4"
    make_video(short, seconds=2, width=320, height=240)

    def scenario(browser: Browser) -> None:
        context = new_context(browser, server.url, login=login)
        page, log = logged_page(context)
        page.goto("/upload")
        drop_files(page, [trip, short])
        for name in (trip.name, short.name):
            upload_row(page, name).wait_for()
        for name in (trip.name, short.name):
            row = upload_row(page, name)
            page.wait_for_function(
                f"() => document.querySelector(\".upload-item[data-file='{name}']\")"
                ".dataset.state === 'ready'",
                timeout=PROCESSING_TIMEOUT_MS,
            )
            assert row.get_by_role("link", name="Watch").is_visible()
        screenshots.save(page, "upload")

        upload_row(page, trip.name).get_by_role("link", name="Watch").click()
        page.wait_for_url("**/watch/*")
        page.get_by_role("heading", name="mountain trip").wait_for()
        wait_playing(page)
        quality = page.get_by_label("Quality")
        page.wait_for_function("() => document.querySelectorAll('.quality option').length === 3")
        assert quality.locator("option").all_text_contents()[1:] == ["480p", "360p"]
        quality.select_option(label="360p")
        page.wait_for_function("() => document.querySelector('video').videoHeight === 360")

        # Seek preview: hovering the seek bar shows that moment's tile of the sprite.
        seek = page.get_by_label("Seek")
        page.wait_for_function("() => trioflix.player.previewCues.length > 0")
        box = seek.bounding_box()
        assert box is not None
        page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2)
        preview = page.locator(".seek-preview")
        preview.wait_for()
        image = preview.locator(".seek-preview-image").evaluate(
            "(node) => getComputedStyle(node).backgroundImage"
        )
        assert "sprite.jpg" in image
        assert preview.locator(".seek-preview-time").text_content() == "0:03"
        screenshots.save(page, "video")

        # Keyboard: k pauses, the right arrow seeks 5 s.
        page.locator(".player").focus()
        page.keyboard.press("k")
        page.wait_for_function("() => document.querySelector('video').paused")
        before = float(page.evaluate("document.querySelector('video').currentTime"))
        page.keyboard.press("ArrowRight")
        after = float(page.evaluate("document.querySelector('video').currentTime"))
        assert after == pytest.approx(min(before + 5, 6.0), abs=0.5)

        # The same player on a phone: a tap shows its controls, all inside it.
        phone = new_phone_context(browser, server.url, PHONES["390x844"])
        phone_page = phone.new_page()
        phone_page.goto(page.url)
        wait_playing(phone_page)
        tap_video(phone_page)
        phone_page.wait_for_function(f"() => {CONTROLS_SHOWN}")
        assert {"Seek", "Settings", "Fullscreen (f)"} <= set(assert_controls_fit(phone_page))
        assert phone_page.evaluate("document.querySelector('video').paused") is False
        screenshots.save(phone_page, "video-phone")
        phone.close()

        page.goto("/")
        page.locator("#video-grid .tile", has_text="mountain trip").wait_for()
        page.locator("#video-grid .tile", has_text="short clip").wait_for()
        assert log.errors == []
        context.close()

    await in_browser(scenario)


@pytest.mark.settings(keep_originals=True)  # to compare the stored bytes with the file's
async def test_upload_cut_off_by_a_reload_resumes_where_it_stopped(
    server: Server, tmp_path: Path
) -> None:
    login = await server.register("alice")
    source = tmp_path / "long_take.mp4"
    make_video(source, seconds=4, width=640, height=360)
    data = source.read_bytes()
    half = len(data) // 2
    patches: list[tuple[int, int]] = []  # (Upload-Offset, body length) as the server got them

    def cut_after_half(route: Route, request: Request) -> None:
        if request.method != "PATCH":
            route.continue_()
            return
        if not patches:
            # The first PATCH carries the file from offset 0; the server gets half of it
            # (Chromium does not hand a File body to Playwright, so the test sends its copy).
            patches.append((int(request.headers["upload-offset"]), half))
            route.continue_(post_data=data[:half])
        else:
            route.abort("connectionreset")  # the network is gone until the page reloads

    def scenario(browser: Browser) -> dict[str, Any]:
        context = new_context(browser, server.url, login=login)
        page = context.new_page()
        page.route("**/api/upload/video/tus/*", cut_after_half)
        page.goto("/upload")
        with page.expect_response(lambda r: r.request.method == "PATCH"):
            page.locator("#file-input").set_input_files(str(source))
        page.reload()
        page.unroute_all(behavior="ignoreErrors")

        # The page remembers the unfinished upload and asks for the file again.
        page.locator("#unfinished", has_text=source.name).wait_for()
        offsets: list[str] = []
        page.on(
            "request",
            lambda r: (
                offsets.append(r.headers.get("upload-offset", "")) if r.method == "PATCH" else None
            ),
        )
        page.locator("#file-input").set_input_files(str(source))
        row = upload_row(page, source.name)
        assert row.get_attribute("data-resumed") == "true"
        page.wait_for_function(
            f"() => document.querySelector(\".upload-item[data-file='{source.name}']\")"
            ".dataset.state === 'ready'",
            timeout=PROCESSING_TIMEOUT_MS,
        )
        video_id = int(row.get_attribute("data-video-id") or "0")
        context.close()
        return {"offsets": offsets, "video_id": video_id}

    result = await in_browser(scenario)
    assert patches == [(0, half)]
    assert result["offsets"] == [str(half)]  # only the missing half was sent again
    video = await get_video(server.app.trioflix.db, result["video_id"])
    assert video is not None
    assert await server.app.trioflix.objects.read_bytes(video.prefix + ORIGINAL_NAME) == data
