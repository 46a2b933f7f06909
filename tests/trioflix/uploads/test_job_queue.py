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


async def _claim_all(db: Transaction, **kwargs: int) -> list[int]:
    """Claim until the queue is empty; the ids in the order they were taken."""
    taken = []
    while (job := await queue.claim_job(db, ("demo",), "w1", lease_s=60, **kwargs)) is not None:
        taken.append(job.id)
    return taken


async def _backdate(db: Transaction, job_id: int, waited_s: float) -> None:
    """As if the job had been due for ``waited_s``."""
    await db.execute("UPDATE jobs SET run_after = $2 WHERE id = $1", job_id, time.time() - waited_s)


async def test_live_jobs_go_first_and_an_upload_due_for_long_joins_them_in_fifo_order(
    settings: Settings,
) -> None:
    async with open_database(settings) as db:

        async def add(priority: int) -> int:
            return await queue.enqueue(db, "demo", {}, priority=priority)

        upload = await add(queue.PRIORITY_NORMAL)
        ladder = await add(queue.PRIORITY_HIGH)
        remux = await add(queue.PRIORITY_EXPRESS)
        later_upload = await add(queue.PRIORITY_NORMAL)
        later_ladder = await add(queue.PRIORITY_HIGH)
        # The express slot takes express jobs only.
        assert await _claim_all(db, min_priority=queue.PRIORITY_EXPRESS) == [remux]
        assert await _claim_all(db) == [ladder, later_ladder, upload, later_upload]

        # No starvation: live work keeps coming, but an upload due for longer than
        # AGING_S is taken with it, oldest first, so before the newer live jobs.
        waiting = await add(queue.PRIORITY_NORMAL)
        fresh_upload = await add(queue.PRIORITY_NORMAL)
        await _backdate(db, waiting, queue.AGING_S + 1)
        new_ladders = [await add(queue.PRIORITY_HIGH) for _ in range(3)]
        assert await _claim_all(db) == [waiting, *new_ladders, fresh_upload]
        # ...but after an older live job, and never before an express one.
        ladder = await add(queue.PRIORITY_HIGH)
        await _backdate(db, ladder, queue.AGING_S + 60)
        waiting = await add(queue.PRIORITY_NORMAL)
        await _backdate(db, waiting, queue.AGING_S + 1)
        remux = await add(queue.PRIORITY_EXPRESS)
        assert await _claim_all(db) == [remux, ladder, waiting]


async def test_queue_spots_count_the_jobs_taken_before(settings: Settings) -> None:
    async with open_database(settings) as db:
        uploads = [await queue.enqueue(db, "demo", {}, subject=f"video:{n}") for n in (1, 2, 3)]
        await queue.enqueue(db, "demo", {}, subject="video:4", priority=queue.PRIORITY_EXPRESS)
        await queue.enqueue(db, "other", {}, subject="video:5", priority=queue.PRIORITY_HIGH)
        subjects = [f"video:{n}" for n in range(1, 7)]
        spots = await queue.queue_spots(db, subjects)
        assert {s: (spot.state, spot.ahead) for s, spot in spots.items()} == {
            "video:1": ("queued", 2),
            "video:2": ("queued", 3),
            "video:3": ("queued", 4),
            "video:4": ("queued", 0),
            "video:5": ("queued", 1),
        }
        assert spots["video:1"].job_id == uploads[0]
        express = await queue.claim_job(db, ("demo",), "w1", lease_s=60)
        assert express is not None and express.subject == "video:4"
        spots = await queue.queue_spots(db, subjects)
        assert (spots["video:4"].state, spots["video:4"].ahead) == ("running", None)
        assert [spots[f"video:{n}"].ahead for n in (5, 1, 2, 3)] == [0, 1, 2, 3]
        # A job waiting to be retried is not counted ahead of the others.
        await db.execute(
            "UPDATE jobs SET run_after = $2 WHERE id = $1", uploads[0], time.time() + 600
        )
        spots = await queue.queue_spots(db, subjects)
        assert [spots[f"video:{n}"].ahead for n in (2, 3)] == [1, 2]
        assert await queue.queue_spots(db, []) == {}


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


async def test_an_express_job_runs_while_long_jobs_hold_every_slot(settings: Settings) -> None:
    """The worker's own slot for express jobs: a recording made watchable never waits for
    a transcode to end."""
    long_started, release = trio.Event(), trio.Event()
    express_done = trio.Event()
    ran: list[str] = []

    async def run(job: queue.Job) -> None:
        ran.append(job.payload["name"])
        if job.priority == queue.PRIORITY_EXPRESS:
            express_done.set()
        else:
            long_started.set()
            await release.wait()

    async def gave_up(job: queue.Job, reason: str) -> None:
        raise AssertionError(reason)

    async with open_database(settings) as db:
        workers = JobWorkers(lambda: db, concurrency=1)
        workers.register(JobType("demo", run, gave_up))
        async with trio.open_nursery() as nursery:
            await nursery.start(workers.run)
            await queue.enqueue(db, "demo", {"name": "upload"})
            await queue.enqueue(db, "demo", {"name": "queued upload"})
            workers.wake()
            with trio.fail_after(10):
                await long_started.wait()
            await queue.enqueue(db, "demo", {"name": "remux"}, priority=queue.PRIORITY_EXPRESS)
            workers.wake()
            with trio.fail_after(10):
                await express_done.wait()
            assert ran == ["upload", "remux"]  # the one shared slot is still taken
            release.set()
            with trio.fail_after(10):
                while len(ran) < 3:  # noqa: ASYNC110 (the worker claims from the database)
                    await trio.sleep(0.05)
            nursery.cancel_scope.cancel()
    assert ran == ["upload", "remux", "queued upload"]
