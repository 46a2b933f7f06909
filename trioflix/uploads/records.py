"""Rows of the ``uploads`` table: what survives a restart about each tus upload.

The database holds the *committed* offset: the number of bytes known to be
stored (fsynced on disk, or in the object store) at the moment it was written.
The data file may be longer after a crash;
:meth:`trioflix.uploads.files.UploadFiles.opened` cuts it back to the
committed offset before anything else is written, so the two never disagree
about bytes that a client was told are stored. On object storage
(:mod:`trioflix.uploads.multipart`) the row also names the multipart upload,
the bytes of the committed offset that are in whole parts and, in
``upload_object_parts``, those parts.

States: ``uploading`` (bytes still expected), ``complete`` (all bytes stored),
``consumed`` (a partial upload whose bytes went into a final upload),
``terminated`` (DELETEd) and ``expired`` (reaped by housekeeping). The last two
are tombstones that answer 410 until housekeeping purges them.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from protocols import tus
from trioflix.storage import Part

if TYPE_CHECKING:
    from collections.abc import Sequence

    from trioflix.store import Row, Transaction

__all__ = [
    "GONE_STATES",
    "Upload",
    "UploadStatus",
    "add_parts",
    "commit_offset",
    "commit_parts",
    "create_upload",
    "expect_sha256",
    "finals_waiting_on",
    "forget_multipart",
    "get_upload",
    "list_data_left",
    "list_expired",
    "list_pending_finals",
    "list_stored_unfinished",
    "list_unfinished",
    "mark",
    "new_upload_id",
    "parts_of",
    "purge_tombstones",
    "save_digest",
    "set_length",
    "set_multipart",
    "stored_parts",
]

UploadStatus = Literal["uploading", "complete", "consumed", "terminated", "expired"]
GONE_STATES: frozenset[str] = frozenset({"terminated", "expired"})
UPLOAD_ID_BYTES = 16  # 128 bits: ids are unguessable, though ownership is checked anyway

_COLUMNS = (
    "id, user_id, upload_length, upload_offset, concat, metadata, state, video_id,"
    " created_at, updated_at, expires_at, multipart_id, part_bytes,"
    " digest_state, digest_offset, repr_sha256"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Upload:
    """One upload as stored. ``concat`` and ``metadata`` keep their tus header form."""

    id: str
    user_id: int
    length: int | None
    offset: int
    concat: str | None
    metadata: str
    state: UploadStatus
    video_id: int | None
    created_at: float
    updated_at: float
    expires_at: float | None
    multipart_id: str | None = None
    part_bytes: int = 0
    #: The running sha-256 (Resumable Uploads for HTTP; None for tus) and the offset it covers.
    digest_state: bytes | None = None
    digest_offset: int | None = None
    #: The sha-256 the whole upload must have, if a ``Repr-Digest`` said so.
    repr_sha256: bytes | None = None

    @property
    def gone(self) -> bool:
        return self.state in GONE_STATES

    @property
    def is_partial(self) -> bool:
        return self.concat == "partial"

    @property
    def is_final(self) -> bool:
        return self.concat is not None and self.concat.startswith("final;")

    def tus_state(self) -> tus.UploadState:
        """The protocol view of this upload (for tus decisions and response headers)."""
        expires = None
        if self.expires_at is not None:
            expires = datetime.fromtimestamp(self.expires_at, UTC)
        return tus.UploadState(
            offset=self.offset,
            length=self.length,
            concat=tus.parse_concat(self.concat) if self.concat is not None else None,
            metadata=self.decoded_metadata(),
            expires_at=expires,
        )

    def decoded_metadata(self) -> dict[str, bytes]:
        return tus.parse_metadata(self.metadata) if self.metadata else {}

    def metadata_text(self, key: str) -> str | None:
        """A metadata value as text (invalid UTF-8 replaced), or None if absent."""
        raw = self.decoded_metadata().get(key)
        return None if raw is None else raw.decode("utf-8", errors="replace")


def new_upload_id() -> str:
    return secrets.token_hex(UPLOAD_ID_BYTES)


def _upload(row: Row | None) -> Upload | None:
    return (
        None
        if row is None
        else Upload(
            id=row["id"],
            user_id=row["user_id"],
            length=row["upload_length"],
            offset=row["upload_offset"],
            concat=row["concat"],
            metadata=row["metadata"],
            state=row["state"],
            video_id=row["video_id"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            expires_at=row["expires_at"],
            multipart_id=row["multipart_id"],
            part_bytes=row["part_bytes"],
            digest_state=_bytes(row["digest_state"]),
            digest_offset=row["digest_offset"],
            repr_sha256=_bytes(row["repr_sha256"]),
        )
    )


def _bytes(value: bytes | memoryview | None) -> bytes | None:
    # asyncpg gives bytes, sqlite3 bytes; normalise a buffer all the same.
    return None if value is None else bytes(value)


async def create_upload(
    db: Transaction,
    *,
    upload_id: str,
    user_id: int,
    state: tus.UploadState,
    expires_at: float | None,
    multipart_id: str | None = None,
) -> Upload:
    now = time.time()
    concat = tus.format_concat(state.concat) if state.concat is not None else None
    row = await db.fetchrow(
        "INSERT INTO uploads (id, user_id, upload_length, upload_offset, concat, metadata,"
        " state, created_at, updated_at, expires_at, multipart_id)"
        f" VALUES ($1, $2, $3, 0, $4, $5, 'uploading', $6, $6, $7, $8) RETURNING {_COLUMNS}",
        upload_id,
        user_id,
        state.length,
        concat,
        tus.encode_metadata(state.metadata),
        now,
        expires_at,
        multipart_id,
    )
    upload = _upload(row)
    assert upload is not None
    return upload


async def get_upload(db: Transaction, upload_id: str, user_id: int | None) -> Upload | None:
    """The upload if it exists and ``user_id`` owns it (``None``: any owner, for services)."""
    if user_id is None:
        row = await db.fetchrow(f"SELECT {_COLUMNS} FROM uploads WHERE id = $1", upload_id)
    else:
        row = await db.fetchrow(
            f"SELECT {_COLUMNS} FROM uploads WHERE id = $1 AND user_id = $2", upload_id, user_id
        )
    return _upload(row)


async def set_length(db: Transaction, upload_id: str, length: int) -> None:
    """Fix a deferred length (creation-defer-length); the first PATCH that declares it wins."""
    await db.execute(
        "UPDATE uploads SET upload_length = $2, updated_at = $3"
        " WHERE id = $1 AND upload_length IS NULL",
        upload_id,
        length,
        time.time(),
    )


async def save_digest(db: Transaction, upload_id: str, offset: int, state: bytes) -> None:
    """Record the running sha-256 ``state`` of the upload's first ``offset`` bytes."""
    await db.execute(
        "UPDATE uploads SET digest_state = $2, digest_offset = $3 WHERE id = $1",
        upload_id,
        state,
        offset,
    )


async def expect_sha256(db: Transaction, upload_id: str, sha256: bytes) -> None:
    """Record the sha-256 the whole upload must have (a ``Repr-Digest``)."""
    await db.execute("UPDATE uploads SET repr_sha256 = $2 WHERE id = $1", upload_id, sha256)


async def commit_offset(
    db: Transaction, upload_id: str, offset: int, expires_at: float | None
) -> None:
    """Record that ``offset`` bytes are on disk; also slides the expiry forward."""
    await db.execute(
        "UPDATE uploads SET upload_offset = $2, expires_at = $3, updated_at = $4"
        " WHERE id = $1 AND state = 'uploading'",
        upload_id,
        offset,
        expires_at,
        time.time(),
    )


async def commit_parts(
    db: Transaction,
    upload_id: str,
    new_parts: Sequence[Part],
    *,
    part_bytes: int,
    offset: int,
    expires_at: float | None,
) -> None:
    """Record an upload's new parts and its committed offset (object storage), atomically.

    Args:
        db: A transaction, so that the parts and the offset move together.
        upload_id: The upload.
        new_parts: Parts sent since the last commit, in upload order.
        part_bytes: Bytes of the upload in all its committed parts.
        offset: The committed offset: the parts plus the tail object.
        expires_at: The new expiry.
    """
    for part in new_parts:
        await db.execute(
            "INSERT INTO upload_object_parts (upload_id, number, etag, size)"
            " VALUES ($1, $2, $3, $4)",
            upload_id,
            part.number,
            part.etag,
            part.size,
        )
    await db.execute(
        "UPDATE uploads SET upload_offset = $2, part_bytes = $3, expires_at = $4, updated_at = $5"
        " WHERE id = $1 AND state = 'uploading'",
        upload_id,
        offset,
        part_bytes,
        expires_at,
        time.time(),
    )


async def stored_parts(db: Transaction, upload_id: str) -> list[Part]:
    """The committed parts of an upload on object storage, in upload order."""
    rows = await db.fetch(
        "SELECT number, etag, size FROM upload_object_parts WHERE upload_id = $1 ORDER BY number",
        upload_id,
    )
    return [Part(number=row["number"], etag=row["etag"], size=row["size"]) for row in rows]


async def set_multipart(db: Transaction, upload_id: str, multipart_id: str | None) -> None:
    """Name the multipart upload that holds the upload's bytes (a final upload's assembly)."""
    await db.execute(
        "UPDATE uploads SET multipart_id = $2, updated_at = $3 WHERE id = $1",
        upload_id,
        multipart_id,
        time.time(),
    )


async def mark(
    db: Transaction, upload_id: str, state: UploadStatus, *, video_id: int | None = None
) -> None:
    await db.execute(
        "UPDATE uploads SET state = $2, video_id = COALESCE($3, video_id), updated_at = $4"
        " WHERE id = $1",
        upload_id,
        state,
        video_id,
        time.time(),
    )


async def add_parts(db: Transaction, final_id: str, partial_ids: tuple[str, ...]) -> None:
    for position, partial_id in enumerate(partial_ids):
        await db.execute(
            "INSERT INTO upload_parts (final_id, position, partial_id) VALUES ($1, $2, $3)",
            final_id,
            position,
            partial_id,
        )


async def parts_of(db: Transaction, final_id: str) -> list[Upload]:
    """A final upload's partial uploads, in concatenation order."""
    rows = await db.fetch(
        f"SELECT {', '.join('u.' + c.strip() for c in _COLUMNS.split(','))}"
        " FROM upload_parts p JOIN uploads u ON u.id = p.partial_id"
        " WHERE p.final_id = $1 ORDER BY p.position",
        final_id,
    )
    return [u for row in rows if (u := _upload(row)) is not None]


async def finals_waiting_on(db: Transaction, partial_id: str) -> list[str]:
    """Unfinished final uploads that include ``partial_id`` (concatenation-unfinished)."""
    rows = await db.fetch(
        "SELECT DISTINCT p.final_id AS id FROM upload_parts p JOIN uploads u ON u.id = p.final_id"
        " WHERE p.partial_id = $1 AND u.state = 'uploading'",
        partial_id,
    )
    return [row["id"] for row in rows]


async def list_pending_finals(db: Transaction, limit: int) -> list[str]:
    """Final uploads not yet assembled (for catching up after a crash)."""
    rows = await db.fetch(
        "SELECT id FROM uploads WHERE state = 'uploading' AND concat LIKE 'final;%'"
        " ORDER BY created_at LIMIT $1",
        limit,
    )
    return [row["id"] for row in rows]


async def list_stored_unfinished(db: Transaction, limit: int) -> list[str]:
    """Ordinary and partial uploads with every byte stored but not yet completed.

    Their completion was cut short: object storage away when the last bytes were
    joined, or the server stopped in between. Not those a ``Repr-Digest`` must
    match: they may have all their bytes and not match; only a request that
    checks it completes them.
    """
    rows = await db.fetch(
        "SELECT id FROM uploads WHERE state = 'uploading' AND upload_offset = upload_length"
        " AND (concat IS NULL OR concat = 'partial') AND repr_sha256 IS NULL"
        " ORDER BY updated_at LIMIT $1",
        limit,
    )
    return [row["id"] for row in rows]


async def list_unfinished(db: Transaction, user_id: int, limit: int) -> list[Upload]:
    """The user's uploads still waiting for bytes, newest first.

    Partial uploads are left out: they are pieces of a final upload (a client's
    parallel upload), not files of their own.
    """
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM uploads WHERE user_id = $1 AND state = 'uploading'"
        " AND (concat IS NULL OR concat <> 'partial') ORDER BY created_at DESC LIMIT $2",
        user_id,
        limit,
    )
    return [u for row in rows if (u := _upload(row)) is not None]


async def list_expired(db: Transaction, now: float, limit: int) -> list[Upload]:
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM uploads WHERE state = 'uploading' AND expires_at <= $1"
        " ORDER BY expires_at LIMIT $2",
        now,
        limit,
    )
    return [u for row in rows if (u := _upload(row)) is not None]


async def list_data_left(db: Transaction, limit: int) -> list[Upload]:
    """Terminated and expired uploads whose multipart upload is still to be aborted.

    The storage was away when they ended: their row keeps the multipart id until
    :func:`forget_multipart` says the upload and its objects are gone.
    """
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM uploads WHERE state IN ('terminated', 'expired')"
        " AND multipart_id IS NOT NULL ORDER BY updated_at LIMIT $1",
        limit,
    )
    return [u for row in rows if (u := _upload(row)) is not None]


async def forget_multipart(db: Transaction, upload_id: str) -> None:
    """A gone upload's multipart upload and objects were removed: nothing is left to clean."""
    await db.execute("UPDATE uploads SET multipart_id = NULL WHERE id = $1", upload_id)


async def purge_tombstones(db: Transaction, before: float) -> int:
    """Forget terminated and expired uploads last touched before ``before``.

    A row whose data is still to be removed (:func:`list_data_left`) stays until it is.
    """
    return await db.execute(
        "DELETE FROM uploads WHERE state IN ('terminated', 'expired') AND updated_at < $1"
        " AND multipart_id IS NULL",
        before,
    )
