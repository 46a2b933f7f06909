"""Creating accounts, shared by the register route and ``trioflix user create``."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from trioflix.auth.passwords import hash_password
from trioflix.store import Conflict
from trioflix.store.users import User, create_user

if TYPE_CHECKING:
    from trioflix.store import Database

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "USERNAME_PATTERN",
    "NameTaken",
    "canonical_name",
    "create_account",
]

# The name is the channel's name in URLs (/live/{name}/...), so it stays URL-safe; it
# is lowercase, so a name typed with capitals still finds its one channel.
USERNAME_PATTERN = r"^[a-z0-9_]{3,32}$"
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024  # Argon2 takes any length; this only bounds the work per request


def canonical_name(text: str) -> str | None:
    """The stored spelling of the name ``text`` is written as, ``None`` when none can be.

    Names are stored lowercase, so ``"Alice"`` is ``"alice"``'s channel; only ASCII
    folds (``"\u212a"``, the Kelvin sign, lowercases to ``"k"`` but is not a name).
    """
    name = text.lower()
    return name if text.isascii() and re.fullmatch(USERNAME_PATTERN, name) else None


class NameTaken(Exception):
    pass


async def create_account(
    db: Database, username: str, password: str, display_name: str | None = None
) -> User:
    """Hash the password and store the account.

    Raises:
        ValueError: the name or password does not meet the rules.
        NameTaken: the name is in use.
    """
    if not re.fullmatch(USERNAME_PATTERN, username):
        raise ValueError("a username is 3-32 characters of a-z, 0-9 and _")
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise ValueError(
            f"a password has {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters"
        )
    try:
        return await create_user(
            db,
            name=username,
            display_name=display_name or username,
            password_hash=await hash_password(password),
        )
    except Conflict:
        raise NameTaken(username) from None
