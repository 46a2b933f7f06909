"""A week's schedule made in the studio, subscribed to from a calendar, and shown on the
channel page (with a countdown that ticks) and the home page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import icalendar
import pytest
import trio

from tests.browser.helpers import ONE_BACKEND, in_browser, logged_page, new_context
from tests.trioflix.test_schedule import create, jpeg
from trioflix.chat.announcements import announce_scheduled_start

if TYPE_CHECKING:
    from playwright.sync_api import Browser, FilePayload

    from tests.browser.helpers import Screenshots
    from tests.conftest import Server

pytestmark = [pytest.mark.slow, ONE_BACKEND]

BROWSER_ZONE = "America/New_York"
WEEK = [("Monday build", 1), ("Wednesday speedrun", 3), ("Friday Q&A, ask; anything", 5)]


async def feed(server: Server) -> dict[str, icalendar.cal.Component]:
    """The channel's calendar as a subscribed calendar app reads it, by SUMMARY."""
    response = await server.client.get("/channels/erin/schedule.ics")
    assert response.status_code == 200
    calendar = icalendar.Calendar.from_ical(response.content)
    return {str(event["SUMMARY"]): event for event in calendar.walk("VEVENT")}


async def test_a_week_made_in_the_studio_and_subscribed_to(
    server: Server, screenshots: Screenshots
) -> None:
    token, user = await server.register("erin")
    photo = jpeg(400, 300)  # a photo's JPEG, larger than the rest of the API takes (64 KiB)
    assert len(photo) > 64 * 1024

    def wall_time(days: int, zone: str) -> str:
        # 20:00 in the browser's zone, days from now, as a datetime-local input takes it.
        day = datetime.now(ZoneInfo(zone)) + timedelta(days=days)
        return day.replace(hour=20, minute=0, second=0, microsecond=0, tzinfo=None).isoformat(
            timespec="minutes"
        )

    def make_week(browser: Browser) -> str:
        context = new_context(browser, server.url, login=(token, user))
        page, log = logged_page(context)
        # A browser in another zone than the machine's (UTC): the form must take the
        # browser's, and the calendar must still hold the right moments.
        cdp = context.new_cdp_session(page)
        cdp.send("Emulation.setTimezoneOverride", {"timezoneId": BROWSER_ZONE})
        page.goto("/studio")
        zone = page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone")
        assert zone == BROWSER_ZONE
        panel = page.locator("#schedule-panel")
        page.wait_for_function(
            f"() => document.getElementById('schedule-zone').value === {zone!r}"
        )  # the browser's own zone by default
        for title, days in WEEK:
            panel.get_by_label("Title").fill(title)
            panel.get_by_label("Start").fill(wall_time(days, zone))
            panel.get_by_label("Minutes").fill("90")
            panel.get_by_label("Description").fill(f"{title}: bring snacks")
            if title.startswith("Friday"):
                cover: FilePayload = {
                    "name": "friday.jpg",
                    "mimeType": "image/jpeg",
                    "buffer": photo,
                }
                panel.locator("#schedule-cover").set_input_files(cover)
            panel.get_by_role("button", name="Schedule stream").click()
            panel.locator(".schedule-item", has_text=title).wait_for()
        # A start is required, and said so beside the field.
        panel.get_by_label("Title").fill("No start")
        panel.get_by_role("button", name="Schedule stream").click()
        panel.get_by_text("Start is required.").wait_for()
        panel.get_by_label("Title").fill("")

        # Edit one (the form fills with it), cancel another.
        monday = panel.locator(".schedule-item", has_text="Monday build")
        monday.get_by_role("button", name="Edit").click()
        assert panel.get_by_label("Title").input_value() == "Monday build"
        assert panel.get_by_label("Start").input_value() == wall_time(1, zone)
        panel.get_by_label("Title").fill("Monday build, part 2")
        panel.get_by_role("button", name="Save changes").click()
        panel.locator(".schedule-item", has_text="Monday build, part 2").wait_for()
        wednesday = panel.locator(".schedule-item", has_text="Wednesday speedrun")
        wednesday.get_by_role("button", name="Cancel").click()
        wednesday.get_by_text("Cancelled").wait_for()
        assert panel.locator(".schedule-item").count() == 3
        # A photo over the limit is refused before it is sent, and said so.
        friday = panel.locator(".schedule-item", has_text="Friday Q&A")
        friday.get_by_role("button", name="Edit").click()
        over = photo * (1 + 2 * 1024**2 // len(photo))
        too_big: FilePayload = {"name": "big.jpg", "mimeType": "image/jpeg", "buffer": over}
        panel.locator("#schedule-cover").set_input_files(too_big)
        panel.get_by_role("button", name="Save changes").click()
        panel.get_by_text("Cover image: at most 2 MiB").wait_for()
        panel.scroll_into_view_if_needed()
        screenshots.save(page, "studio-schedule")
        assert log.errors == []
        context.close()
        return str(zone)

    before = await feed(server)
    assert before == {}
    zone = await in_browser(make_week)

    events = await feed(server)
    assert set(events) == {
        "Monday build, part 2",
        "Wednesday speedrun",
        "Friday Q&A, ask; anything",
    }
    for title, days in WEEK:
        summary = "Monday build, part 2" if title == "Monday build" else title
        event = events[summary]
        start = datetime.fromisoformat(wall_time(days, zone)).replace(tzinfo=ZoneInfo(zone))
        assert event.decoded("DTSTART") == start.astimezone(UTC)
        assert event.decoded("DURATION") == timedelta(minutes=90)
        assert str(event["DESCRIPTION"]) == f"{title}: bring snacks"
    assert str(events["Wednesday speedrun"]["STATUS"]) == "CANCELLED"
    assert str(events["Monday build, part 2"]["STATUS"]) == "CONFIRMED"
    assert events["Monday build, part 2"].decoded("SEQUENCE") >= 1
    # The cover the studio sent, stored and served as it was.
    entries = (await server.client.get("/api/channels/erin/schedule")).json()["entries"]
    (friday,) = [e for e in entries if e["title"].startswith("Friday")]
    served = await server.client.get(friday["cover_url"])
    assert served.content == photo and served.headers["content-type"] == "image/jpeg"

    # One more, starting in a few minutes: the channel page counts down to it, the rest
    # of the week below; the home page lists it as starting soon.
    soon = await create(
        server,
        token,
        title="Surprise stream",
        start=(datetime.now(UTC) + timedelta(minutes=3)).isoformat(timespec="seconds"),
        time_zone="UTC",
    )

    def watch_countdown(browser: Browser) -> None:
        context = new_context(browser, server.url)
        page, log = logged_page(context)
        page.goto("/channel/erin")
        card = page.locator("#schedule-next")
        card.get_by_text("Surprise stream").wait_for()
        clock = page.locator("#schedule-countdown")
        first = clock.text_content() or ""
        assert first.startswith("Starts in 2 min") or first.startswith("Starts in 3 min"), first
        page.wait_for_function(
            f"() => document.getElementById('schedule-countdown').textContent !== {first!r}"
        )  # it ticks
        week = page.locator("#schedule-week")
        week.get_by_text("Monday build, part 2").wait_for()
        week.get_by_text("Friday Q&A, ask; anything").wait_for()
        assert week.get_by_text("Wednesday speedrun").count() == 0  # cancelled: not coming
        assert page.locator("#schedule-subscribe").get_attribute("href", timeout=1000) == (
            f"webcal://{server.url.removeprefix('http://')}/channels/erin/schedule.ics"
        )
        # The chat panel shows the room's announcement as the server's own line.
        trio.from_thread.run(
            announce_scheduled_start, server.app.trioflix.chat, "erin", {**soon, "state": "live"}
        )
        page.locator(
            "#chat .chat-announcement", has_text="“Surprise stream” is live now"
        ).wait_for()
        screenshots.save(page, "channel-schedule", full_page=True)
        page.goto("/")
        page.locator("#soon-list .schedule-item", has_text="Surprise stream").wait_for()
        assert (
            page.locator(f"#soon-list [data-entry='{soon['id']}'] a").get_attribute("href")
            == "/channel/erin"
        )
        assert log.errors == []
        context.close()

    await in_browser(watch_countdown)
