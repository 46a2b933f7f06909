"""Helpers every route uses: strict JSON bodies, bearer-token auth, path ids."""

from __future__ import annotations

from functools import wraps
from typing import TYPE_CHECKING, TypeVar

import msgspec
from quart import g, request

from trioflix.auth.bearer import user_for_authorization
from trioflix.errors import APIError
from trioflix.state import state

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from trioflix.store.users import User

__all__ = [
    "Body",
    "current_user",
    "json_body",
    "parse_id",
    "refuse_nul_in_url",
    "require_user",
]

T = TypeVar("T")
MAX_ID = 2**63 - 1  # BIGINT; larger path ids cannot exist


class Body(msgspec.Struct, forbid_unknown_fields=True):
    """Base of request bodies: an unknown field is an error, not silently ignored."""


async def json_body(model: type[T], *, allow_empty: bool = False) -> T:
    """Decode the request body as ``model``, strictly (no type coercion).

    Raises:
        APIError: 415 when the body is not declared as JSON, 400 when it is not
            valid JSON, 422 when it does not fit ``model``. Werkzeug raises 413
            for a body above the app's limit.
    """
    data = await request.get_data(cache=False, as_text=False, parse_form_data=False)
    assert isinstance(data, bytes)
    if not data and allow_empty:
        data = b"{}"
    elif request.mimetype != "application/json":
        raise APIError(415, "unsupported_media_type", "the body must be application/json")
    try:
        body = msgspec.json.decode(data, type=model, strict=True)
    except msgspec.ValidationError as exc:
        raise APIError(422, "invalid_body", str(exc)) from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise APIError(400, "malformed_json", f"the body is not valid JSON: {exc}") from None
    if _has_nul(msgspec.to_builtins(body)):
        raise APIError(422, "invalid_body", "text may not contain NUL (U+0000)")
    return body


def _has_nul(value: object) -> bool:
    # PostgreSQL cannot store U+0000 in text, and no name or text of ours holds one.
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


def refuse_nul_in_url() -> None:
    """404 for a path or query that holds U+0000 (``%00``): it names nothing.

    PostgreSQL cannot store or compare text holding it, so without this check a
    name with one would fail the query (a 500) instead of finding nothing.

    Raises:
        APIError: 404 ``not_found``.
    """
    if "\x00" in request.path or any(
        "\x00" in key or "\x00" in value for key, value in request.args.items(multi=True)
    ):
        raise APIError(404, "not_found", "no such resource (the URL holds a NUL character)")


def parse_id(text: str, what: str) -> int:
    """A path id as an int; anything that cannot be an id answers 404."""
    if not text.isascii() or not text.isdigit() or len(text) > 19 or int(text) > MAX_ID:
        raise APIError(404, "not_found", f"no such {what}")
    return int(text)


async def current_user() -> User:
    """The user the request's bearer token names.

    Raises:
        APIError: 401 for a missing, malformed, expired or forged token, or one
            whose user no longer exists.
    """
    user = await user_for_authorization(state(), request.headers.get("Authorization", ""))
    g.user = user
    return user


def require_user(fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """Route decorator: 401 unless a valid token is presented; the user is in ``g.user``."""

    @wraps(fn)
    async def wrapper(*args: object, **kwargs: object) -> T:
        await current_user()
        return await fn(*args, **kwargs)

    return wrapper
