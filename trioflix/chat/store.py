"""Chat tables: room settings, moderators, bans and timeouts, blocked terms, emotes, audit log.

The database is the source of truth for moderation; rooms keep a cache of it
(:class:`RoomState`) that bus events keep current on every process.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec

from trioflix.chat.content import Emote

if TYPE_CHECKING:
    from trioflix.store import Database, Transaction

__all__ = [
    "BanRecord",
    "RoomSettings",
    "RoomState",
    "audit",
    "load_room_state",
]

MAX_BLOCKED_TERMS = 500
MAX_CHANNEL_EMOTES = 100


class RoomSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """What moderators can change. Stored as JSON, one row per channel."""

    slow_mode_s: int = 0
    emote_only: bool = False
    min_account_age_s: int = 0
    max_message_length: int = 500

    def public(self) -> dict[str, Any]:
        return msgspec.structs.asdict(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class BanRecord:
    """A ban or timeout in force: what the user is told when refused or on joining.

    Attributes:
        until: Unix time the timeout ends; ``None`` for a ban.
        reason: The moderator's reason, possibly empty.
        seconds: The timeout's length as given; ``None`` for a ban.
    """

    until: float | None
    reason: str = ""
    seconds: int | None = None

    def public(self) -> dict[str, Any]:
        """The fields a refusal or a welcome carries (docs/chat-protocol.md)."""
        if self.until is None:
            return {"reason": self.reason}
        return {"reason": self.reason, "seconds": self.seconds, "until": self.until}


@dataclass(slots=True, kw_only=True)
class RoomState:
    """A room's moderation state, cached in memory."""

    channel_id: int
    channel: str
    settings: RoomSettings = field(default_factory=RoomSettings)
    moderators: set[int] = field(default_factory=set)
    bans: dict[int, BanRecord] = field(default_factory=dict)
    terms: list[str] = field(default_factory=list)
    emotes: dict[str, Emote] = field(default_factory=dict)

    def is_moderator(self, user_id: int) -> bool:
        return user_id == self.channel_id or user_id in self.moderators

    def active_ban(self, user_id: int, now: float) -> BanRecord | None:
        """The ban or timeout ``user_id`` is under at ``now``, else ``None``."""
        record = self.bans.get(user_id)
        if record is None:
            return None
        if record.until is not None and record.until <= now:
            del self.bans[user_id]
            return None
        return record


def emote_url(emote_id: int) -> str:
    return f"/api/emotes/{emote_id}"


async def load_room_state(db: Database, channel_id: int, channel: str, now: float) -> RoomState:
    state = RoomState(channel_id=channel_id, channel=channel)
    raw = await db.fetchval("SELECT settings FROM chat_rooms WHERE channel_id = $1", channel_id)
    if raw is not None:
        state.settings = msgspec.json.decode(raw, type=RoomSettings)
    for row in await db.fetch(
        "SELECT user_id FROM chat_moderators WHERE channel_id = $1", channel_id
    ):
        state.moderators.add(int(row["user_id"]))
    for row in await db.fetch(
        "SELECT user_id, until, reason, created_at FROM chat_bans"
        " WHERE channel_id = $1 AND (until IS NULL OR until > $2)",
        channel_id,
        now,
    ):
        until = row["until"]
        # A timeout's row keeps its start and end; its length is their difference.
        seconds = None if until is None else round(until - row["created_at"])
        state.bans[int(row["user_id"])] = BanRecord(
            until=until, reason=row["reason"] or "", seconds=seconds
        )
    state.terms = [
        row["term"]
        for row in await db.fetch(
            "SELECT term FROM chat_blocked_terms WHERE channel_id = $1 ORDER BY term", channel_id
        )
    ]
    for row in await db.fetch(
        "SELECT id, code FROM chat_emotes WHERE channel_id = $1 ORDER BY code", channel_id
    ):
        state.emotes[row["code"]] = Emote(code=row["code"], id=row["id"], url=emote_url(row["id"]))
    return state


async def audit(
    tx: Transaction,
    channel_id: int,
    actor_id: int | None,
    action: str,
    *,
    target_user_id: int | None = None,
    **detail: Any,
) -> None:
    """Append one line to the channel's moderation audit log."""
    await tx.execute(
        "INSERT INTO chat_audit (channel_id, actor_id, action, target_user_id, detail, created_at)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        channel_id,
        actor_id,
        action,
        target_user_id,
        json.dumps(detail, separators=(",", ":")),
        time.time(),
    )


async def audit_log(
    db: Database, channel_id: int, *, limit: int, before: int | None
) -> list[dict[str, Any]]:
    rows = await db.fetch(
        "SELECT a.id, a.action, a.detail, a.created_at, actor.name AS actor,"
        " target.name AS target FROM chat_audit a"
        " LEFT JOIN users actor ON actor.id = a.actor_id"
        " LEFT JOIN users target ON target.id = a.target_user_id"
        " WHERE a.channel_id = $1 AND a.id < $2 ORDER BY a.id DESC LIMIT $3",
        channel_id,
        before if before is not None else 2**63 - 1,
        limit,
    )
    return [{**row, "detail": json.loads(row["detail"])} for row in rows]


async def save_settings(tx: Transaction, channel_id: int, settings: RoomSettings) -> None:
    await tx.execute(
        "INSERT INTO chat_rooms (channel_id, settings, updated_at) VALUES ($1, $2, $3)"
        " ON CONFLICT (channel_id) DO UPDATE SET settings = excluded.settings,"
        " updated_at = excluded.updated_at",
        channel_id,
        msgspec.json.encode(settings).decode(),
        time.time(),
    )


async def get_settings(db: Transaction, channel_id: int) -> RoomSettings:
    raw = await db.fetchval("SELECT settings FROM chat_rooms WHERE channel_id = $1", channel_id)
    return RoomSettings() if raw is None else msgspec.json.decode(raw, type=RoomSettings)


async def set_ban(
    tx: Transaction,
    channel_id: int,
    user_id: int,
    until: float | None,
    reason: str,
    moderator_id: int,
) -> None:
    await tx.execute(
        "INSERT INTO chat_bans (channel_id, user_id, until, reason, moderator_id, created_at)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (channel_id, user_id) DO UPDATE SET"
        " until = excluded.until, reason = excluded.reason,"
        " moderator_id = excluded.moderator_id, created_at = excluded.created_at",
        channel_id,
        user_id,
        until,
        reason,
        moderator_id,
        time.time(),
    )


async def clear_ban(tx: Transaction, channel_id: int, user_id: int) -> bool:
    return (
        await tx.execute(
            "DELETE FROM chat_bans WHERE channel_id = $1 AND user_id = $2", channel_id, user_id
        )
        > 0
    )


async def list_bans(db: Database, channel_id: int, now: float) -> list[dict[str, Any]]:
    return await db.fetch(
        "SELECT u.name AS user, b.until, b.reason, m.name AS moderator, b.created_at"
        " FROM chat_bans b JOIN users u ON u.id = b.user_id"
        " LEFT JOIN users m ON m.id = b.moderator_id"
        " WHERE b.channel_id = $1 AND (b.until IS NULL OR b.until > $2) ORDER BY u.name",
        channel_id,
        now,
    )


async def set_moderator(tx: Transaction, channel_id: int, user_id: int, add: bool) -> bool:
    """Add or remove; returns whether anything changed."""
    if add:
        exists = await tx.fetchval(
            "SELECT user_id FROM chat_moderators WHERE channel_id = $1 AND user_id = $2",
            channel_id,
            user_id,
        )
        if exists is not None:
            return False
        await tx.execute(
            "INSERT INTO chat_moderators (channel_id, user_id, created_at) VALUES ($1, $2, $3)",
            channel_id,
            user_id,
            time.time(),
        )
        return True
    return (
        await tx.execute(
            "DELETE FROM chat_moderators WHERE channel_id = $1 AND user_id = $2",
            channel_id,
            user_id,
        )
        > 0
    )


async def moderator_names(db: Transaction, channel_id: int) -> list[str]:
    rows = await db.fetch(
        "SELECT u.name FROM chat_moderators m JOIN users u ON u.id = m.user_id"
        " WHERE m.channel_id = $1 ORDER BY u.name",
        channel_id,
    )
    return [row["name"] for row in rows]


async def replace_terms(
    tx: Transaction, channel_id: int, add: list[str], remove: list[str]
) -> list[str]:
    """Apply additions and removals (already normalised); returns the whole list."""
    for term in remove:
        await tx.execute(
            "DELETE FROM chat_blocked_terms WHERE channel_id = $1 AND term = $2", channel_id, term
        )
    for term in add:
        await tx.execute(
            "INSERT INTO chat_blocked_terms (channel_id, term) VALUES ($1, $2)"
            " ON CONFLICT (channel_id, term) DO NOTHING",
            channel_id,
            term,
        )
    rows = await tx.fetch(
        "SELECT term FROM chat_blocked_terms WHERE channel_id = $1 ORDER BY term", channel_id
    )
    return [row["term"] for row in rows]
