"""Stream keys: the secret an encoder (OBS) publishes with, stored only as a hash.

A key is 32 bytes from :mod:`secrets`, URL-safe base64 (43 characters), after a
``live_`` prefix that makes a leaked key recognisable. The database keeps its
SHA-256 (a fast hash is right for a 256-bit random secret: there is nothing to
brute-force) and a four-character hint to tell keys apart in the masked view.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trioflix.store._database import Row, Transaction

__all__ = [
    "KEY_PREFIX",
    "StreamKey",
    "create_key",
    "delete_key",
    "find_key",
    "get_key",
    "hash_key",
    "list_keys",
    "new_key",
    "regenerate_key",
    "update_key",
]

KEY_PREFIX = "live_"
KEY_BYTES = 32  # 256 bits: unguessable; at least 32 random bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamKey:
    id: int
    user_id: int
    name: str
    key_hint: str
    enabled: bool
    record: bool
    created_at: float
    last_used_at: float | None

    @property
    def masked(self) -> str:
        return f"{KEY_PREFIX}{self.key_hint}{'*' * 12}"

    def public(self, *, full_key: str | None = None) -> dict[str, Any]:
        """The key as the API shows it; ``full_key`` only right after creation or regeneration."""
        return {
            "id": self.id,
            "name": self.name,
            "key": full_key if full_key is not None else self.masked,
            "masked": full_key is None,
            "enabled": self.enabled,
            "record": self.record,
            "created_at": self.created_at,
            "last_used_at": self.last_used_at,
        }


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(KEY_BYTES)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _hint(key: str) -> str:
    return key[len(KEY_PREFIX) : len(KEY_PREFIX) + 4]


_COLUMNS = "id, user_id, name, key_hint, enabled, record, created_at, last_used_at"


def _key(row: Row | None) -> StreamKey | None:
    if row is None:
        return None
    # SQLite has no boolean type and hands back 0/1.
    return StreamKey(**{**row, "enabled": bool(row["enabled"]), "record": bool(row["record"])})


async def create_key(
    db: Transaction, *, user_id: int, name: str, enabled: bool = True, record: bool = True
) -> tuple[StreamKey, str]:
    """Create a key; returns it with the full secret, which is never retrievable again."""
    secret = new_key()
    row = await db.fetchrow(
        "INSERT INTO stream_keys (user_id, name, key_hash, key_hint, enabled, record, created_at)"
        f" VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {_COLUMNS}",
        user_id,
        name,
        hash_key(secret),
        _hint(secret),
        enabled,
        record,
        time.time(),
    )
    key = _key(row)
    assert key is not None
    return key, secret


async def list_keys(db: Transaction, user_id: int) -> list[StreamKey]:
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM stream_keys WHERE user_id = $1 ORDER BY id", user_id
    )
    return [key for row in rows if (key := _key(row)) is not None]


async def get_key(db: Transaction, user_id: int, key_id: int) -> StreamKey | None:
    """The key ``key_id`` if ``user_id`` owns it; another user's key is indistinguishable
    from a missing one."""
    return _key(
        await db.fetchrow(
            f"SELECT {_COLUMNS} FROM stream_keys WHERE id = $1 AND user_id = $2", key_id, user_id
        )
    )


async def find_key(db: Transaction, secret: str) -> StreamKey | None:
    """Look a presented secret up by its hash (what the RTMP publish check does)."""
    return _key(
        await db.fetchrow(
            f"SELECT {_COLUMNS} FROM stream_keys WHERE key_hash = $1", hash_key(secret)
        )
    )


async def update_key(
    db: Transaction,
    user_id: int,
    key_id: int,
    *,
    name: str | None = None,
    enabled: bool | None = None,
    record: bool | None = None,
) -> StreamKey | None:
    """Change the given fields; ``None`` leaves a field as it is."""
    return _key(
        await db.fetchrow(
            "UPDATE stream_keys SET name = COALESCE($3, name), enabled = COALESCE($4, enabled),"
            " record = COALESCE($5, record)"
            f" WHERE id = $1 AND user_id = $2 RETURNING {_COLUMNS}",
            key_id,
            user_id,
            name,
            enabled,
            record,
        )
    )


async def regenerate_key(
    db: Transaction, user_id: int, key_id: int
) -> tuple[StreamKey, str] | None:
    """Replace the secret; the old one stops working at once."""
    secret = new_key()
    key = _key(
        await db.fetchrow(
            "UPDATE stream_keys SET key_hash = $3, key_hint = $4"
            f" WHERE id = $1 AND user_id = $2 RETURNING {_COLUMNS}",
            key_id,
            user_id,
            hash_key(secret),
            _hint(secret),
        )
    )
    return None if key is None else (key, secret)


async def delete_key(db: Transaction, user_id: int, key_id: int) -> bool:
    return (
        await db.execute("DELETE FROM stream_keys WHERE id = $1 AND user_id = $2", key_id, user_id)
        > 0
    )
