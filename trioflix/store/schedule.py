"""Scheduled streams: what a streamer announced, and what became of it.

States as stored: ``scheduled`` (announced), ``started`` (a live session went
live within the entry's window and took it: ``session_id``), ``missed`` (its
window passed with no stream), ``cancelled`` (the streamer called it off; it
stays in the calendar feed as cancelled). The API shows ``live`` for a
``started`` entry whose session is on the air now.

The window: going live from ``before_s`` seconds before an entry's start to
``after_s`` seconds after it attaches the session to the entry
(:func:`attach_due`); an entry still ``scheduled`` ``after_s`` after its start
is missed (:func:`mark_missed`).

Times are Unix seconds (UTC); ``time_zone`` is the IANA name the streamer gave
the start in, kept to show it as they meant it.

A cover image is an object of the media store (:mod:`trioflix.media.covers`);
``cover_type`` says that the entry has one, and of which type. The ``cover``
column held the bytes themselves before the store did: an installation's first
start with the store moves them there (:func:`blob_cover_ids`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from trioflix.store._database import Row, Transaction

__all__ = [
    "MAX_DESCRIPTION",
    "MAX_TITLE",
    "MAX_UPCOMING",
    "PURGE_AFTER_S",
    "ScheduleEntry",
    "attach_due",
    "blob_cover",
    "blob_cover_ids",
    "count_upcoming",
    "cover_type",
    "create_entry",
    "delete_entry",
    "drop_cover",
    "due_entry",
    "forget_blob_cover",
    "get_entry",
    "list_entries",
    "mark_missed",
    "purgeable_covers",
    "set_cover",
    "starting_soon",
    "update_entry",
]

StoredState = Literal["scheduled", "started", "missed", "cancelled"]
ShownState = Literal["scheduled", "live", "started", "missed", "cancelled"]

MAX_TITLE = 140  # as a live session's title, which it becomes
MAX_DESCRIPTION = 5000
MAX_UPCOMING = 100  # entries still to come per channel: three months of daily streams
PURGE_AFTER_S = 90 * 86400  # entries that ended longer ago than this are deleted
LIST_LIMIT = 500  # rows one query answers at most: MAX_UPCOMING plus recent history


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleEntry:
    id: int
    user_id: int
    title: str
    description: str
    starts_at: float
    time_zone: str
    duration_s: int
    state: StoredState
    session_id: int | None
    cover_type: str | None
    revision: int
    created_at: float
    updated_at: float
    session_state: str | None = None  # the attached session's, when one is

    @property
    def ends_at(self) -> float:
        return self.starts_at + self.duration_s

    @property
    def shown_state(self) -> ShownState:
        """``live`` while the attached session is on the air, else the stored state."""
        if self.state == "started" and self.session_state in ("live", "reconnecting"):
            return "live"
        return self.state

    def public(self, channel: str) -> dict[str, Any]:
        """The entry as the API shows it; ``channel`` is its owner's name."""
        local = datetime.fromtimestamp(self.starts_at, UTC).astimezone(ZoneInfo(self.time_zone))
        return {
            "id": self.id,
            "channel": channel,
            "title": self.title,
            "description": self.description,
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "start_local": local.isoformat(timespec="minutes"),
            "time_zone": self.time_zone,
            "duration_s": self.duration_s,
            "state": self.shown_state,
            "session_id": self.session_id,
            "cover_url": (
                f"/api/schedule/covers/{self.id}?v={self.revision}" if self.cover_type else None
            ),
            "revision": self.revision,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


_FIELDS = (
    "id",
    "user_id",
    "title",
    "description",
    "starts_at",
    "time_zone",
    "duration_s",
    "state",
    "session_id",
    "cover_type",
    "revision",
    "created_at",
    "updated_at",
)
_COLUMNS = ", ".join(_FIELDS)
# With the attached session's state, for the shown state.
_SELECT = (
    f"SELECT {', '.join('e.' + f for f in _FIELDS)}, l.state AS session_state"
    " FROM schedule_entries e LEFT JOIN live_sessions l ON l.id = e.session_id"
)


def _entry(row: Row | None) -> ScheduleEntry | None:
    return None if row is None else ScheduleEntry(**row)


def _entries(rows: list[Row]) -> list[ScheduleEntry]:
    return [ScheduleEntry(**row) for row in rows]


async def count_upcoming(db: Transaction, user_id: int) -> int:
    """The user's entries still ``scheduled`` (what :data:`MAX_UPCOMING` bounds)."""
    count: int = await db.fetchval(
        "SELECT COUNT(*) AS n FROM schedule_entries WHERE user_id = $1 AND state = 'scheduled'",
        user_id,
    )
    return count


async def create_entry(
    db: Transaction,
    *,
    user_id: int,
    title: str,
    description: str,
    starts_at: float,
    time_zone: str,
    duration_s: int,
) -> ScheduleEntry:
    now = time.time()
    row = await db.fetchrow(
        "INSERT INTO schedule_entries (user_id, title, description, starts_at, time_zone,"
        " duration_s, state, revision, created_at, updated_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, 'scheduled', 0, $7, $7)"
        f" RETURNING {_COLUMNS}",
        user_id,
        title,
        description,
        starts_at,
        time_zone,
        duration_s,
        now,
    )
    entry = _entry(row)
    assert entry is not None
    return entry


async def get_entry(
    db: Transaction, entry_id: int, user_id: int | None = None
) -> ScheduleEntry | None:
    """The entry ``entry_id``; with ``user_id``, only if that user owns it (another
    user's entry is indistinguishable from a missing one)."""
    if user_id is None:
        return _entry(await db.fetchrow(f"{_SELECT} WHERE e.id = $1", entry_id))
    return _entry(
        await db.fetchrow(f"{_SELECT} WHERE e.id = $1 AND e.user_id = $2", entry_id, user_id)
    )


async def list_entries(db: Transaction, user_id: int, *, since: float) -> list[ScheduleEntry]:
    """The user's entries that end at or after ``since``, soonest first."""
    return _entries(
        await db.fetch(
            f"{_SELECT} WHERE e.user_id = $1 AND e.starts_at + e.duration_s >= $2"
            f" ORDER BY e.starts_at, e.id LIMIT {LIST_LIMIT}",
            user_id,
            since,
        )
    )


async def update_entry(
    db: Transaction, user_id: int, entry_id: int, changes: dict[str, Any]
) -> ScheduleEntry | None:
    """Apply ``changes`` (column -> value, from the caller's fixed set of columns) and
    count the edit in ``revision``."""
    sets = ", ".join(f"{column} = ${n}" for n, column in enumerate(changes, start=4))
    row = await db.fetchrow(
        f"UPDATE schedule_entries SET {sets}{', ' if sets else ''}"
        " revision = revision + 1, updated_at = $3"
        f" WHERE id = $1 AND user_id = $2 RETURNING {_COLUMNS}",
        entry_id,
        user_id,
        time.time(),
        *changes.values(),
    )
    return _entry(row)


async def delete_entry(db: Transaction, user_id: int, entry_id: int) -> bool:
    deleted = await db.execute(
        "DELETE FROM schedule_entries WHERE id = $1 AND user_id = $2", entry_id, user_id
    )
    return deleted > 0


async def set_cover(
    db: Transaction, user_id: int, entry_id: int, content_type: str | None
) -> ScheduleEntry | None:
    """Record that the entry's cover, of ``content_type``, is in the store, or that it
    has none (``None``); either is a new revision (the cover's URL changes)."""
    return _entry(
        await db.fetchrow(
            "UPDATE schedule_entries SET cover_type = $3, revision = revision + 1, updated_at = $4"
            f" WHERE id = $1 AND user_id = $2 RETURNING {_COLUMNS}",
            entry_id,
            user_id,
            content_type,
            time.time(),
        )
    )


async def cover_type(db: Transaction, entry_id: int) -> str | None:
    """The content type of the entry's cover, if it has one."""
    found: str | None = await db.fetchval(
        "SELECT cover_type FROM schedule_entries WHERE id = $1", entry_id
    )
    return found


async def purgeable_covers(db: Transaction, *, before: float, limit: int) -> list[int]:
    """Entries that ended before ``before`` and still have a cover: :func:`mark_missed`
    deletes them once their covers are gone from the store."""
    rows = await db.fetch(
        "SELECT id FROM schedule_entries WHERE starts_at + duration_s < $1"
        " AND cover_type IS NOT NULL ORDER BY id LIMIT $2",
        before,
        limit,
    )
    return [row["id"] for row in rows]


async def drop_cover(db: Transaction, entry_id: int) -> None:
    """The entry has no cover any more (its object is gone), whoever owns it."""
    await db.execute("UPDATE schedule_entries SET cover_type = NULL WHERE id = $1", entry_id)


async def blob_cover_ids(db: Transaction) -> list[int]:
    """Entries whose cover is still in the database (the ``cover`` column)."""
    rows = await db.fetch("SELECT id FROM schedule_entries WHERE cover IS NOT NULL ORDER BY id")
    return [row["id"] for row in rows]


async def blob_cover(db: Transaction, entry_id: int) -> tuple[str, bytes] | None:
    """The entry's cover as ``(content type, bytes)`` from the database, if it is there."""
    row = await db.fetchrow(
        "SELECT cover_type, cover FROM schedule_entries WHERE id = $1 AND cover IS NOT NULL",
        entry_id,
    )
    return None if row is None else (row["cover_type"], bytes(row["cover"]))


async def forget_blob_cover(db: Transaction, entry_id: int) -> None:
    """The entry's cover is in the store now: its bytes leave the database."""
    await db.execute("UPDATE schedule_entries SET cover = NULL WHERE id = $1", entry_id)


async def starting_soon(
    db: Transaction, *, now: float, until: float, limit: int
) -> list[tuple[ScheduleEntry, str, str]]:
    """Entries of every channel, still to start or live now, that start before
    ``until``, soonest first, with the channel's name and display name."""
    rows = await db.fetch(
        f"{_SELECT.replace(' FROM', ', u.name AS channel, u.display_name AS display_name FROM')}"
        " JOIN users u ON u.id = e.user_id"
        " WHERE e.starts_at < $2 AND ("
        "(e.state = 'scheduled' AND e.starts_at + e.duration_s >= $1)"
        " OR (e.state = 'started' AND l.state IN ('live', 'reconnecting')))"
        " ORDER BY e.starts_at, e.id LIMIT $3",
        now,
        until,
        limit,
    )
    result = []
    for row in rows:
        channel, display = row.pop("channel"), row.pop("display_name")
        result.append((ScheduleEntry(**row), channel, display))
    return result


async def due_entry(
    db: Transaction, user_id: int, *, now: float, before_s: float, after_s: float
) -> ScheduleEntry | None:
    """The user's ``scheduled`` entry whose window holds ``now``; of several, the one
    whose start is nearest."""
    return _entry(
        await db.fetchrow(
            f"{_SELECT} WHERE e.user_id = $1 AND e.state = 'scheduled'"
            " AND e.starts_at <= $2 AND e.starts_at >= $3"
            " ORDER BY ABS(e.starts_at - $4), e.id LIMIT 1",
            user_id,
            now + before_s,
            now - after_s,
            now,
        )
    )


async def attach_due(
    tx: Transaction,
    user_id: int,
    session_id: int,
    *,
    now: float,
    before_s: float,
    after_s: float,
) -> ScheduleEntry | None:
    """A session went live: the entry due now (:func:`due_entry`), if any, is
    ``started`` by it, and gives it its title and description. Run in the
    transaction that makes the session live, so that nobody sees one without the other.

    Returns:
        The entry as it is now, or ``None`` when none was due.
    """
    due = await due_entry(tx, user_id, now=now, before_s=before_s, after_s=after_s)
    if due is None:
        return None
    await tx.execute(
        "UPDATE schedule_entries SET state = 'started', session_id = $2, updated_at = $3"
        " WHERE id = $1",
        due.id,
        session_id,
        now,
    )
    await tx.execute(
        "UPDATE live_sessions SET title = $2, description = $3 WHERE id = $1",
        session_id,
        due.title,
        due.description,
    )
    return await get_entry(tx, due.id)


async def mark_missed(db: Transaction, *, now: float, after_s: float) -> int:
    """Mark ``missed`` every entry whose window closed with no stream, and delete
    entries that ended more than :data:`PURGE_AFTER_S` ago, but those whose cover is
    still in the store (:func:`purgeable_covers`); returns how many were missed."""
    missed = await db.execute(
        "UPDATE schedule_entries SET state = 'missed', updated_at = $1"
        " WHERE state = 'scheduled' AND starts_at < $2",
        now,
        now - after_s,
    )
    await db.execute(
        "DELETE FROM schedule_entries WHERE starts_at + duration_s < $1 AND cover_type IS NULL",
        now - PURGE_AFTER_S,
    )
    return missed
