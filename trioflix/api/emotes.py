"""Emotes: the picker list, channel emote upload and removal, and the images themselves."""

from __future__ import annotations

import time
from typing import Any

from quart import Blueprint, Response, g, request

from trioflix.api._http import parse_id, require_user
from trioflix.chat import store
from trioflix.chat.content import EMOTE_CODE, GLOBAL_EMOTES, Emote
from trioflix.chat.images import image_info
from trioflix.chat.protocol import ChatError
from trioflix.errors import APIError
from trioflix.state import state
from trioflix.store import Conflict

__all__ = ["blueprint"]

blueprint = Blueprint("emotes", __name__)

IMAGE_CACHE = "public, max-age=86400"  # an emote id never changes its image


async def _owned_channel(channel: str) -> int:
    try:
        room = await state().chat.room_state(channel)
    except ChatError as exc:
        raise APIError(exc.status, exc.code, exc.message) from None
    if g.user.id != room.channel_id:
        raise APIError(403, "forbidden", "only the channel owner manages its emotes")
    return room.channel_id


@blueprint.get("/api/chat/<channel>/emotes")
async def list_emotes(channel: str) -> dict[str, Any]:
    try:
        room = await state().chat.room_state(channel)
    except ChatError as exc:
        raise APIError(exc.status, exc.code, exc.message) from None
    return {
        "global": [emote.public() for emote in GLOBAL_EMOTES.values()],
        "channel": [emote.public() for emote in room.emotes.values()],
    }


@blueprint.put("/api/chat/<channel>/emotes/<code>")
@require_user
async def upload_emote(channel: str, code: str) -> tuple[dict[str, Any], int]:
    """The body is the image itself, with its ``Content-Type``."""
    if not EMOTE_CODE.match(code):
        raise APIError(422, "invalid_code", "an emote code is 2-32 of A-Z a-z 0-9 _")
    if code in GLOBAL_EMOTES:
        raise APIError(409, "code_taken", f":{code}: is a global emote")
    channel_id = await _owned_channel(channel)
    data = await request.get_data(cache=False, as_text=False, parse_form_data=False)
    assert isinstance(data, bytes)
    try:
        content_type = image_info(data, request.mimetype)
    except ChatError as exc:
        raise APIError(exc.status, exc.code, exc.message) from None
    db = state().db
    try:
        async with db.transaction() as tx:
            count = await tx.fetchval(
                "SELECT COUNT(*) AS n FROM chat_emotes WHERE channel_id = $1", channel_id
            )
            if count >= store.MAX_CHANNEL_EMOTES:
                raise APIError(
                    409, "limit_reached", f"at most {store.MAX_CHANNEL_EMOTES} channel emotes"
                )
            emote_id = await tx.fetchval(
                "INSERT INTO chat_emotes (channel_id, code, content_type, image, created_at)"
                " VALUES ($1, $2, $3, $4, $5) RETURNING id",
                channel_id,
                code,
                content_type,
                data,
                time.time(),
            )
            await store.audit(tx, channel_id, g.user.id, "emote_added", code=code)
    except Conflict:
        raise APIError(409, "code_taken", f":{code}: already exists in this channel") from None
    emote = Emote(code=code, id=int(emote_id), url=store.emote_url(int(emote_id)))
    await state().chat.bus.signal(channel, "emotes", {"code": code, "emote": emote.public()})
    return {"emote": emote.public()}, 201


@blueprint.delete("/api/chat/<channel>/emotes/<code>")
@require_user
async def delete_emote(channel: str, code: str) -> tuple[str, int]:
    channel_id = await _owned_channel(channel)
    db = state().db
    async with db.transaction() as tx:
        deleted = await tx.execute(
            "DELETE FROM chat_emotes WHERE channel_id = $1 AND code = $2", channel_id, code
        )
        if not deleted:
            raise APIError(404, "not_found", "no such emote")
        await store.audit(tx, channel_id, g.user.id, "emote_removed", code=code)
    await state().chat.bus.signal(channel, "emotes", {"code": code, "emote": None})
    return "", 204


@blueprint.get("/api/emotes/<emote_id>")
async def emote_image(emote_id: str) -> Response:
    row = await state().db.fetchrow(
        "SELECT content_type, image FROM chat_emotes WHERE id = $1", parse_id(emote_id, "emote")
    )
    if row is None:
        raise APIError(404, "not_found", "no such emote")
    return Response(
        bytes(row["image"]),
        content_type=row["content_type"],
        headers={"Cache-Control": IMAGE_CACHE, "X-Content-Type-Options": "nosniff"},
    )
