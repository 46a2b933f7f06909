"""Stream keys: ``/api/streaming/keys``. A user sees and changes only their own."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from quart import Blueprint, g

from trioflix.api._http import Body, json_body, parse_id, require_user
from trioflix.errors import APIError
from trioflix.state import state
from trioflix.store import stream_keys

__all__ = ["MAX_KEYS_PER_USER", "blueprint"]

blueprint = Blueprint("stream_keys", __name__, url_prefix="/api/streaming/keys")

MAX_KEYS_PER_USER = 20  # one per encoder or scene collection is plenty; bounds the table
KeyName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class CreateKeyBody(Body):
    name: KeyName = "default"
    enabled: bool = True
    record: bool = True


class UpdateKeyBody(Body):
    name: KeyName | None = None
    enabled: bool | None = None
    record: bool | None = None
    regenerate: bool = False


def _not_found() -> APIError:
    return APIError(404, "not_found", "no such stream key")


@blueprint.post("")
@require_user
async def create() -> tuple[dict[str, Any], int]:
    body = await json_body(CreateKeyBody, allow_empty=True)
    db = state().db
    async with db.transaction() as tx:
        count = await tx.fetchval(
            "SELECT COUNT(*) AS n FROM stream_keys WHERE user_id = $1", g.user.id
        )
        if count >= MAX_KEYS_PER_USER:
            raise APIError(409, "limit_reached", f"at most {MAX_KEYS_PER_USER} stream keys")
        key, secret = await stream_keys.create_key(
            tx, user_id=g.user.id, name=body.name, enabled=body.enabled, record=body.record
        )
    return {"key": key.public(full_key=secret)}, 201


@blueprint.get("")
@require_user
async def list_() -> dict[str, Any]:
    keys = await stream_keys.list_keys(state().db, g.user.id)
    return {"keys": [key.public() for key in keys]}


@blueprint.get("/<key_id>")
@require_user
async def get(key_id: str) -> dict[str, Any]:
    key = await stream_keys.get_key(state().db, g.user.id, parse_id(key_id, "stream key"))
    if key is None:
        raise _not_found()
    return {"key": key.public()}


@blueprint.put("/<key_id>")
@require_user
async def update(key_id: str) -> dict[str, Any]:
    kid = parse_id(key_id, "stream key")
    body = await json_body(UpdateKeyBody)
    db = state().db
    async with db.transaction() as tx:
        key = await stream_keys.update_key(
            tx, g.user.id, kid, name=body.name, enabled=body.enabled, record=body.record
        )
        if key is None:
            raise _not_found()
        secret = None
        if body.regenerate:
            regenerated = await stream_keys.regenerate_key(tx, g.user.id, kid)
            assert regenerated is not None  # same transaction as the update that found it
            key, secret = regenerated
    return {"key": key.public(full_key=secret)}


@blueprint.delete("/<key_id>")
@require_user
async def delete(key_id: str) -> tuple[str, int]:
    if not await stream_keys.delete_key(state().db, g.user.id, parse_id(key_id, "stream key")):
        raise _not_found()
    return "", 204
