"""Scheduled streams: the streamer's own (``/api/schedule``), each channel's (public,
as JSON and as an iCalendar feed), and what starts soon across channels.

A start is given as an ISO 8601 date and time with an IANA time zone: a local time
(``2026-12-07T20:00``) is read in that zone, one with an offset is converted to it.
The rules (docs/api.md, "Scheduled streams"): a title of 1-140 characters, a
description of at most 5000, a duration of 5 minutes to 24 hours, a start from 5
minutes ago to a year ahead, and at most 100 entries still to come per channel.
Only entries still ``scheduled`` or ``cancelled`` can be edited: what became of
the others is history.

A cover image is PNG, GIF, WebP or JPEG (a phone's photo), up to
``TRIOFLIX_MAX_COVER`` bytes: its ``PUT`` alone takes a body that large (the rest
of the API keeps its 64 KiB). It is kept in the media store
(:mod:`trioflix.media.covers`) and served from there through this host.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Final, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from quart import Blueprint, Response, g, request

from protocols import ical, image
from trioflix.api._http import Body, json_body, parse_id, require_user
from trioflix.api.videos import object_body
from trioflix.chat.images import image_info
from trioflix.chat.protocol import ChatError
from trioflix.errors import APIError
from trioflix.media import covers
from trioflix.state import state
from trioflix.storage import ObjectNotFound
from trioflix.store import schedule
from trioflix.store.users import get_user_by_name
from trioflix.uploads.http_body import set_body_limit

if TYPE_CHECKING:
    from quart.blueprints import BlueprintSetupState

    from trioflix.state import TrioflixApp
    from trioflix.store import Transaction

__all__ = [
    "COVER_PATH",
    "MAX_AHEAD_S",
    "MAX_COVER_SIDE",
    "CreateEntryBody",
    "UpdateEntryBody",
    "blueprint",
]

blueprint = Blueprint("schedule", __name__)

MAX_AHEAD_S: Final = 366 * 86400  # a year ahead: further is not a schedule, and bounds the rows
PAST_SLACK_S: Final = 300  # a start a few minutes ago is "now" from a slow form, not the past
RECENT_S: Final = 7 * 86400  # the lists show what ended in the last week too
SOON_S: Final = 24 * 3600  # the home page's "starting soon": the next day
SOON_LIMIT: Final = 20
MAX_COVER_SIDE: Final = 1920
COVER_FORMATS: Final = image.FORMATS  # PNG, GIF, WebP and JPEG: what phones and editors save
# The cover's PUT, the one API route whose body may be larger than 64 KiB.
COVER_PATH: Final = re.compile(r"/api/schedule/[^/]+/cover")
ICS_CACHE: Final = "public, max-age=300"  # calendar apps poll; five minutes is fresh enough

Title = Annotated[str, msgspec.Meta(min_length=1, max_length=schedule.MAX_TITLE)]
Description = Annotated[str, msgspec.Meta(max_length=schedule.MAX_DESCRIPTION)]
Start = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
TimeZone = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Duration = Annotated[int, msgspec.Meta(ge=300, le=86400)]


class CreateEntryBody(Body):
    title: Title
    start: Start
    time_zone: TimeZone
    description: Description = ""
    duration_s: Duration = 3600


class UpdateEntryBody(Body):
    title: Title | None = None
    start: Start | None = None
    time_zone: TimeZone | None = None
    description: Description | None = None
    duration_s: Duration | None = None
    cancelled: bool | None = None


def _invalid(field: str, message: str) -> APIError:
    return APIError(422, "invalid_body", message, field=field)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise _invalid(
            "time_zone", f"Time zone “{name}” is not an IANA time zone such as Europe/Berlin."
        ) from None


def _start(text: str, zone: ZoneInfo) -> float:
    """``text`` as Unix seconds: a local time read in ``zone``, or a time with an offset."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _invalid("start", "Start must be a date and time such as 2026-12-07T20:00.") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    at = moment.timestamp()
    now = time.time()
    if at < now - PAST_SLACK_S:
        raise _invalid("start", "Start must not be in the past.")
    if at > now + MAX_AHEAD_S:
        raise _invalid("start", "Start must be at most a year ahead.")
    return at


def _not_found() -> APIError:
    return APIError(404, "not_found", "no such scheduled stream")


async def _limit_upcoming(tx: Transaction, user_id: int) -> None:
    if await schedule.count_upcoming(tx, user_id) >= schedule.MAX_UPCOMING:
        raise APIError(
            409, "limit_reached", f"at most {schedule.MAX_UPCOMING} scheduled streams to come"
        )


@blueprint.post("/api/schedule")
@require_user
async def create() -> tuple[dict[str, Any], int]:
    body = await json_body(CreateEntryBody)
    zone = _zone(body.time_zone)
    starts_at = _start(body.start, zone)
    async with state().db.transaction() as tx:
        await _limit_upcoming(tx, g.user.id)
        entry = await schedule.create_entry(
            tx,
            user_id=g.user.id,
            title=body.title,
            description=body.description,
            starts_at=starts_at,
            time_zone=zone.key,
            duration_s=body.duration_s,
        )
    return {"entry": entry.public(g.user.name)}, 201


@blueprint.get("/api/schedule")
@require_user
async def list_own() -> dict[str, Any]:
    entries = await schedule.list_entries(state().db, g.user.id, since=time.time() - RECENT_S)
    return {"entries": [entry.public(g.user.name) for entry in entries]}


@blueprint.patch("/api/schedule/<entry_id>")
@require_user
async def update(entry_id: str) -> dict[str, Any]:
    eid = parse_id(entry_id, "scheduled stream")
    body = await json_body(UpdateEntryBody)
    async with state().db.transaction() as tx:
        entry = await schedule.get_entry(tx, eid, g.user.id)
        if entry is None:
            raise _not_found()
        if entry.state not in ("scheduled", "cancelled"):
            raise APIError(
                409, "not_editable", f"this stream is {entry.shown_state}: it cannot change"
            )
        changes: dict[str, Any] = {}
        if body.title is not None:
            changes["title"] = body.title
        if body.description is not None:
            changes["description"] = body.description
        if body.duration_s is not None:
            changes["duration_s"] = body.duration_s
        zone = _zone(body.time_zone if body.time_zone is not None else entry.time_zone)
        changes["time_zone"] = zone.key
        if body.start is not None:
            changes["starts_at"] = _start(body.start, zone)
        if body.cancelled is not None:
            changes["state"] = "cancelled" if body.cancelled else "scheduled"
            if not body.cancelled and entry.state == "cancelled":
                await _limit_upcoming(tx, g.user.id)
        updated = await schedule.update_entry(tx, g.user.id, eid, changes)
        assert updated is not None  # found in this same transaction
    return {"entry": updated.public(g.user.name)}


@blueprint.delete("/api/schedule/<entry_id>")
@require_user
async def delete(entry_id: str) -> tuple[str, int]:
    eid = parse_id(entry_id, "scheduled stream")
    entry = await _own_entry(eid)
    if entry.cover_type is not None:
        # Its cover goes first: an outage answers 503 and leaves the entry to delete again.
        await covers.delete_cover(state().objects, eid)
    if not await schedule.delete_entry(state().db, g.user.id, eid):
        raise _not_found()
    return "", 204


@blueprint.record_once
def _cover_body_limit(setup: BlueprintSetupState) -> None:
    app = cast("TrioflixApp", setup.app)
    set_body_limit(app, COVER_PATH, app.trioflix.settings.max_cover)


async def _own_entry(entry_id: int) -> schedule.ScheduleEntry:
    entry = await schedule.get_entry(state().db, entry_id, g.user.id)
    if entry is None:
        raise _not_found()
    return entry


@blueprint.put("/api/schedule/<entry_id>/cover")
@require_user
async def put_cover(entry_id: str) -> dict[str, Any]:
    """The body is the image itself, with its ``Content-Type``."""
    eid = parse_id(entry_id, "scheduled stream")
    data = await request.get_data(cache=False, as_text=False, parse_form_data=False)
    assert isinstance(data, bytes)
    app_state = state()
    try:
        content_type = image_info(
            data,
            request.mimetype,
            max_bytes=app_state.settings.max_cover,
            max_side=MAX_COVER_SIDE,
            formats=COVER_FORMATS,
            what="covers",
        )
    except ChatError as exc:
        raise APIError(exc.status, exc.code, exc.message) from None
    await _own_entry(eid)
    # The object first: a row never names a cover that is not stored.
    await covers.store_cover(app_state.objects, eid, data, content_type)
    entry = await schedule.set_cover(app_state.db, g.user.id, eid, content_type)
    if entry is None:  # deleted meanwhile, and its cover with it
        await covers.delete_cover(app_state.objects, eid)
        raise _not_found()
    return {"entry": entry.public(g.user.name)}


@blueprint.delete("/api/schedule/<entry_id>/cover")
@require_user
async def delete_cover(entry_id: str) -> dict[str, Any]:
    eid = parse_id(entry_id, "scheduled stream")
    await _own_entry(eid)
    # An outage answers 503 before the row changes: deleting again finishes the work.
    await covers.delete_cover(state().objects, eid)
    entry = await schedule.set_cover(state().db, g.user.id, eid, None)
    if entry is None:
        raise _not_found()
    return {"entry": entry.public(g.user.name)}


@blueprint.get("/api/schedule/covers/<entry_id>")
async def cover(entry_id: str) -> Response:
    eid = parse_id(entry_id, "scheduled stream")
    missing = APIError(404, "not_found", "no such cover")
    content_type = await schedule.cover_type(state().db, eid)
    if content_type is None:
        raise missing
    try:
        reader = await state().objects.open_read(covers.cover_key(eid))
    except ObjectNotFound:
        raise missing from None
    headers = {
        "Content-Type": content_type,
        "Content-Length": str(reader.length),
        "Cache-Control": covers.COVER_CACHE,
        "X-Content-Type-Options": "nosniff",
    }
    if request.method == "HEAD":  # the headers alone: Quart would never start the body
        await reader.aclose()
        response = Response(b"", headers=headers)
        response.headers["Content-Length"] = headers["Content-Length"]  # the GET's, not b""'s
        return response
    return Response(object_body(reader), headers=headers)


@blueprint.get("/api/schedule/soon")
async def soon() -> dict[str, Any]:
    """What is live from the schedule or starts within a day, across channels (public)."""
    now = time.time()
    found = await schedule.starting_soon(state().db, now=now, until=now + SOON_S, limit=SOON_LIMIT)
    return {
        "entries": [
            {**entry.public(channel), "display_name": display} for entry, channel, display in found
        ]
    }


async def _channel_entries(name: str) -> tuple[str, list[schedule.ScheduleEntry]]:
    user = await get_user_by_name(state().db, name)
    if user is None:
        raise APIError(404, "not_found", "no such channel")
    entries = await schedule.list_entries(state().db, user.id, since=time.time() - RECENT_S)
    return user.name, entries


@blueprint.get("/api/channels/<name>/schedule")
async def channel_schedule(name: str) -> dict[str, Any]:
    """The channel's streams to come and of the last week (public)."""
    channel, entries = await _channel_entries(name)
    return {"channel": channel, "entries": [entry.public(channel) for entry in entries]}


@blueprint.get("/channels/<name>/schedule.ics")
async def channel_calendar(name: str) -> Response:
    """The channel's schedule as an iCalendar feed for calendar apps to subscribe to."""
    channel, entries = await _channel_entries(name)
    host = request.host
    page = f"{request.host_url}channel/{channel}"
    events = [
        ical.Event(
            uid=f"schedule-{entry.id}@{host}",
            start=datetime.fromtimestamp(entry.starts_at, UTC),
            duration_s=entry.duration_s,
            stamp=datetime.fromtimestamp(entry.updated_at, UTC),
            created=datetime.fromtimestamp(entry.created_at, UTC),
            sequence=entry.revision,
            summary=entry.title,
            description=entry.description,
            url=page,
            status="CANCELLED" if entry.state == "cancelled" else "CONFIRMED",
        )
        for entry in entries
    ]
    body = ical.write_calendar(
        events, prodid="-//trioflix//schedule//EN", name=f"{channel} streams"
    )
    return Response(
        body,
        content_type="text/calendar; charset=utf-8",
        headers={
            "Cache-Control": ICS_CACHE,
            "Content-Disposition": f'inline; filename="{channel}-schedule.ics"',
        },
    )
