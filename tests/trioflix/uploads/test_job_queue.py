"""The durable job queue against both databases: claims, leases, retries, cancellation."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import trio
import trio.testing

from trioflix.jobs import queue
from trioflix.jobs.worker import JobType, JobWorkers
from trioflix.store import open_database

if TYPE_CHECKING:
    import pytest

    from trioflix.config import Settings
    from trioflix.store import Transaction


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


async def test_a_failing_job_is_retried_after_10_40_160_s_then_fails_at_attempt_4(
    settings: Settings,
) -> None:
    """docs/uploads.md: "A failure is retried after 10 s, 40 s, 160 s (4 attempts)"."""
    async with open_database(settings) as db:
        job_id = await queue.enqueue(db, "demo", {})
        for attempt, delay_s in [(1, 10), (2, 40), (3, 160)]:
            job = await queue.claim_job(db, ("demo",), "w1", lease_s=60)
            assert job is not None and job.attempts == attempt
            before = time.time()
            state = await queue.retry_or_fail_job(db, job, "w1", "boom", permanent=False)
            after = time.time()
            assert state == "queued"
            again = await queue.get_job(db, job_id)
            assert again is not None
            assert before + delay_s <= again.run_after <= after + delay_s
            await db.execute("UPDATE jobs SET run_after = 0 WHERE id = $1", job_id)  # time passes
        last = await queue.claim_job(db, ("demo",), "w1", lease_s=60)
        assert last is not None and last.attempts == 4
        assert await queue.retry_or_fail_job(db, last, "w1", "boom", permanent=False) == "failed"


async def test_a_running_job_holds_a_60_s_lease_renewed_every_15_s(
    settings: Settings, mock_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/uploads.md: "Workers claim jobs with a lease (60 s, renewed every 15 s)"."""
    mock_clock.rate = 1.0  # the database answers in real time; the test jumps the rest
    renewals: list[tuple[float, float]] = []  # (trio time, lease asked for)
    renewed = trio.Event()
    real_renew = queue.renew_lease

    async def renew_lease(db: Transaction, job_id: int, worker: str, lease_s: float) -> bool:
        renewals.append((trio.current_time(), lease_s))
        mine = await real_renew(db, job_id, worker, lease_s)
        renewed.set()
        return mine

    monkeypatch.setattr(queue, "renew_lease", renew_lease)
    started, release = trio.Event(), trio.Event()

    async def run(job: queue.Job) -> None:
        started.set()
        await release.wait()

    async def gave_up(job: queue.Job, reason: str) -> None:
        raise AssertionError(reason)

    async with open_database(settings) as db:
        workers = JobWorkers(lambda: db, concurrency=1)
        workers.register(JobType("demo", run, gave_up))
        async with trio.open_nursery() as nursery:
            await nursery.start(workers.run)
            job_id = await queue.enqueue(db, "demo", {})
            workers.wake()
            with trio.fail_after(10):
                await started.wait()
            began = trio.current_time()
            claimed = await queue.get_job(db, job_id)
            assert claimed is not None and claimed.lease_until is not None
            assert 55 < claimed.lease_until - time.time() <= 60
            mock_clock.jump(14)
            await trio.sleep(0.2)
            assert renewals == []
            mock_clock.jump(1)
            with trio.fail_after(10):
                await renewed.wait()
            at, lease_s = renewals[0]
            assert 15 <= at - began < 17 and lease_s == 60
            after = await queue.get_job(db, job_id)
            assert after is not None and after.lease_until is not None
            assert after.lease_until > claimed.lease_until
            assert 55 < after.lease_until - time.time() <= 60
            release.set()
            with trio.fail_after(10):
                while (done := await queue.get_job(db, job_id)) is None or done.state != "done":  # noqa: ASYNC110
                    await trio.sleep(0.05)
            nursery.cancel_scope.cancel()
