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
    hub: ChatHub, state: RoomState, user: User, amount: int, currency: str, text: str
) -> tuple[int, int]:
    """Pay for and post a SuperChat; returns (message id, SuperChat record id).

    The debit and the SuperChat record are one transaction; the message is
    published only after it commits.

    Raises:
        ChatError: ``insufficient_funds`` (402), banned or timed out, currency or
            amount out of range, text too long for the tier, blocked term.
    """
    now = time.time()
    if user.id == state.channel_id:
        raise ChatError("own_channel", "you cannot SuperChat in your own channel", status=403)
    _check_may_post(state, user, now)
    tier = tier_for(amount, currency)
    cleaned = clean_text(text, tier.max_length) if text.strip() else ""
    if cleaned and find_blocked_term(cleaned, state.terms) is not None:
        raise ChatError("blocked_term", "the message contains a blocked term", status=403)
    async with hub.db.transaction() as tx:
        entry = await wallet.debit(tx, user.id, currency, amount, "superchat")
        record_id = await tx.fetchval(
            "INSERT INTO superchats (channel_id, user_id, amount, currency, text, ledger_id,"
            " created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            state.channel_id,
            user.id,
            amount,
            currency,
            cleaned,
            entry.id,
            now,
        )
    fields = {
        "ts": now,
        "user": _author(state, user),
        "amount": amount,
        "currency": currency,
        "tier": tier.public(),
        "pinned_until": now + tier.pin_s if tier.pin_s else None,
        "text": cleaned,
        "segments": _segments(state, cleaned) if cleaned else [],
        "superchat_id": int(record_id),
    }
    seq = await hub.bus.publish(
        state.channel, "superchat", event_parts("superchat", fields), 0, fields
    )
    return seq, int(record_id)


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
