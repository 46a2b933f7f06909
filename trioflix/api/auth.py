"""Accounts: register, log in, who am I."""

from __future__ import annotations

import time
from typing import Annotated, Any

import msgspec
from quart import Blueprint, g, request

from trioflix.api._http import Body, json_body, require_user
from trioflix.auth.accounts import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    USERNAME_PATTERN,
    NameTaken,
    create_account,
)
from trioflix.auth.passwords import verify_password
from trioflix.errors import APIError
from trioflix.state import state
from trioflix.store.users import get_user_by_name

__all__ = ["blueprint"]

blueprint = Blueprint("auth", __name__, url_prefix="/api/auth")

Username = Annotated[str, msgspec.Meta(pattern=USERNAME_PATTERN)]
Password = Annotated[
    str, msgspec.Meta(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH)
]
DisplayName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class RegisterBody(Body):
    username: Username
    password: Password
    display_name: DisplayName | None = None


class LoginBody(Body):
    username: Annotated[str, msgspec.Meta(max_length=64)]
    password: Annotated[str, msgspec.Meta(max_length=1024)]


def _refuse_if_throttled(name_key: str, address_key: str, now: float) -> None:
    """A 429 while the name or the address has used up its failures.

    Logins and registrations share the limiters, so probing names through one
    route spends the budget of the other.
    """
    app_state = state()
    wait = max(
        app_state.login_names.retry_after(name_key, now),
        app_state.login_addresses.retry_after(address_key, now),
    )
    if wait > 0:
        raise APIError(
            429,
            "too_many_attempts",
            f"too many failed attempts; try again in {int(wait) + 1} s",
            headers={"Retry-After": str(int(wait) + 1)},
        )


def _record_failure(name_key: str, address_key: str, now: float) -> None:
    state().login_names.record_failure(name_key, now)
    state().login_addresses.record_failure(address_key, now)


@blueprint.post("/register")
async def register() -> tuple[dict[str, Any], int]:
    body = await json_body(RegisterBody)
    now = time.monotonic()
    name_key = body.username.lower()
    address_key = request.remote_addr or "unknown"
    _refuse_if_throttled(name_key, address_key, now)
    try:
        user = await create_account(state().db, body.username, body.password, body.display_name)
    except NameTaken:
        # A taken name tells the caller that the account exists: each one counts
        # as a failed guess, as a wrong password does at login.
        _record_failure(name_key, address_key, now)
        raise APIError(
            409, "name_taken", f"The name “{body.username}” is taken.", field="username"
        ) from None
    return {"token": state().tokens.issue(user.id), "user": user.public()}, 201


@blueprint.post("/login")
async def login() -> dict[str, Any]:
    body = await json_body(LoginBody)
    app_state = state()
    now = time.monotonic()
    name_key = body.username.lower()
    address_key = request.remote_addr or "unknown"
    _refuse_if_throttled(name_key, address_key, now)
    user = await get_user_by_name(app_state.db, body.username)
    if not await verify_password(user.password_hash if user else None, body.password):
        _record_failure(name_key, address_key, now)
        app_state.metrics.logins_failed.inc()
        raise APIError(401, "invalid_credentials", "wrong username or password")
    assert user is not None
    app_state.login_names.reset(name_key)
    return {"token": app_state.tokens.issue(user.id), "user": user.public()}


@blueprint.get("/me")
@require_user
async def me() -> dict[str, Any]:
    return {"user": g.user.public()}
