"""The durable job queue against both databases: claims, leases, retries, cancellation."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from trioflix.jobs import queue
from trioflix.store import open_database

if TYPE_CHECKING:
    from trioflix.config import Settings


async def test_claim_retry_backoff_and_give_up(settings: Settings) -> None:
    async with open_database(settings) as db:
        job_id = await queue.enqueue(db, "demo", {"n": 1}, subject="thing:1", max_attempts=2)
        job = await queue.claim_job(db, ("demo",), "w1", lease_s=60)
        assert (
            job is not None and job.id == job_id and job.attempts == 1 and job.payload == {"n": 1}
        )
        assert await queue.claim_job(db, ("demo",), "w2", lease_s=60) is None  # leased to w1
        assert await queue.retry_or_fail_job(db, job, "w1", "boom", permanent=False) == "queued"
        again = await queue.get_job(db, job_id)
        assert again is not None and again.last_error == "boom"
        assert again.run_after >= time.time() + queue.backoff_s(1) - 1  # not before the backoff
        assert await queue.claim_job(db, ("demo",), "w1", lease_s=60) is None
        await db.execute("UPDATE jobs SET run_after = 0 WHERE id = $1", job_id)
        second = await queue.claim_job(db, ("demo",), "w1", lease_s=60)
        assert second is not None and second.attempts == 2
        assert await queue.retry_or_fail_job(db, second, "w1", "boom", permanent=False) == "failed"
        assert queue.backoff_s(1) < queue.backoff_s(2) <= queue.BACKOFF_MAX_S


async def test_an_expired_lease_is_taken_over_and_the_old_worker_loses_it(
    settings: Settings,
) -> None:
    async with open_database(settings) as db:
        job_id = await queue.enqueue(db, "demo", {})
        dead = await queue.claim_job(db, ("demo",), "dead-worker", lease_s=-1)  # lease already over
        assert dead is not None
        taken = await queue.claim_job(db, ("demo",), "w2", lease_s=60)
        assert taken is not None and taken.id == job_id and taken.attempts == 2
        assert not await queue.renew_lease(db, job_id, "dead-worker", 60)
        assert not await queue.finish_job(db, job_id, "dead-worker")
        assert await queue.finish_job(db, job_id, "w2")
        assert (await queue.get_job(db, job_id)).state == "done"  # type: ignore[union-attr]


async def test_cancel_by_subject_and_release_on_shutdown(settings: Settings) -> None:
    async with open_database(settings) as db:
        first = await queue.enqueue(db, "demo", {}, subject="video:7")
        other = await queue.enqueue(db, "demo", {}, subject="video:8")
        running = await queue.claim_job(db, ("demo",), "w1", lease_s=60)
        assert running is not None and running.id == first
        assert await queue.cancel_jobs(db, "video:7") == [first]
        assert not await queue.renew_lease(db, first, "w1", 60)  # the worker learns it
        claimed = await queue.claim_job(db, ("demo",), "w1", lease_s=60)
        assert claimed is not None and claimed.id == other
        await queue.release_job(db, other, "w1")
        back = await queue.get_job(db, other)
        assert back is not None and back.state == "queued" and back.attempts == 0
