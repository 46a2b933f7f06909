"""Chat: the websocket ``/ws/chat/{channel}`` and the REST routes under ``/api/chat/{channel}``.

REST and websocket share :mod:`trioflix.chat.actions`, so a ban through either
takes effect the same way (database, audit log, bus). The protocol is in
docs/chat-protocol.md; the routes in docs/api.md.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
from quart import Blueprint, g, request, websocket
from quart.globals import websocket_ctx

from trioflix.api._http import Body, json_body, parse_id, require_user
from trioflix.chat import actions, store
from trioflix.chat.protocol import (
    MAX_REASON_CHARS,
    MAX_TERM_CHARS,
    MAX_TIMEOUT_S,
    ChatError,
    IdempotencyKey,
)
from trioflix.chat.session import serve_connection
from trioflix.errors import APIError
from trioflix.state import state

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from trioflix.chat.store import RoomState

__all__ = ["blueprint", "socket_blueprint"]

blueprint = Blueprint("chat", __name__, url_prefix="/api/chat/<channel>")
socket_blueprint = Blueprint("chat_socket", __name__)

MAX_PAGE = 100

UserName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Reason = Annotated[str, msgspec.Meta(max_length=MAX_REASON_CHARS)]
Term = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TERM_CHARS)]


class BanBody(Body):
    user: UserName
    reason: Reason = ""


class TimeoutBody(Body):
    user: UserName
    seconds: Annotated[int, msgspec.Meta(ge=1, le=MAX_TIMEOUT_S)]
    reason: Reason = ""


class SettingsBody(Body):
    slow_mode_s: Annotated[int, msgspec.Meta(ge=0, le=86400)] | None = None
    emote_only: bool | None = None
    min_account_age_s: Annotated[int, msgspec.Meta(ge=0, le=365 * 86400)] | None = None
    max_message_length: Annotated[int, msgspec.Meta(ge=1, le=500)] | None = None


class TermsBody(Body):
    add: Annotated[list[Term], msgspec.Meta(max_length=100)] = msgspec.field(default_factory=list)
    remove: Annotated[list[Term], msgspec.Meta(max_length=100)] = msgspec.field(
        default_factory=list
    )


class SuperChatBody(Body):
    amount: Annotated[int, msgspec.Meta(ge=1, le=10**9)]
    currency: Annotated[str, msgspec.Meta(pattern="^[A-Z]{3}$")]
    text: Annotated[str, msgspec.Meta(max_length=2000)] = ""
    idempotency_key: IdempotencyKey | None = None


@socket_blueprint.websocket("/ws/chat/<channel>")
async def chat_socket(channel: str) -> None:
    app_state = state()
    # The websocket itself, not the context-local proxy: every frame sent or received
    # through ``websocket`` would pay a context-variable lookup, once per member per event.
    await serve_connection(
        websocket_ctx.websocket,
        app_state.chat,
        app_state.tokens,
        channel,
        websocket.args,
    )


async def _call(fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    """Run an action; its refusal becomes the API's JSON error with the action's status."""
    try:
        return await fn(*args)
    except ChatError as exc:
        headers = {}
        if exc.retry_after is not None:
            headers["Retry-After"] = str(max(1, round(exc.retry_after)))
        raise APIError(exc.status, exc.code, exc.message, headers=headers) from None


async def _room(channel: str) -> RoomState:
    room_state: RoomState = await _call(state().chat.room_state, channel)
    return room_state


async def _moderator_room(channel: str) -> RoomState:
    room = await _room(channel)
    if not room.is_moderator(g.user.id):
        raise APIError(403, "forbidden", "only the channel owner and its moderators can do that")
    return room


def _page() -> tuple[int, int | None]:
    limit_text = request.args.get("limit", "50")
    before_text = request.args.get("before")
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_PAGE:
        raise APIError(422, "invalid_query", f"limit must be 1-{MAX_PAGE}")
    before = None if before_text is None else parse_id(before_text, "page")
    return int(limit_text), before


@blueprint.get("/settings")
async def get_settings(channel: str) -> dict[str, Any]:
    room = await _room(channel)
    return {"settings": room.settings.public()}


@blueprint.patch("/settings")
@require_user
async def patch_settings(channel: str) -> dict[str, Any]:
    body = await json_body(SettingsBody)
    room = await _room(channel)
    _, settings = await _call(
        actions.update_settings, state().chat, room, g.user, msgspec.structs.asdict(body)
    )
    return {"settings": settings.public()}


@blueprint.get("/messages")
async def messages(channel: str) -> dict[str, Any]:
    """Recent history (``?since=ID`` for what came after an id), as the websocket would send it."""
    await _room(channel)
    since_text = request.args.get("since")
    since = None if since_text is None else parse_id(since_text, "message")
    hub = state().chat
    entries, truncated = await hub.bus.history(channel, since, hub.limits.history)
    return {
        "messages": [msgspec.json.decode(entry.frame) for entry in entries],
        "truncated": truncated,
    }


@blueprint.delete("/messages/<message_id>")
@require_user
async def delete_message(channel: str, message_id: str) -> tuple[str, int]:
    room = await _room(channel)
    await _call(actions.delete_message, state().chat, room, g.user, parse_id(message_id, "message"))
    return "", 204


@blueprint.get("/bans")
@require_user
async def bans(channel: str) -> dict[str, Any]:
    room = await _moderator_room(channel)
    return {"bans": await store.list_bans(state().db, room.channel_id, time.time())}


@blueprint.post("/bans")
@require_user
async def ban(channel: str) -> tuple[dict[str, Any], int]:
    body = await json_body(BanBody)
    room = await _room(channel)
    event_id = await _call(actions.ban, state().chat, room, g.user, body.user, body.reason, None)
    return {"event_id": event_id}, 201


@blueprint.delete("/bans/<user>")
@require_user
async def unban(channel: str, user: str) -> tuple[str, int]:
    room = await _room(channel)
    await _call(actions.unban, state().chat, room, g.user, user)
    return "", 204


@blueprint.post("/timeouts")
@require_user
async def timeout(channel: str) -> tuple[dict[str, Any], int]:
    body = await json_body(TimeoutBody)
    room = await _room(channel)
    event_id = await _call(
        actions.ban, state().chat, room, g.user, body.user, body.reason, body.seconds
    )
    return {"event_id": event_id}, 201


@blueprint.get("/moderators")
async def moderators(channel: str) -> dict[str, Any]:
    room = await _room(channel)
    return {"moderators": await store.moderator_names(state().db, room.channel_id)}


@blueprint.put("/moderators/<user>")
@require_user
async def add_moderator(channel: str, user: str) -> dict[str, Any]:
    room = await _room(channel)
    names = await _call(actions.set_moderator, state().chat, room, g.user, user, True)
    return {"moderators": names}


@blueprint.delete("/moderators/<user>")
@require_user
async def remove_moderator(channel: str, user: str) -> dict[str, Any]:
    room = await _room(channel)
    names = await _call(actions.set_moderator, state().chat, room, g.user, user, False)
    return {"moderators": names}


@blueprint.get("/blocked-terms")
@require_user
async def blocked_terms(channel: str) -> dict[str, Any]:
    room = await _moderator_room(channel)
    return {"terms": room.terms}


@blueprint.patch("/blocked-terms")
@require_user
async def change_blocked_terms(channel: str) -> dict[str, Any]:
    body = await json_body(TermsBody)
    room = await _room(channel)
    terms = await _call(actions.change_terms, state().chat, room, g.user, body.add, body.remove)
    return {"terms": terms}


@blueprint.get("/audit")
@require_user
async def audit(channel: str) -> dict[str, Any]:
    room = await _moderator_room(channel)
    limit, before = _page()
    return {
        "entries": await store.audit_log(state().db, room.channel_id, limit=limit, before=before)
    }


@blueprint.post("/superchats")
@require_user
async def superchat(channel: str) -> tuple[dict[str, Any], int]:
    body = await json_body(SuperChatBody)
    room = await _room(channel)
    message_id, superchat_id = await _call(
        actions.send_superchat,
        state().chat,
        room,
        g.user,
        body.amount,
        body.currency,
        body.text,
        body.idempotency_key,
    )
    return {"message_id": message_id, "superchat_id": superchat_id}, 201
