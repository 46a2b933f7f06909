"""Scheduled streams: the API's rules on both databases, the calendar feed read by an
independent iCalendar parser (the icalendar package), covers, and missed entries."""

from __future__ import annotations

import os
import struct
import time
import zlib
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import icalendar
import pytest
import trio

from tests.api import auth
from tests.conftest import open_server
from trioflix.config import ConfigError, Settings
from trioflix.live.channel.schedule import run_missed_sweep
from trioflix.media.covers import adopt_database_covers
from trioflix.store import schedule as schedule_store

if TYPE_CHECKING:
    from tests.conftest import Server

SCHEDULE = "/api/schedule"
BERLIN = ZoneInfo("Europe/Berlin")
AWKWARD = "Mario, Zelda; C:\\saves — part “2”\nbring snacks ✨ " + "é" * 60


def local_start(days: float, zone: ZoneInfo = BERLIN) -> str:
    """A local wall time ``days`` from now in ``zone``, as the studio's form sends it."""
    moment = datetime.now(zone) + timedelta(days=days)
    return moment.replace(second=0, microsecond=0, tzinfo=None).isoformat(timespec="minutes")


async def create(server: Server, token: str, **fields: Any) -> dict[str, Any]:
    body = {"title": "Speedrun", "start": local_start(1), "time_zone": "Europe/Berlin", **fields}
    response = await server.client.post(SCHEDULE, json=body, headers=auth(token))
    assert response.status_code == 201, response.text
    entry: dict[str, Any] = response.json()["entry"]
    return entry


async def public_entries(server: Server, channel: str) -> list[dict[str, Any]]:
    response = await server.client.get(f"/api/channels/{channel}/schedule")
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()["entries"]
    return entries


async def calendar(server: Server, channel: str) -> icalendar.Calendar:
    response = await server.client.get(f"/channels/{channel}/schedule.ics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    return icalendar.Calendar.from_ical(response.content)


async def test_schedule_lifecycle(server: Server) -> None:
    token, _ = await server.register("alice")
    start = local_start(2)
    entry = await create(server, token, start=start, description="first\nsecond", duration_s=5400)
    expected = datetime.fromisoformat(start).replace(tzinfo=BERLIN)
    assert entry["starts_at"] == expected.timestamp()
    assert entry["start_local"] == expected.isoformat(timespec="minutes")
    assert entry["ends_at"] == entry["starts_at"] + 5400
    assert entry["state"] == "scheduled" and entry["channel"] == "alice"
    assert entry["cover_url"] is None and entry["revision"] == 0

    later = await create(server, token, title="Later", start=local_start(3))
    # A start with an offset is converted to the zone the entry is shown in.
    day = (datetime.now(UTC) + timedelta(days=10)).date().isoformat()
    tokyo = await create(
        server, token, title="Tokyo", start=f"{day}T09:00+00:00", time_zone="Asia/Tokyo"
    )
    assert tokyo["start_local"] == f"{day}T18:00+09:00"
    own = (await server.client.get(SCHEDULE, headers=auth(token))).json()["entries"]
    assert [e["id"] for e in own] == [entry["id"], later["id"], tokyo["id"]]  # soonest first
    assert await public_entries(server, "alice") == own

    patched = await server.client.patch(
        f"{SCHEDULE}/{entry['id']}",
        json={"title": "Speedrun, part 2", "time_zone": "America/New_York"},
        headers=auth(token),
    )
    assert patched.status_code == 200, patched.text
    changed = patched.json()["entry"]
    assert changed["title"] == "Speedrun, part 2" and changed["revision"] == 1
    assert changed["starts_at"] == entry["starts_at"]  # the moment stays; only its zone moved
    assert changed["start_local"] == expected.astimezone(ZoneInfo("America/New_York")).isoformat(
        timespec="minutes"
    )

    cancelled = await server.client.patch(
        f"{SCHEDULE}/{later['id']}", json={"cancelled": True}, headers=auth(token)
    )
    assert cancelled.json()["entry"]["state"] == "cancelled"

    deleted = await server.client.delete(f"{SCHEDULE}/{tokyo['id']}", headers=auth(token))
    assert deleted.status_code == 204
    gone = await server.client.delete(f"{SCHEDULE}/{tokyo['id']}", headers=auth(token))
    assert gone.status_code == 404
    assert [e["id"] for e in await public_entries(server, "alice")] == [entry["id"], later["id"]]

    soon = (await server.client.get(f"{SCHEDULE}/soon")).json()["entries"]
    assert soon == []  # the next starts in two days
    today = await create(server, token, title="Tonight", start=local_start(0.25))
    [soon_entry] = (await server.client.get(f"{SCHEDULE}/soon")).json()["entries"]
    assert soon_entry["id"] == today["id"] and soon_entry["display_name"] == "alice"


async def test_only_the_owner_changes_an_entry(server: Server) -> None:
    alice, _ = await server.register("alice")
    mallory, _ = await server.register("mallory")
    entry = await create(server, alice)
    url = f"{SCHEDULE}/{entry['id']}"
    assert (
        await server.client.patch(url, json={"title": "x"}, headers=auth(mallory))
    ).status_code == 404
    assert (await server.client.delete(url, headers=auth(mallory))).status_code == 404
    assert (await server.client.get(SCHEDULE, headers=auth(mallory))).json()["entries"] == []
    assert (await server.client.get(SCHEDULE)).status_code == 401
    assert (await server.client.post(SCHEDULE, json={})).status_code == 401
    assert (await server.client.get("/api/channels/nobody/schedule")).status_code == 404
    assert (await server.client.get("/channels/nobody/schedule.ics")).status_code == 404


@pytest.mark.parametrize(
    ("fields", "field", "sentence"),
    [
        ({"time_zone": "Mars/Olympus"}, "time_zone", "is not an IANA time zone"),
        ({"time_zone": "../../etc/passwd"}, "time_zone", "is not an IANA time zone"),
        ({"start": "next tuesday"}, "start", "must be a date and time"),
        ({"start": "2001-01-01T10:00"}, "start", "must not be in the past"),
        ({"start": "2999-01-01T10:00"}, "start", "at most a year ahead"),
        ({"title": ""}, "title", "must not be empty"),
        ({"title": "x" * 141}, "title", "at most 140 characters"),
        ({"duration_s": 60}, "duration_s", "at least 300"),
        ({"duration_s": 90000}, "duration_s", "at most 86400"),
        ({"description": "d" * 5001}, "description", "at most 5000 characters"),
    ],
)
@pytest.mark.backends("sqlite", reason="input checks run before the database is asked")
async def test_bad_input_is_a_422_with_a_sentence(
    server: Server, fields: dict[str, Any], field: str, sentence: str
) -> None:
    token, _ = await server.register("alice")
    body = {"title": "Speedrun", "start": local_start(1), "time_zone": "Europe/Berlin", **fields}
    response = await server.client.post(SCHEDULE, json=body, headers=auth(token))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == field and sentence in error["message"]
    entry = await create(server, token)
    patched = await server.client.patch(
        f"{SCHEDULE}/{entry['id']}", json=fields, headers=auth(token)
    )
    assert patched.status_code == 422 and patched.json()["error"]["field"] == field


async def test_upcoming_entries_are_bounded(server: Server) -> None:
    token, user = await server.register("alice")
    db = server.app.trioflix.db
    now = time.time()
    for n in range(schedule_store.MAX_UPCOMING):
        await schedule_store.create_entry(
            db,
            user_id=user["id"],
            title=f"s{n}",
            description="",
            starts_at=now + 3600 * (n + 1),
            time_zone="UTC",
            duration_s=3600,
        )
    refused = await server.client.post(
        SCHEDULE,
        json={"title": "one more", "start": local_start(1), "time_zone": "UTC"},
        headers=auth(token),
    )
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "limit_reached"


async def test_calendar_feed(server: Server) -> None:
    token, _ = await server.register("alice")
    first = await create(server, token, title=AWKWARD, description=AWKWARD, duration_s=5400)
    second = await create(
        server,
        token,
        title="Late show",
        start=local_start(3, ZoneInfo("Asia/Kolkata")),
        time_zone="Asia/Kolkata",
    )
    feed = await calendar(server, "alice")
    assert str(feed["VERSION"]) == "2.0" and "trioflix" in str(feed["PRODID"])
    events = {str(event["SUMMARY"]): event for event in feed.walk("VEVENT")}
    assert set(events) == {AWKWARD, "Late show"}
    awkward = events[AWKWARD]
    assert str(awkward["DESCRIPTION"]) == AWKWARD
    assert awkward.decoded("DTSTART") == datetime.fromtimestamp(first["starts_at"], UTC)
    assert awkward.decoded("DURATION") == timedelta(seconds=5400)
    assert str(awkward["URL"]) == f"{server.url}/channel/alice"
    assert str(awkward["STATUS"]) == "CONFIRMED"
    assert awkward.decoded("DTSTAMP").tzinfo is not None
    late = events["Late show"]
    assert late.decoded("DTSTART") == datetime.fromtimestamp(second["starts_at"], UTC)
    uids = {str(event["UID"]) for event in events.values()}
    assert len(uids) == 2

    # An edit keeps the UID and raises SEQUENCE, so a subscribed calendar updates the
    # event in place; a cancelled one stays in the feed as cancelled.
    await server.client.patch(
        f"{SCHEDULE}/{first['id']}",
        json={"title": "Renamed", "start": local_start(4)},
        headers=auth(token),
    )
    await server.client.patch(
        f"{SCHEDULE}/{second['id']}", json={"cancelled": True}, headers=auth(token)
    )
    events = {
        str(event["UID"]): event for event in (await calendar(server, "alice")).walk("VEVENT")
    }
    assert set(events) == uids
    renamed = events[str(awkward["UID"])]
    assert str(renamed["SUMMARY"]) == "Renamed"
    assert renamed.decoded("SEQUENCE") > awkward.decoded("SEQUENCE")
    assert str(events[str(late["UID"])]["STATUS"]) == "CANCELLED"


def png(width: int, height: int, *, noise: bool = False) -> bytes:
    """A valid greyscale PNG: of one grey, or of random pixels (about a byte each)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(
        b"\x00" + (os.urandom(width) if noise else b"\x80" * width) for _ in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def jpeg(width: int, height: int) -> bytes:
    """A baseline JPEG of random pixels, from PyAV's MJPEG encoder: about a byte a pixel."""
    import av

    codec = av.CodecContext.create("mjpeg", "w")
    assert isinstance(codec, av.VideoCodecContext)
    codec.width, codec.height, codec.pix_fmt = width, height, "yuvj420p"
    codec.time_base = Fraction(1, 25)
    codec.options = {"qmin": "2", "qmax": "2"}
    frame = av.VideoFrame(width, height, "yuvj420p")
    for plane in frame.planes:
        plane.update(os.urandom(plane.buffer_size))
    return b"".join(bytes(packet) for packet in [*codec.encode(frame), *codec.encode(None)])


# A phone's kind of JPEG: progressive, after JFIF and Exif segments.
PHONE_JPEG = Path(__file__).parents[1] / "protocols/image/vectors/pillow-33x17-progressive-exif.jpg"


async def stored_keys(server: Server) -> list[str]:
    return [info.key for info in await server.app.trioflix.objects.list_prefix("schedule/")]


@pytest.mark.backends("sqlite", reason="the cover's bytes are in the media store, not the database")
async def test_cover_image(server: Server, media_storage: str) -> None:
    token, _ = await server.register("alice")
    entry = await create(server, token)
    url = f"{SCHEDULE}/{entry['id']}/cover"
    for image, content_type in [
        (PHONE_JPEG.read_bytes(), "image/jpeg"),
        (jpeg(1024, 768), "image/jpeg"),  # about 1 MiB
        (png(1024, 1024, noise=True), "image/png"),
    ]:
        headers = {**auth(token), "Content-Type": content_type}
        put = await server.client.put(url, content=image, headers=headers)
        assert put.status_code == 200, put.text
        cover_url = put.json()["entry"]["cover_url"]
        assert cover_url.startswith(f"{SCHEDULE}/covers/{entry['id']}?")
        served = await server.client.get(cover_url)
        assert served.status_code == 200 and served.content == image
        assert served.headers["content-type"] == content_type
        assert served.headers["cache-control"] == "public, max-age=86400"
        assert served.headers["x-content-type-options"] == "nosniff"
        head = await server.client.head(cover_url)
        assert head.status_code == 200 and head.headers["content-length"] == str(len(image))
    assert len(image) > 1024 * 1024
    # One object per entry, under a key made of its id alone.
    assert await stored_keys(server) == [f"schedule/{entry['id']}/cover"]
    stored = await server.app.trioflix.objects.head(f"schedule/{entry['id']}/cover")
    assert stored.content_type == "image/png" and stored.size == len(image)

    headers = {**auth(token), "Content-Type": "image/png"}
    over = await server.client.put(url, content=png(1600, 1400, noise=True), headers=headers)
    assert over.status_code == 413, over.text
    assert over.json()["error"]["code"] == "request_entity_too_large"
    # The rest of the body is never read: the connection ends, and the next request
    # (on a new one) is answered at once rather than after the unread body drained.
    assert over.headers["connection"] == "close"
    # The other API routes keep their 64 KiB.
    long_body = {"title": "x", "start": local_start(1), "time_zone": "UTC", "pad": "x" * 70_000}
    too_long = await server.client.post(SCHEDULE, json=long_body, headers=auth(token))
    assert too_long.status_code == 413
    wrong_type = await server.client.put(
        url, content=PHONE_JPEG.read_bytes(), headers={**auth(token), "Content-Type": "image/png"}
    )
    assert wrong_type.status_code == 415
    assert wrong_type.json()["error"]["message"] == "the body is image/jpeg, not image/png"
    bmp = await server.client.put(url, content=b"BM" + bytes(100), headers=headers)
    assert bmp.status_code == 415
    assert bmp.json()["error"]["message"] == "the image must be PNG, GIF, WebP or JPEG"
    huge = await server.client.put(url, content=png(2000, 10), headers=headers)
    assert huge.status_code == 422 and "covers are at most 1920x1920" in huge.text
    # Nothing but an entry's id names an object: other paths are no entry.
    for path in ["..%2F..%2Fprobe/cover", "1%2F..%2F2/cover", "-1/cover"]:
        strange = await server.client.put(f"{SCHEDULE}/{path}", content=png(8, 8), headers=headers)
        assert 400 <= strange.status_code < 500 and strange.json()["error"], path
    for path in ["..%2Fschedule", "..", f"{entry['id']}%2F..%2F{entry['id']}"]:
        strange = await server.client.get(f"{SCHEDULE}/covers/{path}")
        assert 400 <= strange.status_code < 500, path
    assert await stored_keys(server) == [f"schedule/{entry['id']}/cover"]
    # Another streamer's entry is no entry of theirs: nothing is stored.
    bob, _ = await server.register("bob")
    theirs = await server.client.put(
        url, content=png(8, 8), headers={**auth(bob), "Content-Type": "image/png"}
    )
    assert theirs.status_code == 404
    assert (await server.client.get(cover_url)).content == image

    removed = await server.client.delete(url, headers=auth(token))
    assert removed.json()["entry"]["cover_url"] is None
    assert (await server.client.get(cover_url)).status_code == 404
    assert await stored_keys(server) == []
    # Deleted with its entry.
    headers = {**auth(token), "Content-Type": "image/jpeg"}
    assert (
        await server.client.put(url, content=PHONE_JPEG.read_bytes(), headers=headers)
    ).is_success
    assert await stored_keys(server) == [f"schedule/{entry['id']}/cover"]
    deleted = await server.client.delete(f"{SCHEDULE}/{entry['id']}", headers=auth(token))
    assert deleted.status_code == 204
    assert await stored_keys(server) == []


async def test_covers_kept_in_the_database_move_into_the_store(
    settings: Settings, nursery: trio.Nursery
) -> None:
    """An installation from before the store kept covers in the database: its next
    start moves them into the store, before it serves."""
    image = png(320, 180)
    async with open_server(settings, nursery) as before:
        token, _ = await before.register("alice")
        entry = await create(before, token)
        other = await create(before, token)
        # As migration 11 left it: the bytes in the row.
        await before.app.trioflix.db.execute(
            "UPDATE schedule_entries SET cover_type = 'image/png', cover = $2 WHERE id = $1",
            entry["id"],
            image,
        )
    assert before.app.services_done is not None
    with trio.fail_after(30):
        await before.app.services_done.wait()

    async with open_server(settings, nursery) as after:
        assert await stored_keys(after) == [f"schedule/{entry['id']}/cover"]
        db = after.app.trioflix.db
        assert await schedule_store.blob_cover_ids(db) == []
        entries = await public_entries(after, "alice")
        assert [e["id"] for e in entries] == [entry["id"], other["id"]]
        served = await after.client.get(entries[0]["cover_url"])
        assert served.content == image and served.headers["content-type"] == "image/png"
        assert entries[1]["cover_url"] is None
        # Another start finds nothing left to move.
        assert await adopt_database_covers(db, after.app.trioflix.objects) == 0


async def test_missed_entries(server: Server) -> None:
    token, _ = await server.register("alice")
    entry = await create(server, token, start=local_start(1 / 24))  # in an hour
    cancelled = await create(server, token, start=local_start(1 / 24))
    await server.client.patch(
        f"{SCHEDULE}/{cancelled['id']}", json={"cancelled": True}, headers=auth(token)
    )
    db = server.app.trioflix.db
    # Just inside the window (an hour after the start): not missed yet.
    window_end = entry["starts_at"] + 3600
    assert await schedule_store.mark_missed(db, now=window_end - 1, after_s=3600) == 0

    async def state_of(entry_id: int) -> str:
        entries = await public_entries(server, "alice")
        return str(next(e["state"] for e in entries if e["id"] == entry_id))

    # The service's sweep, on a clock just past the window: the entry is missed.
    async with trio.open_nursery() as nursery:
        objects = server.app.trioflix.objects
        sweep = partial(run_missed_sweep, db, objects, 3600, 0.05, clock=lambda: window_end + 1)
        await nursery.start(sweep)
        with trio.fail_after(30):
            while await state_of(entry["id"]) != "missed":  # noqa: ASYNC110 (polls the API)
                await trio.sleep(0.05)
        nursery.cancel_scope.cancel()
    assert await state_of(cancelled["id"]) == "cancelled"  # called off is not missed
    refused = await server.client.patch(
        f"{SCHEDULE}/{entry['id']}", json={"title": "again"}, headers=auth(token)
    )
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "not_editable"

    # Entries long over are purged, their covers first.
    headers = {**auth(token), "Content-Type": "image/png"}
    for with_cover in (entry, cancelled):
        put = await server.client.put(
            f"{SCHEDULE}/{with_cover['id']}/cover", content=png(8, 8), headers=headers
        )
        assert put.status_code == 200
    purge_time = entry["ends_at"] + schedule_store.PURGE_AFTER_S + 1
    await schedule_store.mark_missed(db, now=purge_time, after_s=3600)
    assert await schedule_store.get_entry(db, entry["id"]) is not None  # its cover is stored
    assert len(await stored_keys(server)) == 2
    async with trio.open_nursery() as nursery:
        objects = server.app.trioflix.objects
        sweep = partial(run_missed_sweep, db, objects, 3600, 0.05, clock=lambda: purge_time)
        await nursery.start(sweep)
        with trio.fail_after(30):
            while await schedule_store.get_entry(db, entry["id"]) is not None:  # noqa: ASYNC110 (polls)
                await trio.sleep(0.05)
        nursery.cancel_scope.cancel()
    assert await schedule_store.get_entry(db, cancelled["id"]) is None
    assert await stored_keys(server) == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [("600,1200", (600.0, 1200.0)), (" 0 , 86400 ", (0.0, 86400.0))],
)
def test_schedule_window_setting(value: str, expected: tuple[float, float]) -> None:
    assert Settings.from_env(environ={}).schedule_window == (1800.0, 3600.0)
    assert (
        Settings.from_env(environ={"TRIOFLIX_SCHEDULE_WINDOW": value}).schedule_window == expected
    )


@pytest.mark.parametrize("value", ["1800", "a,b", "1,2,3", "-1,60", "60,90000"])
def test_schedule_window_refuses(value: str) -> None:
    with pytest.raises(ConfigError, match="TRIOFLIX_SCHEDULE_WINDOW"):
        Settings.from_env(environ={"TRIOFLIX_SCHEDULE_WINDOW": value})
