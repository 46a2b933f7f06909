"""Accounts table access."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trioflix.store._database import Row, Transaction

__all__ = ["User", "create_user", "get_user", "get_user_by_name"]


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    id: int
    name: str
    display_name: str
    password_hash: str
    created_at: float

    def public(self) -> dict[str, Any]:
        """The user as the API shows it: never the password hash."""
        return {
            "id": self.id,
            "name": self.name,
            "display_name": self.display_name,
            "created_at": self.created_at,
        }


def _user(row: Row | None) -> User | None:
    return None if row is None else User(**row)


_COLUMNS = "id, name, display_name, password_hash, created_at"


async def create_user(db: Transaction, *, name: str, display_name: str, password_hash: str) -> User:
    """Insert a user. Raises :class:`~trioflix.store.Conflict` if the name is taken."""
    row = await db.fetchrow(
        f"INSERT INTO users (name, display_name, password_hash, created_at) "
        f"VALUES ($1, $2, $3, $4) RETURNING {_COLUMNS}",
        name,
        display_name,
        password_hash,
        time.time(),
    )
    assert row is not None
    return User(**row)


async def get_user(db: Transaction, user_id: int) -> User | None:
    return _user(await db.fetchrow(f"SELECT {_COLUMNS} FROM users WHERE id = $1", user_id))


async def get_user_by_name(db: Transaction, name: str) -> User | None:
    return _user(await db.fetchrow(f"SELECT {_COLUMNS} FROM users WHERE name = $1", name))
