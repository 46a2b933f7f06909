"""What users do in a room, with its checks; shared by the websocket and the REST routes.

Every moderation action is checked against the room's state, written to the
database with an audit-log line in one transaction, then published on the bus so
that every connection on every process sees it at once.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from trioflix.chat import store, wallet
from trioflix.chat.content import (
    GLOBAL_EMOTES,
    clean_text,
    find_blocked_term,
    is_emote_only,
    normalise_term,
    parse_segments,
)
from trioflix.chat.protocol import ChatError, event_parts
from trioflix.chat.superchat import tier_for
from trioflix.store import Conflict
from trioflix.store.users import get_user_by_name

if TYPE_CHECKING:
    from trioflix.chat.hub import ChatHub
    from trioflix.chat.room import Room
    from trioflix.chat.store import RoomState
    from trioflix.store.users import User

__all__ = [
    "ban",
    "change_terms",
    "delete_message",
    "send_message",
    "send_superchat",
    "set_moderator",
    "unban",
    "update_settings",
]


# Publishing a committed SuperChat takes milliseconds; one still unpublished after
# this lost its publisher (the process died), and a resend with its key posts it.
PUBLISH_LEASE_S = 5.0
_PAID_COLUMNS = "id, channel_id, amount, currency, text, created_at, message_id, publishing_until"


def _author(state: RoomState, user: User) -> dict[str, Any]:
    role = (
        "owner"
        if user.id == state.channel_id
        else ("moderator" if user.id in state.moderators else "user")
    )
    return {"id": user.id, "name": user.name, "display_name": user.display_name, "role": role}


def _require_moderator(state: RoomState, user: User) -> None:
    if not state.is_moderator(user.id):
        raise ChatError(
            "forbidden", "only the channel owner and its moderators can do that", status=403
        )


def _check_may_post(state: RoomState, user: User, now: float) -> None:
    record = state.active_ban(user.id, now)
    if record is None:
        return
    because = f": {record.reason}" if record.reason else ""
    if record.until is None:
        raise ChatError(
            "banned",
            f"you are banned from this chat{because}",
            status=403,
            detail=record.public(),
        )
    raise ChatError(
        "timed_out",
        f"you are timed out in this chat for {record.seconds} s{because}",
        status=403,
        retry_after=record.until - now,
        detail=record.public(),
    )


def _segments(state: RoomState, text: str) -> list[dict[str, Any]]:
    emotes = {**GLOBAL_EMOTES, **state.emotes}
    return parse_segments(text, emotes)


async def send_message(hub: ChatHub, room: Room, user: User, text: str) -> int:
    """Post a chat message; returns its id.

    Raises:
        ChatError: banned, timed out, rate limited, slow mode, account too new,
            emote-only, blocked term, empty or too long.
    """
    state = room.state
    assert state is not None
    now = time.time()
    _check_may_post(state, user, now)
    moderator = state.is_moderator(user.id)
    settings = state.settings
    if not moderator:
        age = now - user.created_at
        if age < settings.min_account_age_s:
            raise ChatError(
                "account_too_new",
                f"accounts younger than {settings.min_account_age_s} s cannot chat here",
                status=403,
                retry_after=settings.min_account_age_s - age,
            )
        last = room.last_sent.get(user.id)
        if settings.slow_mode_s and last is not None and now - last < settings.slow_mode_s:
            raise ChatError(
                "slow_mode",
                f"slow mode: one message every {settings.slow_mode_s} s",
                status=429,
                retry_after=settings.slow_mode_s - (now - last),
            )
    wait = room.rate_check(user.id, moderator, now)
    if wait:
        raise ChatError("rate_limited", "you are sending too fast", status=429, retry_after=wait)
    cleaned = clean_text(text, settings.max_message_length)
    segments = _segments(state, cleaned)
    if not moderator:
        if settings.emote_only and not is_emote_only(segments):
            raise ChatError("emote_only", "this chat is in emote-only mode", status=403)
        if find_blocked_term(cleaned, state.terms) is not None:
            raise ChatError("blocked_term", "the message contains a blocked term", status=403)
    room.last_sent[user.id] = now
    fields = {"ts": now, "user": _author(state, user), "text": cleaned, "segments": segments}
    return await hub.bus.publish(room.name, "message", event_parts("message", fields), 0, fields)


async def send_superchat(
    hub: ChatHub,
    state: RoomState,
    user: User,
    amount: int,
    currency: str,
    text: str,
    key: str | None = None,
) -> tuple[int, int]:
    """Pay for and post a SuperChat; returns (message id, SuperChat record id).

    The debit and the SuperChat record are one transaction; the message is
    published only after it commits. ``key`` is the client's idempotency key for
    this attempt: if ``user`` already paid with it (before a crash, a dropped
    connection, or concurrently), the answer is that SuperChat's, and nothing is
    paid again. The key is stored with the record, in the debit's transaction,
    under a unique constraint, so this holds across processes, hosts and restarts.

    Raises:
        ChatError: ``insufficient_funds`` (402), banned or timed out, currency or
            amount out of range, text too long for the tier, blocked term;
            ``idempotency_key_reused`` (409) when ``key`` paid for a different
            SuperChat; ``superchat_pending`` (409, with ``retry_after``) while the
            SuperChat ``key`` paid for is being posted.
    """
    if key is not None and (paid := await _paid(hub, user, key)) is not None:
        return await _replay(hub, state, user, paid, amount, currency)
    now = time.time()
    if user.id == state.channel_id:
        raise ChatError("own_channel", "you cannot SuperChat in your own channel", status=403)
    _check_may_post(state, user, now)
    tier = tier_for(amount, currency)
    cleaned = clean_text(text, tier.max_length) if text.strip() else ""
    if cleaned and find_blocked_term(cleaned, state.terms) is not None:
        raise ChatError("blocked_term", "the message contains a blocked term", status=403)
    try:
        async with hub.db.transaction() as tx:
            entry = await wallet.debit(tx, user.id, currency, amount, "superchat")
            row = await tx.fetchrow(
                "INSERT INTO superchats (channel_id, user_id, amount, currency, text, ledger_id,"
                " created_at, idempotency_key, publishing_until)"
                f" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {_PAID_COLUMNS}",
                state.channel_id,
                user.id,
                amount,
                currency,
                cleaned,
                entry.id,
                now,
                key,
                now + PUBLISH_LEASE_S,
            )
    except (Conflict, ChatError):
        # A concurrent attempt with the same key committed first: its unique key
        # refused this record (and rolled the debit back), or its debit emptied the
        # wallet. Either way the answer is that attempt's.
        if key is None or (paid := await _paid(hub, user, key)) is None:
            raise
        return await _replay(hub, state, user, paid, amount, currency)
    assert row is not None
    return await _publish_superchat(hub, state, user, row), int(row["id"])


async def _paid(hub: ChatHub, user: User, key: str) -> dict[str, Any] | None:
    return await hub.db.fetchrow(
        f"SELECT {_PAID_COLUMNS} FROM superchats WHERE user_id = $1 AND idempotency_key = $2",
        user.id,
        key,
    )


async def _replay(
    hub: ChatHub, state: RoomState, user: User, paid: dict[str, Any], amount: int, currency: str
) -> tuple[int, int]:
    """The answer to a resent SuperChat ``paid`` already paid for; posts it if its
    publisher died before it did."""
    record_id = int(paid["id"])
    if (paid["channel_id"], paid["amount"], paid["currency"]) != (
        state.channel_id,
        amount,
        currency,
    ):
        raise ChatError(
            "idempotency_key_reused",
            "this idempotency key paid for a different SuperChat; use a new key",
            status=409,
        )
    if paid["message_id"] is not None:
        return int(paid["message_id"]), record_id
    now = time.time()
    taken = await hub.db.execute(
        "UPDATE superchats SET publishing_until = $2"
        " WHERE id = $1 AND message_id IS NULL AND publishing_until <= $3",
        record_id,
        now + PUBLISH_LEASE_S,
        now,
    )
    if not taken:
        raise ChatError(
            "superchat_pending",
            "this SuperChat is paid and being posted; send it again with the same key",
            status=409,
            retry_after=max(float(paid["publishing_until"]) - now, 0.1),
        )
    return await _publish_superchat(hub, state, user, paid), record_id


async def _publish_superchat(
    hub: ChatHub, state: RoomState, user: User, paid: dict[str, Any]
) -> int:
    """Post the committed SuperChat ``paid`` and record its message id; returns that id."""
    amount, currency, text, ts = paid["amount"], paid["currency"], paid["text"], paid["created_at"]
    tier = tier_for(amount, currency)
    fields = {
        "ts": ts,
        "user": _author(state, user),
        "amount": amount,
        "currency": currency,
        "tier": tier.public(),
        "pinned_until": ts + tier.pin_s if tier.pin_s else None,
        "text": text,
        "segments": _segments(state, text) if text else [],
        "superchat_id": int(paid["id"]),
    }
    seq = await hub.bus.publish(
        state.channel, "superchat", event_parts("superchat", fields), 0, fields
    )
    # Only the first publisher's id is kept: a takeover racing a publisher that was
    # merely slow posts the message twice, but the answer (and the payment) is one.
    await hub.db.execute(
        "UPDATE superchats SET message_id = $2 WHERE id = $1 AND message_id IS NULL",
        paid["id"],
        seq,
    )
    return int(await hub.db.fetchval("SELECT message_id FROM superchats WHERE id = $1", paid["id"]))


async def delete_message(hub: ChatHub, state: RoomState, actor: User, message_id: int) -> int:
    """Remove a message from everyone's view; returns the id of the ``delete`` event."""
    _require_moderator(state, actor)
    entry = await hub.bus.lookup(state.channel, message_id)
    if entry is None or entry.kind not in ("message", "superchat"):
        raise ChatError("not_found", "no such message in the room's history", status=404)
    async with hub.db.transaction() as tx:
        await store.audit(tx, state.channel_id, actor.id, "delete", message_id=message_id)
    fields = {"ts": time.time(), "message_id": message_id, "by": actor.name}
    return await hub.bus.publish(
        state.channel, "delete", event_parts("delete", fields), message_id, fields
    )


async def _target(hub: ChatHub, state: RoomState, actor: User, name: str) -> User:
    target = await get_user_by_name(hub.db, name)
    if target is None:
        raise ChatError("no_such_user", f"there is no user {name!r}", status=404)
    if target.id == actor.id:
        raise ChatError("forbidden", "you cannot do that to yourself", status=403)
    if target.id == state.channel_id:
        raise ChatError("forbidden", "the channel owner cannot be banned", status=403)
    if target.id in state.moderators and actor.id != state.channel_id:
        raise ChatError("forbidden", "only the channel owner can ban a moderator", status=403)
    return target


async def ban(
    hub: ChatHub, state: RoomState, actor: User, name: str, reason: str, seconds: int | None
) -> int:
    """Ban (``seconds`` is ``None``) or time out ``name``; returns the event id."""
    _require_moderator(state, actor)
    target = await _target(hub, state, actor, name)
    now = time.time()
    until = None if seconds is None else now + seconds
    kind = "ban" if seconds is None else "timeout"
    async with hub.db.transaction() as tx:
        await store.set_ban(tx, state.channel_id, target.id, until, reason, actor.id)
        await store.audit(
            tx,
            state.channel_id,
            actor.id,
            kind,
            target_user_id=target.id,
            reason=reason,
            seconds=seconds,
        )
    fields: dict[str, Any] = {
        "ts": now,
        "user": {"id": target.id, "name": target.name},
        "reason": reason,
        "by": actor.name,
    }
    if seconds is not None:
        fields["seconds"] = seconds
        fields["until"] = until
    return await hub.bus.publish(state.channel, kind, event_parts(kind, fields), 0, fields)


async def unban(hub: ChatHub, state: RoomState, actor: User, name: str) -> int:
    """Lift a ban or a timeout; returns the event id."""
    _require_moderator(state, actor)
    target = await get_user_by_name(hub.db, name)
    if target is None:
        raise ChatError("no_such_user", f"there is no user {name!r}", status=404)
    async with hub.db.transaction() as tx:
        if not await store.clear_ban(tx, state.channel_id, target.id):
            raise ChatError("not_banned", f"{name} is neither banned nor timed out", status=404)
        await store.audit(tx, state.channel_id, actor.id, "unban", target_user_id=target.id)
    fields = {"ts": time.time(), "user": {"id": target.id, "name": target.name}, "by": actor.name}
    return await hub.bus.publish(state.channel, "unban", event_parts("unban", fields), 0, fields)


async def update_settings(
    hub: ChatHub, state: RoomState, actor: User, changes: dict[str, Any]
) -> tuple[int, store.RoomSettings]:
    """Change room settings (``None`` values are left alone); returns (event id, settings)."""
    _require_moderator(state, actor)
    changes = {k: v for k, v in changes.items() if v is not None}
    async with hub.db.transaction() as tx:
        current = await store.get_settings(tx, state.channel_id)
        settings = store.RoomSettings(**{**current.public(), **changes})
        await store.save_settings(tx, state.channel_id, settings)
        await store.audit(tx, state.channel_id, actor.id, "settings", **changes)
    fields = {"ts": time.time(), "settings": settings.public(), "by": actor.name}
    seq = await hub.bus.publish(
        state.channel, "settings", event_parts("settings", fields), 0, fields
    )
    return seq, settings


async def change_terms(
    hub: ChatHub, state: RoomState, actor: User, add: list[str], remove: list[str]
) -> list[str]:
    """Add and remove blocked terms; returns the channel's whole list (moderators only see it)."""
    _require_moderator(state, actor)
    added = sorted({t for t in map(normalise_term, add) if t})
    removed = sorted({t for t in map(normalise_term, remove) if t})
    async with hub.db.transaction() as tx:
        terms = await store.replace_terms(tx, state.channel_id, added, removed)
        if len(terms) > store.MAX_BLOCKED_TERMS:
            raise ChatError(
                "limit_reached", f"at most {store.MAX_BLOCKED_TERMS} blocked terms", status=409
            )
        await store.audit(
            tx, state.channel_id, actor.id, "blocked_terms", add=added, remove=removed
        )
    await hub.bus.signal(state.channel, "terms", {"terms": terms})
    return terms


async def set_moderator(
    hub: ChatHub, state: RoomState, actor: User, name: str, add: bool
) -> list[str]:
    """Name or remove a moderator (the channel owner only); returns the moderators' names."""
    if actor.id != state.channel_id:
        raise ChatError("forbidden", "only the channel owner names moderators", status=403)
    target = await get_user_by_name(hub.db, name)
    if target is None:
        raise ChatError("no_such_user", f"there is no user {name!r}", status=404)
    if target.id == state.channel_id:
        raise ChatError("forbidden", "the owner is always a moderator", status=403)
    async with hub.db.transaction() as tx:
        changed = await store.set_moderator(tx, state.channel_id, target.id, add)
        if changed:
            await store.audit(
                tx,
                state.channel_id,
                actor.id,
                "moderator_added" if add else "moderator_removed",
                target_user_id=target.id,
            )
        names = await store.moderator_names(tx, state.channel_id)
    if changed:
        await hub.bus.signal(state.channel, "moderators", {"user_id": target.id, "add": add})
    return names
