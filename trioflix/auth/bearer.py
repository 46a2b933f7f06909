"""The user a bearer token names (from an ``Authorization`` header or elsewhere), for any
transport."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from trioflix.auth.tokens import InvalidToken
from trioflix.errors import APIError
from trioflix.store.users import User, get_user

if TYPE_CHECKING:
    from trioflix.auth.tokens import TokenIssuer
    from trioflix.store import Database

__all__ = ["Verifier", "user_for_authorization", "user_for_token"]


class Verifier(Protocol):
    """What checks a bearer token: the issuer that signed it and the database of its
    users (the app's state is one)."""

    @property
    def tokens(self) -> TokenIssuer: ...

    @property
    def db(self) -> Database: ...


async def user_for_authorization(app_state: Verifier, header: str) -> User:
    """The user whose token ``header`` (an ``Authorization`` value) carries.

    Raises:
        APIError: 401 for a missing, malformed, expired or forged token, or one
            whose user no longer exists.
    """
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise APIError(
            401,
            "unauthorized",
            "send Authorization: Bearer <token>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return await user_for_token(
        app_state,
        token.strip(),
        challenge={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


async def user_for_token(
    app_state: Verifier, token: str, *, challenge: dict[str, str] | None = None
) -> User:
    """The user ``token`` (a JWT this server issued) names.

    Raises:
        APIError: 401 ``invalid_token`` for an expired or forged token (with the
            ``challenge`` headers), or one whose user no longer exists.
    """
    try:
        user_id = app_state.tokens.verify(token)
    except InvalidToken as exc:
        raise APIError(401, "invalid_token", str(exc), headers=challenge) from None
    user = await get_user(app_state.db, user_id)
    if user is None:
        raise APIError(401, "invalid_token", "the token's user does not exist")
    return user
