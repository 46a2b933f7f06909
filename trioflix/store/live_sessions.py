"""Live sessions: one row per time a channel went live (or was prepared to).

States: ``ready`` (``POST /api/streaming/start`` called, no publisher yet),
``live``, ``reconnecting`` (the publisher dropped; within the grace window a
publish with the same key continues this session), ``ended``. A user has at most
one session that is not ``ended``; the registry enforces that under its lock.

**Fencing.** In a cluster a session moves between hosts (a takeover, an encoder
reconnecting elsewhere), and the host it left may still write before it learns
that. Each session row keeps ``origin_epoch``, the fencing epoch of the origin
lease it is served under (0 on a single host, where every write passes): the
host that starts or continues it stores its epoch, and the writes of the host
serving it (:func:`set_state`, :func:`end_session` given an ``epoch``) apply
only while no larger epoch is stored. A refused write changes nothing and says
so (``False``).

**Stops.** ``POST /api/streaming/stop`` is the streamer saying the stream is
over, so it is recorded (:func:`record_stop`) and the channel's encoder is
refused until the streamer starts again (:func:`prepare_session` clears it) or
the stop cooldown passes: an encoder's auto-reconnect does not undo it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from trioflix.store._database import Database, Row, Transaction

__all__ = [
    "ACTIVE_STATES",
    "LiveSession",
    "active_session",
    "begin_publishing",
    "clear_stop",
    "end_node_sessions",
    "end_session",
    "last_session",
    "live_sessions",
    "on_air",
    "prepare_session",
    "record_stop",
    "serve_under",
    "set_state",
    "stopped_at",
]

SessionState = Literal["ready", "live", "reconnecting", "ended"]
ACTIVE_STATES = ("ready", "live", "reconnecting")
MAX_TITLE = 140
MAX_DESCRIPTION = 5000


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveSession:
    id: int
    user_id: int
    key_id: int | None
    node: str | None
    state: SessionState
    title: str
    description: str
    created_at: float
    started_at: float | None
    ended_at: float | None
    end_reason: str | None
    peak_viewers: int
    origin_epoch: int

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "state": self.state,
            "title": self.title,
            "description": self.description,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "end_reason": self.end_reason,
            "peak_viewers": self.peak_viewers,
        }


_COLUMNS = (
    "id, user_id, key_id, node, state, title, description, created_at, started_at,"
    " ended_at, end_reason, peak_viewers, origin_epoch"
)


def _session(row: Row | None) -> LiveSession | None:
    return None if row is None else LiveSession(**row)


async def active_session(db: Transaction, user_id: int) -> LiveSession | None:
    return _session(
        await db.fetchrow(
            f"SELECT {_COLUMNS} FROM live_sessions WHERE user_id = $1 AND state <> 'ended'"
            " ORDER BY id DESC LIMIT 1",
            user_id,
        )
    )


async def last_session(db: Transaction, user_id: int) -> LiveSession | None:
    return _session(
        await db.fetchrow(
            f"SELECT {_COLUMNS} FROM live_sessions WHERE user_id = $1 ORDER BY id DESC LIMIT 1",
            user_id,
        )
    )


async def prepare_session(
    db: Database, user_id: int, *, title: str | None, description: str | None
) -> LiveSession:
    """``POST /api/streaming/start``: retitle the active session, or open a ``ready``
    one; a stop the streamer recorded is over."""
    async with db.transaction() as tx:
        await clear_stop(tx, user_id)
        current = await active_session(tx, user_id)
        if current is not None:
            row = await tx.fetchrow(
                "UPDATE live_sessions SET title = COALESCE($2, title),"
                f" description = COALESCE($3, description) WHERE id = $1 RETURNING {_COLUMNS}",
                current.id,
                title,
                description,
            )
        else:
            row = await tx.fetchrow(
                "INSERT INTO live_sessions (user_id, state, title, description, created_at)"
                f" VALUES ($1, 'ready', $2, $3, $4) RETURNING {_COLUMNS}",
                user_id,
                title or "",
                description or "",
                time.time(),
            )
    session = _session(row)
    assert session is not None
    return session


async def record_stop(db: Transaction, user_id: int, at: float) -> None:
    """The streamer ended the stream at ``at``: the encoder is refused from now on."""
    await db.execute(
        "INSERT INTO stream_stops (user_id, stopped_at) VALUES ($1, $2)"
        " ON CONFLICT (user_id) DO UPDATE SET stopped_at = excluded.stopped_at",
        user_id,
        at,
    )


async def clear_stop(db: Transaction, user_id: int) -> None:
    """The streamer starts again: the encoder may publish."""
    await db.execute("DELETE FROM stream_stops WHERE user_id = $1", user_id)


async def stopped_at(db: Transaction, user_id: int) -> float | None:
    """When the streamer ended the stream, if they have not started again since."""
    at: float | None = await db.fetchval(
        "SELECT stopped_at FROM stream_stops WHERE user_id = $1", user_id
    )
    return at


async def begin_publishing(
    db: Database,
    user_id: int,
    key_id: int,
    node: str,
    *,
    default_title: str,
    epoch: int = 0,
    then: Callable[[Transaction, int], Awaitable[None]] | None = None,
) -> LiveSession | None:
    """A publisher went live: the active session (``ready``, or live or
    ``reconnecting`` on another host) continues here, or a new one opens.

    Args:
        epoch: This host's origin epoch for the channel (0 on a single host).
        then: Called with the transaction and the session's id once it is live,
            to change more in the same transaction (the scheduled stream it
            starts): nobody sees the session live before that is done.

    Returns:
        The session, now served under ``epoch``; ``None`` if the active session
        is served under a larger epoch already (another host took it since).
    """
    now = time.time()
    async with db.transaction() as tx:
        current = await active_session(tx, user_id)
        if current is not None:
            row = await tx.fetchrow(
                "UPDATE live_sessions SET state = 'live', key_id = $2, node = $3,"
                " started_at = COALESCE(started_at, $4),"
                " title = CASE WHEN title = '' THEN $5 ELSE title END, origin_epoch = $6"
                f" WHERE id = $1 AND origin_epoch <= $6 RETURNING {_COLUMNS}",
                current.id,
                key_id,
                node,
                now,
                default_title,
                epoch,
            )
        else:
            row = await tx.fetchrow(
                "INSERT INTO live_sessions (user_id, key_id, node, state, title, description,"
                " created_at, started_at, origin_epoch)"
                " VALUES ($1, $2, $3, 'live', $4, '', $5, $5, $6)"
                f" RETURNING {_COLUMNS}",
                user_id,
                key_id,
                node,
                default_title,
                now,
                epoch,
            )
        if row is not None:
            await tx.execute("UPDATE stream_keys SET last_used_at = $2 WHERE id = $1", key_id, now)
            if then is not None:
                await then(tx, row["id"])
    return _session(row)


async def set_state(
    db: Transaction, session_id: int, state: SessionState, *, epoch: int = 0
) -> bool:
    """Set a session's state, unless a larger origin epoch than ``epoch`` serves it."""
    changed: int = await db.execute(
        "UPDATE live_sessions SET state = $2 WHERE id = $1 AND origin_epoch <= $3",
        session_id,
        state,
        epoch,
    )
    return changed > 0


async def serve_under(db: Transaction, user_id: int, epoch: int) -> bool:
    """The user's session on the air is served under ``epoch`` from now on.

    Returns:
        ``False`` if it is not on the air any more (ended meanwhile) or a larger
        epoch serves it: then it is not the caller's to serve.
    """
    changed: int = await db.execute(
        "UPDATE live_sessions SET origin_epoch = $2"
        " WHERE user_id = $1 AND state IN ('live', 'reconnecting') AND origin_epoch <= $2",
        user_id,
        epoch,
    )
    return changed > 0


async def end_session(
    db: Transaction,
    session_id: int,
    reason: str,
    *,
    peak_viewers: int = 0,
    ended_at: float | None = None,
    epoch: int | None = None,
) -> bool:
    """End a session that has not ended yet.

    Args:
        epoch: The origin epoch of the host ending it: the end is refused if a
            larger one serves the session. ``None``: whoever serves it (the
            streamer's own stop when no host does).

    Returns:
        Whether this call ended it: of several hosts ending the same session,
        exactly one gets ``True``.
    """
    fence = "" if epoch is None else " AND origin_epoch <= $5"
    args: tuple[object, ...] = () if epoch is None else (epoch,)
    ended: int = await db.execute(
        "UPDATE live_sessions SET state = 'ended', ended_at = $2, end_reason = $3,"
        " peak_viewers = CASE WHEN peak_viewers < $4 THEN $4 ELSE peak_viewers END"
        f" WHERE id = $1 AND state <> 'ended'{fence}",
        session_id,
        time.time() if ended_at is None else ended_at,
        reason,
        peak_viewers,
        *args,
    )
    return ended > 0


async def end_node_sessions(db: Transaction, node: str, reason: str) -> int:
    """End the sessions a previous run of this node left open (it crashed or was killed)."""
    return await db.execute(
        "UPDATE live_sessions SET state = 'ended', ended_at = $2, end_reason = $3"
        " WHERE node = $1 AND state IN ('live', 'reconnecting')",
        node,
        time.time(),
        reason,
    )


async def live_sessions(db: Transaction) -> list[tuple[LiveSession, str, str]]:
    """Sessions live now, newest first, with the channel's name and display name."""
    rows = await db.fetch(
        f"SELECT {', '.join('s.' + c.strip() for c in _COLUMNS.split(','))},"
        " u.name AS channel, u.display_name AS display_name"
        " FROM live_sessions s JOIN users u ON u.id = s.user_id"
        " WHERE s.state = 'live' ORDER BY s.started_at DESC LIMIT 500"
    )
    result = []
    for row in rows:
        channel, display = row.pop("channel"), row.pop("display_name")
        result.append((LiveSession(**row), channel, display))
    return result


async def on_air(db: Transaction) -> list[tuple[LiveSession, str]]:
    """Sessions some host serves or should (``live`` or ``reconnecting``), with the
    channel's name, oldest first."""
    rows = await db.fetch(
        f"SELECT {', '.join('s.' + c.strip() for c in _COLUMNS.split(','))},"
        " u.name AS channel FROM live_sessions s JOIN users u ON u.id = s.user_id"
        " WHERE s.state IN ('live', 'reconnecting') ORDER BY s.id LIMIT 1000"
    )
    result = []
    for row in rows:
        channel = row.pop("channel")
        result.append((LiveSession(**row), channel))
    return result
