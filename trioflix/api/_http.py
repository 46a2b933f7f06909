"""Helpers every route uses: strict JSON bodies, bearer-token auth, path ids."""

from __future__ import annotations

import re
from functools import wraps
from typing import TYPE_CHECKING, Final, TypeVar

import msgspec
from quart import g, request

from trioflix.auth.accounts import USERNAME_PATTERN
from trioflix.auth.bearer import user_for_authorization
from trioflix.chat.protocol import IDEMPOTENCY_KEY_PATTERN
from trioflix.errors import APIError
from trioflix.state import state
from trioflix.store import holds_nul

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from trioflix.store.users import User

__all__ = [
    "Body",
    "current_user",
    "human_validation_error",
    "json_body",
    "parse_id",
    "refuse_nul_in_url",
    "require_user",
]

T = TypeVar("T")
MAX_ID = 2**63 - 1  # BIGINT; larger path ids cannot exist

# msgspec's ValidationError text is "<what was expected> - at `$.path`" (no path when the
# body as a whole is wrong); these read the parts a person needs out of it.
_AT_PATH: Final = re.compile(r"^(?P<what>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_LENGTH: Final = re.compile(r"^Expected `(?P<type>\w+)` of length (?P<op>[<>]=?) (?P<n>\d+)$")
_RANGE: Final = re.compile(r"^Expected `(?:int|float|number)` (?P<op>[<>]=?) (?P<n>-?[\d.e+]+)$")
_TYPE: Final = re.compile(r"^Expected `(?P<want>[^`]+)`, got `(?P<got>\w+)`$")
_PATTERN: Final = re.compile(r"^Expected `str` matching regex '(?P<regex>.*)'$", re.DOTALL)
_OBJECT_FIELD: Final = re.compile(
    r"^Object (?P<how>missing required|contains unknown) field `(?P<name>[^`]+)`$"
)
_TYPE_WORDS: Final = {
    "str": "text",
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "array": "a list",
    "object": "an object",
}
_COMPARISONS: Final = {
    ">=": "at least",
    ">": "more than",
    "<=": "at most",
    "<": "less than",
}
# What a pattern means, said the way the sign-up form's help text says it.
_PATTERN_RULES: Final = {
    USERNAME_PATTERN: "3-32 characters: lowercase letters, digits or _",
    "^[A-Z]{3}$": "a three-letter currency code such as EUR",
    IDEMPOTENCY_KEY_PATTERN: "printable ASCII without spaces, such as a UUID",
}


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
        field, message = human_validation_error(str(exc))
        raise APIError(422, "invalid_body", message, field=field) from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise APIError(400, "malformed_json", f"the body is not valid JSON: {exc}") from None
    if holds_nul(msgspec.to_builtins(body)):
        raise APIError(422, "invalid_body", "text may not contain NUL (U+0000)")
    return body


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


def human_validation_error(text: str) -> tuple[str | None, str]:
    """msgspec's validation error as ``(field, sentence)`` for a person filling in a form.

    Args:
        text: ``str(msgspec.ValidationError)``, e.g.
            ``"Expected `str` of length >= 8 - at `$.password`"``.

    Returns:
        The path of the value at fault (``"password"``, ``"add[3]"``; ``None`` for the
        body as a whole) and a sentence such as "Password must be at least 8 characters."
    """
    match = _AT_PATH.match(text)
    assert match is not None  # every string matches: the path part is optional
    what = match["what"]
    path = (match["path"] or "").removeprefix(".") or None
    if unknown := _OBJECT_FIELD.match(what):
        inner = f"{path}.{unknown['name']}" if path else unknown["name"]
        if unknown["how"] == "missing required":
            return inner, f"{_label(inner)} is required."
        return inner, f"“{unknown['name']}” is not a field this accepts."
    if path is None:
        if what.startswith("Expected `object`"):
            return None, "The body must be a JSON object."
        return None, f"The body is not what this accepts ({what})."
    label = _label(path)
    if length := _LENGTH.match(what):
        count, unit = int(length["n"]), "characters" if length["type"] == "str" else "items"
        if length["op"] == ">=" and count == 1:
            return path, f"{label} must not be empty."
        return path, f"{label} must be {_COMPARISONS[length['op']]} {count} {unit}."
    if bound := _RANGE.match(what):
        return path, f"{label} must be {_COMPARISONS[bound['op']]} {bound['n']}."
    if pattern := _PATTERN.match(what):
        rule = _PATTERN_RULES.get(pattern["regex"], f"in the form {pattern['regex']}")
        return path, f"{label} must be {rule}."
    if wrong := _TYPE.match(what):
        wants = " or ".join(_TYPE_WORDS.get(t, t) for t in wrong["want"].split(" | "))
        return path, f"{label} must be {wants}."
    if what.startswith("Invalid enum value"):
        return path, f"{label} is not one of the allowed values."
    return path, f"{label} is not valid ({what})."


def _label(path: str) -> str:
    """``"display_name"`` -> ``"Display name"``; a nested path is named by its last part."""
    last = re.split(r"[.\[]", path.rstrip("]"))[-1]
    name = last.replace("_", " ")
    if name.isdigit():  # a list item: name it by its list, "add[3]" -> "Add item 4"
        return f"{_label(path.rsplit('[', 1)[0])} item {int(name) + 1}"
    return name[:1].upper() + name[1:]


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
