"""The durable job queue: rows in ``jobs``, claimed with a lease.

A job is ``(kind, payload)``; the payload is JSON. An optional ``subject``
(``"video:12"``) names what the job works on, so that deleting that thing can
cancel its jobs. Its life:

    queued --claim--> running --done--> done
       ^                 |  \\--error, attempts left--> queued (run_after = now + backoff)
       |                 |   \\-error, none left or permanent--> failed
       |                 \\--cancel--> cancelled
       \\-- lease expired (the worker died): claimable again, counts as an attempt

A running job holds a lease (``lease_until``) that its worker renews; a job
whose lease ran out belongs to a worker that died (a crash, SIGKILL, a lost
host), so any worker may claim it again. That is how the queue survives
restarts without a coordinator. Claiming is one conditional UPDATE, safe with
several workers and several hosts on one PostgreSQL database.

Order: each job has a ``priority``, and the runnable jobs are taken in three
classes, each oldest first (by ``run_after``, then id):

1. :data:`PRIORITY_EXPRESS`: short jobs someone waits on right now (a live
   recording made watchable); they are few and take seconds, so they always go
   first, and a worker keeps one slot for them alone (:mod:`.worker`);
2. :data:`PRIORITY_HIGH`, and every job that has been due for
   :data:`AGING_S` or longer, whatever its priority;
3. the rest (:data:`PRIORITY_NORMAL`).

Aging is what keeps a steady stream of high-priority work from starving the
normal jobs: a normal job waits at most :data:`AGING_S` plus the high-priority
jobs that were due before it. :func:`queue_spots` counts, with the same rule,
how many queued jobs are ahead of a job.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from collections.abc import Sequence

    from trioflix.store import Row, Transaction

__all__ = [
    "AGING_S",
    "DEFAULT_MAX_ATTEMPTS",
    "PRIORITY_EXPRESS",
    "PRIORITY_HIGH",
    "PRIORITY_NORMAL",
    "Job",
    "JobState",
    "QueueSpot",
    "backoff_s",
    "cancel_jobs",
    "claim_job",
    "count_queued",
    "enqueue",
    "finish_job",
    "get_job",
    "queue_spots",
    "release_job",
    "renew_lease",
    "retry_or_fail_job",
]

JobState = Literal["queued", "running", "done", "failed", "cancelled"]
DEFAULT_MAX_ATTEMPTS = 4
BACKOFF_BASE_S = 10.0  # 10 s, 40 s, 160 s...: outlasts a restart or a short outage
BACKOFF_MAX_S = 3600.0
ERROR_TEXT_LIMIT = 2000  # characters of an error kept in the row
PRIORITY_NORMAL = 0
PRIORITY_HIGH = 1
PRIORITY_EXPRESS = 2
#: A job due this long is taken with the high-priority ones, oldest first: about one
#: ladder of a long recording, so that uploads move on while live work keeps coming.
AGING_S = 300.0

_COLUMNS = (
    "id, kind, subject, payload, state, attempts, max_attempts, run_after, lease_until, worker,"
    " last_error, created_at, updated_at, priority"
)


def _class(job: str, aged: str) -> str:
    """SQL: the class (0 first) of the job row ``job``; ``aged`` is the parameter
    holding the time before which a due job counts as aged (see the module's docstring)."""
    return (
        f"(CASE WHEN {job}.priority >= {PRIORITY_EXPRESS} THEN 0"
        f" WHEN {job}.priority >= {PRIORITY_HIGH} OR {job}.run_after <= {aged} THEN 1"
        " ELSE 2 END)"
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    id: int
    kind: str
    subject: str | None
    payload: dict[str, Any]
    state: JobState
    attempts: int
    max_attempts: int
    run_after: float
    lease_until: float | None
    worker: str | None
    last_error: str | None
    priority: int


def _job(row: Row | None) -> Job | None:
    if row is None:
        return None
    return Job(
        id=row["id"],
        kind=row["kind"],
        subject=row["subject"],
        payload=json.loads(row["payload"]),
        state=row["state"],
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        run_after=row["run_after"],
        lease_until=row["lease_until"],
        worker=row["worker"],
        last_error=row["last_error"],
        priority=row["priority"],
    )


def backoff_s(attempts: int) -> float:
    """Delay before retry number ``attempts`` (1-based): exponential, capped."""
    return float(min(BACKOFF_BASE_S * 4 ** (attempts - 1), BACKOFF_MAX_S))


async def enqueue(
    db: Transaction,
    kind: str,
    payload: dict[str, Any],
    *,
    subject: str | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    delay_s: float = 0.0,
    priority: int = PRIORITY_NORMAL,
) -> int:
    """Add a job; pass a transaction to enqueue atomically with the row it works on.

    Args:
        priority: :data:`PRIORITY_NORMAL`, :data:`PRIORITY_HIGH` or
            :data:`PRIORITY_EXPRESS` (see the module's docstring).

    Returns:
        The job id.
    """
    now = time.time()
    job_id = await db.fetchval(
        "INSERT INTO jobs (kind, subject, payload, state, attempts, max_attempts, run_after,"
        " created_at, updated_at, priority)"
        " VALUES ($1, $2, $3, 'queued', 0, $4, $5, $6, $6, $7) RETURNING id",
        kind,
        subject,
        json.dumps(payload),
        max_attempts,
        now + delay_s,
        now,
        priority,
    )
    assert isinstance(job_id, int)
    return job_id


async def claim_job(
    db: Transaction,
    kinds: tuple[str, ...],
    worker: str,
    lease_s: float,
    *,
    min_priority: int = PRIORITY_NORMAL,
) -> Job | None:
    """Take the first runnable job of one of ``kinds`` in the queue's order (see the
    module's docstring), or None if there is none.

    Runnable: queued and due, or running with an expired lease. The outer
    WHERE repeats the condition so that, of two workers racing for one row,
    exactly one UPDATE matches (PostgreSQL re-checks it on the locked row).

    Args:
        min_priority: Only jobs of at least this priority (a slot kept for them).
    """
    now = time.time()
    placeholders = ", ".join(f"${i}" for i in range(6, 6 + len(kinds)))
    runnable = (
        "((state = 'queued' AND run_after <= $1) OR (state = 'running' AND lease_until < $1))"
    )
    row = await db.fetchrow(
        f"UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_until = $2,"
        f" worker = $3, updated_at = $1"
        f" WHERE id = (SELECT id FROM jobs WHERE {runnable} AND kind IN ({placeholders})"
        f" AND priority >= $5 ORDER BY {_class('jobs', '$4')}, run_after, id LIMIT 1)"
        f" AND {runnable}"
        f" RETURNING {_COLUMNS}",
        now,
        now + lease_s,
        worker,
        now - AGING_S,
        min_priority,
        *kinds,
    )
    return _job(row)


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueSpot:
    """Where the unfinished job about a subject is.

    Attributes:
        job_id: The job.
        state: ``queued`` or ``running``.
        ahead: Queued jobs taken before it (0 when it is next); None while running.
        run_after: When it is due (later than now: waiting to be retried).
    """

    job_id: int
    state: JobState
    ahead: int | None
    run_after: float


async def queue_spots(db: Transaction, subjects: Sequence[str]) -> dict[str, QueueSpot]:
    """The queued or running job of each subject that has one, and how many queued
    jobs the queue's order puts ahead of it (counted as :func:`claim_job` takes them:
    due, of any kind)."""
    if not subjects:
        return {}
    now = time.time()
    placeholders = ", ".join(f"${i}" for i in range(3, 3 + len(subjects)))
    mine, theirs = _class("j", "$2"), _class("x", "$2")
    rows = await db.fetch(
        "SELECT j.id, j.subject, j.state, j.run_after,"
        " (SELECT COUNT(*) FROM jobs x WHERE x.state = 'queued' AND x.run_after <= $1"
        f" AND x.id <> j.id AND ({theirs} < {mine} OR ({theirs} = {mine}"
        " AND (x.run_after < j.run_after OR (x.run_after = j.run_after AND x.id < j.id)))))"
        " AS ahead"
        f" FROM jobs j WHERE j.subject IN ({placeholders}) AND j.state IN ('queued', 'running')"
        " ORDER BY j.id",
        now,
        now - AGING_S,
        *subjects,
    )
    return {
        row["subject"]: QueueSpot(
            job_id=row["id"],
            state=row["state"],
            ahead=int(row["ahead"]) if row["state"] == "queued" else None,
            run_after=row["run_after"],
        )
        for row in rows
    }


async def count_queued(db: Transaction) -> int:
    """Jobs waiting in the queue, due or not (a gauge of the backlog)."""
    return int(await db.fetchval("SELECT COUNT(*) AS n FROM jobs WHERE state = 'queued'"))


async def renew_lease(db: Transaction, job_id: int, worker: str, lease_s: float) -> bool:
    """Extend a running job's lease; False if the job is no longer this worker's to run
    (cancelled, or its lease lapsed and another worker took it)."""
    now = time.time()
    changed = await db.execute(
        "UPDATE jobs SET lease_until = $3, updated_at = $4"
        " WHERE id = $1 AND worker = $2 AND state = 'running'",
        job_id,
        worker,
        now + lease_s,
        now,
    )
    return changed > 0


async def finish_job(db: Transaction, job_id: int, worker: str) -> bool:
    """Mark the job done; False if it was cancelled or taken over meanwhile."""
    changed = await db.execute(
        "UPDATE jobs SET state = 'done', lease_until = NULL, updated_at = $3"
        " WHERE id = $1 AND worker = $2 AND state = 'running'",
        job_id,
        worker,
        time.time(),
    )
    return changed > 0


async def retry_or_fail_job(
    db: Transaction, job: Job, worker: str, error: str, *, permanent: bool
) -> JobState | None:
    """Record a failed attempt: back to the queue after a backoff, or failed for good.

    Returns:
        The job's new state, or None if it was cancelled or taken over meanwhile.
    """
    now = time.time()
    state: JobState = "failed" if permanent or job.attempts >= job.max_attempts else "queued"
    changed = await db.execute(
        "UPDATE jobs SET state = $3, run_after = $4, lease_until = NULL, last_error = $5,"
        " updated_at = $6 WHERE id = $1 AND worker = $2 AND state = 'running'",
        job.id,
        worker,
        state,
        now + backoff_s(job.attempts),
        error[:ERROR_TEXT_LIMIT],
        now,
    )
    return state if changed else None


async def cancel_jobs(db: Transaction, subject: str) -> list[int]:
    """Cancel the queued and running jobs about ``subject``.

    A worker in this process stops at once if told (:meth:`JobWorkers.cancel`);
    any other notices at its next lease renewal.

    Returns:
        The ids of the cancelled jobs.
    """
    rows = await db.fetch(
        "UPDATE jobs SET state = 'cancelled', lease_until = NULL, updated_at = $2"
        " WHERE subject = $1 AND state IN ('queued', 'running') RETURNING id",
        subject,
        time.time(),
    )
    return [row["id"] for row in rows]


async def get_job(db: Transaction, job_id: int) -> Job | None:
    return _job(await db.fetchrow(f"SELECT {_COLUMNS} FROM jobs WHERE id = $1", job_id))


async def release_job(db: Transaction, job_id: int, worker: str) -> None:
    """Hand a running job back to the queue, uncounted (the server is stopping)."""
    await db.execute(
        "UPDATE jobs SET state = 'queued', attempts = attempts - 1, lease_until = NULL,"
        " updated_at = $3 WHERE id = $1 AND worker = $2 AND state = 'running'",
        job_id,
        worker,
        time.time(),
    )
