"""Versioned schema migrations, applied in order at start and by ``trioflix db migrate``.

Each migration is written once; ``{pk}``-style tokens expand to the dialect's
spelling. A migration never changes after it has shipped: add a new one.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trioflix.store._database import Database, Dialect

__all__ = ["MIGRATIONS", "migrate"]

logger = logging.getLogger(__name__)

_TOKENS: dict[str, dict[str, str]] = {
    "sqlite": {
        "{pk}": "INTEGER PRIMARY KEY AUTOINCREMENT",
        "{bigint}": "INTEGER",
        "{bool}": "INTEGER",
        "{float}": "REAL",
        "{blob}": "BLOB",
    },
    "postgresql": {
        "{pk}": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
        "{bigint}": "BIGINT",
        "{bool}": "BOOLEAN",
        "{float}": "DOUBLE PRECISION",
        "{blob}": "BYTEA",
    },
}

MIGRATIONS: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (
        1,
        "accounts and stream keys",
        (
            """CREATE TABLE users (
                id {pk},
                name TEXT NOT NULL UNIQUE,
                display_name TEXT NOT NULL,
                password_hash TEXT NOT NULL,
                created_at {float} NOT NULL
            )""",
            """CREATE TABLE stream_keys (
                id {pk},
                user_id {bigint} NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                name TEXT NOT NULL,
                key_hash TEXT NOT NULL UNIQUE,
                key_hint TEXT NOT NULL,
                enabled {bool} NOT NULL,
                record {bool} NOT NULL,
                created_at {float} NOT NULL,
                last_used_at {float}
            )""",
            "CREATE INDEX stream_keys_user ON stream_keys (user_id)",
        ),
    ),
    (
        2,
        "live sessions",
        (
            """CREATE TABLE live_sessions (
                id {pk},
                user_id {bigint} NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                key_id {bigint} REFERENCES stream_keys(id) ON DELETE SET NULL,
                node TEXT,
                state TEXT NOT NULL,
                title TEXT NOT NULL,
                description TEXT NOT NULL,
                created_at {float} NOT NULL,
                started_at {float},
                ended_at {float},
                end_reason TEXT,
                peak_viewers INTEGER NOT NULL DEFAULT 0
            )""",
            "CREATE INDEX live_sessions_user ON live_sessions (user_id, id)",
            "CREATE INDEX live_sessions_state ON live_sessions (state)",
        ),
    ),
    (
        3,
        "video library, tus uploads, job queue",
        (
            """CREATE TABLE videos (
                id {pk},
                user_id {bigint} NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                title TEXT NOT NULL,
                description TEXT NOT NULL,
                origin TEXT NOT NULL,
                state TEXT NOT NULL,
                failure TEXT,
                progress {float} NOT NULL,
                duration {float},
                width {bigint},
                height {bigint},
                media TEXT,
                renditions TEXT,
                created_at {float} NOT NULL,
                updated_at {float} NOT NULL
            )""",
            "CREATE INDEX videos_user ON videos (user_id, id)",
            "CREATE INDEX videos_state ON videos (state, id)",
            """CREATE TABLE uploads (
                id TEXT PRIMARY KEY,
                user_id {bigint} NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                upload_length {bigint},
                upload_offset {bigint} NOT NULL,
                concat TEXT,
                metadata TEXT NOT NULL,
                state TEXT NOT NULL,
                video_id {bigint} REFERENCES videos(id) ON DELETE SET NULL,
                created_at {float} NOT NULL,
                updated_at {float} NOT NULL,
                expires_at {float}
            )""",
            "CREATE INDEX uploads_state ON uploads (state, expires_at)",
            "CREATE INDEX uploads_video ON uploads (video_id)",
            """CREATE TABLE upload_parts (
                final_id TEXT NOT NULL REFERENCES uploads(id) ON DELETE CASCADE,
                position INTEGER NOT NULL,
                partial_id TEXT NOT NULL REFERENCES uploads(id) ON DELETE CASCADE,
                PRIMARY KEY (final_id, position)
            )""",
            "CREATE INDEX upload_parts_partial ON upload_parts (partial_id)",
            """CREATE TABLE jobs (
                id {pk},
                kind TEXT NOT NULL,
                subject TEXT,
                payload TEXT NOT NULL,
                state TEXT NOT NULL,
                attempts INTEGER NOT NULL,
                max_attempts INTEGER NOT NULL,
                run_after {float} NOT NULL,
                lease_until {float},
                worker TEXT,
                last_error TEXT,
                created_at {float} NOT NULL,
                updated_at {float} NOT NULL
            )""",
            "CREATE INDEX jobs_ready ON jobs (state, run_after)",
            "CREATE INDEX jobs_subject ON jobs (subject)",
        ),
    ),
    (
        4,
        "chat: moderation, audit log, emotes, wallet ledger, superchats",
        (
            # Room settings as JSON: one row per channel that changed a default.
            """CREATE TABLE chat_rooms (
                channel_id {bigint} PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
                settings TEXT NOT NULL,
                updated_at {float} NOT NULL
            )""",
            """CREATE TABLE chat_moderators (
                channel_id {bigint} NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                user_id {bigint} NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                created_at {float} NOT NULL,
                PRIMARY KEY (channel_id, user_id)
            )""",
            # A ban has no end (until NULL); a timeout is a ban with one.
            """CREATE TABLE chat_bans (
                channel_id {bigint} NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                user_id {bigint} NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                until {float},
                reason TEXT NOT NULL,
                moderator_id {bigint} REFERENCES users(id) ON DELETE SET NULL,
                created_at {float} NOT NULL,
                PRIMARY KEY (channel_id, user_id)
            )""",
            """CREATE TABLE chat_blocked_terms (
                channel_id {bigint} NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                term TEXT NOT NULL,
                PRIMARY KEY (channel_id, term)
            )""",
            """CREATE TABLE chat_audit (
                id {pk},
                channel_id {bigint} NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                actor_id {bigint} REFERENCES users(id) ON DELETE SET NULL,
                action TEXT NOT NULL,
                target_user_id {bigint} REFERENCES users(id) ON DELETE SET NULL,
                detail TEXT NOT NULL,
                created_at {float} NOT NULL
            )""",
            "CREATE INDEX chat_audit_channel ON chat_audit (channel_id, id)",
            """CREATE TABLE chat_emotes (
                id {pk},
                channel_id {bigint} NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                code TEXT NOT NULL,
                content_type TEXT NOT NULL,
                image {blob} NOT NULL,
                created_at {float} NOT NULL,
                UNIQUE (channel_id, code)
            )""",
            # The balance a debit checks and locks; always equal to the ledger's sum.
            """CREATE TABLE wallets (
                user_id {bigint} NOT NULL REFERENCES users(id),
                currency TEXT NOT NULL,
                balance {bigint} NOT NULL CHECK (balance >= 0),
                PRIMARY KEY (user_id, currency)
            )""",
            # Append-only: rows are inserted, never updated or deleted. Money outlives
            # accounts, so no cascade.
            """CREATE TABLE wallet_ledger (
                id {pk},
                user_id {bigint} NOT NULL REFERENCES users(id),
                currency TEXT NOT NULL,
                amount {bigint} NOT NULL,
                balance_after {bigint} NOT NULL CHECK (balance_after >= 0),
                kind TEXT NOT NULL,
                reference TEXT UNIQUE,
                created_at {float} NOT NULL
            )""",
            "CREATE INDEX wallet_ledger_user ON wallet_ledger (user_id, id)",
            """CREATE TABLE superchats (
                id {pk},
                channel_id {bigint} NOT NULL REFERENCES users(id),
                user_id {bigint} NOT NULL REFERENCES users(id),
                amount {bigint} NOT NULL,
                currency TEXT NOT NULL,
                text TEXT NOT NULL,
                ledger_id {bigint} NOT NULL REFERENCES wallet_ledger(id),
                created_at {float} NOT NULL
            )""",
            "CREATE INDEX superchats_channel ON superchats (channel_id, id)",
        ),
    ),
    (
        5,
        "live recordings handed off",
        (
            # One row per live session whose recording became a video, written in the
            # hand-off's transaction: a recording found again after a crash between
            # that commit and the file's move goes to the same video, not a second one.
            # A deleted video leaves video_id NULL: the leftover file is then dropped.
            """CREATE TABLE live_recordings (
                session_id {bigint} PRIMARY KEY REFERENCES live_sessions(id) ON DELETE CASCADE,
                video_id {bigint} REFERENCES videos(id) ON DELETE SET NULL,
                created_at {float} NOT NULL
            )""",
        ),
    ),
    (
        6,
        "live sessions fenced by their origin's epoch",
        (
            # The fencing epoch of the origin lease the session is served under (0 on
            # a single host): a host whose lease was taken over since writes with a
            # smaller one, and that write is refused (trioflix.store.live_sessions).
            "ALTER TABLE live_sessions ADD COLUMN origin_epoch {bigint} NOT NULL DEFAULT 0",
        ),
    ),
    (
        7,
        "tus uploads on object storage",
        (
            # On object storage an upload is a multipart upload of uploads/ID/data:
            # its id, and how many of the committed bytes are in whole parts (the
            # rest are in the tail object).
            "ALTER TABLE uploads ADD COLUMN multipart_id TEXT",
            "ALTER TABLE uploads ADD COLUMN part_bytes {bigint} NOT NULL DEFAULT 0",
            # The parts whose bytes the committed offset counts, in upload order.
            # Part numbers are never reused, so a part sent but never committed
            # (a crash, a checksum that failed) is simply left out on completion.
            """CREATE TABLE upload_object_parts (
                upload_id TEXT NOT NULL REFERENCES uploads(id) ON DELETE CASCADE,
                number INTEGER NOT NULL,
                etag TEXT NOT NULL,
                size {bigint} NOT NULL,
                PRIMARY KEY (upload_id, number)
            )""",
            # The per-upload lock across hosts (trioflix.uploads.shared_locks).
            "ALTER TABLE uploads ADD COLUMN lock_holder TEXT",
            "ALTER TABLE uploads ADD COLUMN lock_until {float}",
            "ALTER TABLE uploads ADD COLUMN lock_evict {bool} NOT NULL DEFAULT FALSE",
        ),
    ),
    (
        8,
        "video media tokens",
        (
            # The random part of the prefix under which a video's objects are stored
            # (videos/ID-TOKEN/), so that its URLs cannot be guessed from its id.
            "ALTER TABLE videos ADD COLUMN media_token TEXT",
        ),
    ),
    (
        9,
        "channels ended by their streamer",
        (
            # One row per channel whose streamer ended the stream (the stop API): its
            # encoder is refused until the streamer starts again (the row is deleted)
            # or the stop cooldown passes. In the database, so that every host of a
            # site refuses it, and a restart too.
            """CREATE TABLE stream_stops (
                user_id {bigint} PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
                stopped_at {float} NOT NULL
            )""",
        ),
    ),
    (
        10,
        "job priorities and videos playable before their ladder",
        (
            # Higher runs first (trioflix.jobs.queue: live recordings ahead of uploads,
            # with aging so that uploads are never starved).
            "ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0",
            # A recording is ready as streamed first: 'pending' while its ladder and
            # thumbnails are made, 'failed' if that gave up (the video stays playable),
            # NULL once complete or for a video made in one pass.
            "ALTER TABLE videos ADD COLUMN ladder_state TEXT",
        ),
    ),
    (
        11,
        "scheduled streams",
        (
            # One row per stream a streamer announced (trioflix.store.schedule). The
            # start is stored in UTC with the IANA zone it was given in, so that the
            # pages and the calendar feed show it as the streamer meant it.
            # state: scheduled, started (a live session attached: session_id),
            # missed (its window passed with no stream), cancelled. revision counts
            # the edits: the calendar feed's SEQUENCE, so that subscribers update.
            """CREATE TABLE schedule_entries (
                id {pk},
                user_id {bigint} NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                title TEXT NOT NULL,
                description TEXT NOT NULL,
                starts_at {float} NOT NULL,
                time_zone TEXT NOT NULL,
                duration_s INTEGER NOT NULL,
                state TEXT NOT NULL,
                session_id {bigint} REFERENCES live_sessions(id) ON DELETE SET NULL,
                cover_type TEXT,
                cover {blob},
                revision INTEGER NOT NULL,
                created_at {float} NOT NULL,
                updated_at {float} NOT NULL
            )""",
            "CREATE INDEX schedule_entries_user ON schedule_entries (user_id, starts_at)",
            "CREATE INDEX schedule_entries_due ON schedule_entries (state, starts_at)",
        ),
    ),
    (
        12,
        "superchat idempotency keys",
        (
            # The client's key for one SuperChat attempt: a resend with the same key
            # answers with this row instead of paying again (trioflix.chat.actions).
            # Unique per user and kept as long as the row: NULLs (SuperChats from
            # before keys) are distinct in both dialects.
            "ALTER TABLE superchats ADD COLUMN idempotency_key TEXT",
            "CREATE UNIQUE INDEX superchats_idempotency ON superchats (user_id, idempotency_key)",
            # The published message's id; NULL until the bus has published it.
            "ALTER TABLE superchats ADD COLUMN message_id {bigint}",
            # Until when the process that committed the row (or took it over) is
            # publishing it; after that a resend publishes it instead.
            "ALTER TABLE superchats ADD COLUMN publishing_until {float}",
        ),
    ),
    (
        13,
        "running digests of resumable uploads",
        (
            # A Resumable Uploads for HTTP upload's sha-256 so far, stored at each
            # commit (trioflix.uploads.running_digest): the state, and the offset
            # it covers (which may trail upload_offset after a crash). NULL for tus.
            "ALTER TABLE uploads ADD COLUMN digest_state {blob}",
            "ALTER TABLE uploads ADD COLUMN digest_offset {bigint}",
            # The sha-256 the whole upload must have (a Repr-Digest sent before
            # the request that completes it); NULL: none sent.
            "ALTER TABLE uploads ADD COLUMN repr_sha256 {blob}",
        ),
    ),
)


def _expand(sql: str, dialect: Dialect) -> str:
    for token, spelling in _TOKENS[dialect].items():
        sql = sql.replace(token, spelling)
    return sql


async def migrate(db: Database) -> list[int]:
    """Apply every migration not yet recorded in ``schema_migrations``.

    Safe to run from several processes at once: PostgreSQL takes an advisory
    lock, SQLite an immediate (write) transaction.

    Returns:
        The versions applied by this call, in order.
    """
    await db.execute(
        _expand(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at {float} NOT NULL)",
            db.dialect,
        )
    )
    applied: list[int] = []
    for version, name, statements in MIGRATIONS:
        async with db.transaction() as tx:
            if db.dialect == "postgresql":
                await tx.execute("SELECT pg_advisory_xact_lock(7357)")
            done = await tx.fetchval(
                "SELECT version FROM schema_migrations WHERE version = $1", version
            )
            if done is not None:
                continue
            for statement in statements:
                await tx.execute(_expand(statement, db.dialect))
            await tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                version,
                name,
                time.time(),
            )
        logger.info("applied migration %d: %s", version, name)
        applied.append(version)
    return applied
