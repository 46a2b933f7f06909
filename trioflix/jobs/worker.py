"""Processing workers: claim jobs from the queue and run them, a bounded number at once.

:class:`JobWorkers` runs in the service nursery. It has ``concurrency`` slots
for jobs of any priority and one more kept for express jobs
(:data:`~trioflix.jobs.queue.PRIORITY_EXPRESS`), so that a job taking seconds
that someone waits on never waits behind long jobs holding every slot. Each claimed job runs in its
own task under a cancel scope, next to a lease keeper that renews the job's
lease and stops the job if someone cancelled it in the database. When the
server stops, running jobs are handed back to the queue (shielded, bounded),
so the next start picks them up; if the process dies instead, their leases run
out and any worker takes them again.
"""

from __future__ import annotations

import logging
import secrets
import socket
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, TypeVar

import trio

from trioflix.jobs import queue
from trioflix.jobs.process import JobFailed
from trioflix.store import StoreError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from trioflix.store import Database

__all__ = ["JobType", "JobWorkers"]

T = TypeVar("T")

logger = logging.getLogger(__name__)

LEASE_S = 60.0  # a dead worker's job is taken over after at most this long
RENEW_EVERY_S = 15.0  # four renewals per lease: one slow database answer is harmless
POLL_INTERVAL_S = 2.0  # for jobs enqueued by other hosts and retries coming due
STORE_RETRY_S = 5.0  # after the database failed to answer a claim
CLEANUP_TIMEOUT_S = 5.0
CANCEL_WAIT_S = 10.0  # trio terminates a child process, then kills it after 5 s
COUNT_EVERY_S = 10.0  # the backlog gauge: one cheap COUNT per interval
EXPRESS_SLOTS = 1  # express jobs are stream copies taking seconds: one at a time is plenty


@dataclass(frozen=True, slots=True)
class JobType:
    """A kind of job and the coroutine that runs one.

    ``run(job)`` raises :class:`JobFailed` for a failure it understands
    (``permanent`` ones are not retried); any other exception is retried too.
    ``on_gave_up(job, reason)`` runs once a job has failed for good.
    """

    kind: str
    run: Callable[[queue.Job], Awaitable[None]]
    on_gave_up: Callable[[queue.Job, str], Awaitable[None]]


class _Lane:
    """Slots that claim jobs of at least ``min_priority``, each lane on its own wake-up."""

    def __init__(self, slots: int, min_priority: int) -> None:
        self.slots = trio.Semaphore(slots)
        self.min_priority = min_priority
        self.wakeup = trio.Event()


class _Running:
    def __init__(self) -> None:
        self.scope = trio.CancelScope()
        self.done = trio.Event()


class JobWorkers:
    """Runs jobs of the registered kinds, at most ``concurrency`` at once plus one
    express job.

    Resource handling:
        :meth:`run` is a service task; cancelling it stops every running job
        and returns it to the queue.
    """

    def __init__(self, get_db: Callable[[], Database], concurrency: int) -> None:
        self._get_db = get_db
        self._types: dict[str, JobType] = {}
        self._lanes = (
            _Lane(concurrency, queue.PRIORITY_NORMAL),
            _Lane(EXPRESS_SLOTS, queue.PRIORITY_EXPRESS),
        )
        self._running: dict[int, _Running] = {}
        self.queued = 0  # jobs waiting in the queue, as last counted (for /metrics)
        self.worker_id = f"{socket.gethostname()}:{secrets.token_hex(4)}"

    @property
    def running(self) -> int:
        """Jobs running in this process now."""
        return len(self._running)

    def register(self, job_type: JobType) -> None:
        self._types[job_type.kind] = job_type

    def wake(self) -> None:
        """A job was just enqueued: look now instead of at the next poll."""
        for lane in self._lanes:
            lane.wakeup.set()

    async def cancel(self, job_ids: Sequence[int]) -> None:
        """Stop jobs running in this process (already marked cancelled in the
        database) and wait, bounded, until they have ended."""
        with trio.move_on_after(CANCEL_WAIT_S):
            for job_id in job_ids:
                running = self._running.get(job_id)
                if running is not None:
                    running.scope.cancel()
                    await running.done.wait()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            for lane in self._lanes:
                nursery.start_soon(self._claim, nursery, lane)
            nursery.start_soon(self._count_queued)
            task_status.started()

    async def _count_queued(self) -> None:
        while True:
            try:
                self.queued = await queue.count_queued(self._get_db())
            except StoreError:
                pass  # the claim loops log the outage; the gauge keeps its last count
            await trio.sleep(COUNT_EVERY_S)

    async def _claim(self, nursery: trio.Nursery, lane: _Lane) -> None:
        kinds = tuple(self._types)
        while True:
            await lane.slots.acquire()
            try:
                job = await queue.claim_job(
                    self._get_db(), kinds, self.worker_id, LEASE_S, min_priority=lane.min_priority
                )
            except StoreError as exc:
                logger.warning("cannot claim jobs: %s", exc)
                lane.slots.release()
                await trio.sleep(STORE_RETRY_S)
                continue
            if job is None:
                lane.slots.release()
                with trio.move_on_after(POLL_INTERVAL_S):
                    await lane.wakeup.wait()
                lane.wakeup = trio.Event()
                continue
            nursery.start_soon(self._run_job, job, lane)

    async def _run_job(self, job: queue.Job, lane: _Lane) -> None:
        running = self._running[job.id] = _Running()
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._keep_lease, job, running.scope)
                await self._attempt(job, running.scope)
                nursery.cancel_scope.cancel()
        finally:
            del self._running[job.id]
            running.done.set()
            lane.slots.release()

    async def _attempt(self, job: queue.Job, scope: trio.CancelScope) -> None:
        job_type = self._types[job.kind]
        db = self._get_db()
        logger.info("job %d (%s) attempt %d started", job.id, job.kind, job.attempts)
        failure: JobFailed | None = None
        try:
            with scope:
                if job.attempts > job.max_attempts:
                    # Its earlier attempts all died with their worker (lease expired).
                    raise JobFailed("the job's worker died on every attempt", permanent=True)
                await job_type.run(job)
        except JobFailed as exc:
            # Without its traceback, which holds this frame (and the job's frames below
            # it): kept in a local of this frame it made a reference cycle.
            failure = exc.with_traceback(None)
        except StoreError as exc:
            # An outage, not a bug: the attempt is retried after its backoff.
            failure = JobFailed(f"the database was unavailable: {exc}")
        except Exception as exc:
            logger.exception("job %d (%s) crashed", job.id, job.kind)
            failure = JobFailed(f"{type(exc).__name__}: {exc}")
        except BaseException:
            # Server shutdown: give the job back so that the next start runs it.
            with trio.move_on_after(CLEANUP_TIMEOUT_S, shield=True):
                try:
                    await queue.release_job(db, job.id, self.worker_id)
                except StoreError as exc:
                    logger.warning(
                        "job %d not given back (its lease will run out): %s", job.id, exc
                    )
            raise
        if scope.cancelled_caught:
            logger.info("job %d (%s) cancelled", job.id, job.kind)
            return
        if failure is None:
            await self._settle(job, partial(queue.finish_job, db, job.id, self.worker_id))
            logger.info("job %d (%s) done", job.id, job.kind)
            return
        new_state = await self._settle(
            job,
            partial(
                queue.retry_or_fail_job,
                db,
                job,
                self.worker_id,
                failure.reason,
                permanent=failure.permanent,
            ),
        )
        logger.info("job %d (%s) failed (%s): %s", job.id, job.kind, new_state, failure.reason)
        if new_state == "failed":
            await self._settle(job, partial(job_type.on_gave_up, job, failure.reason))

    async def _settle(self, job: queue.Job, write: Callable[[], Awaitable[T]]) -> T | None:
        """Record how an attempt ended: ``write()``, again every :data:`STORE_RETRY_S`
        while the database is unavailable.

        Returns None if it stayed unavailable for :data:`LEASE_S`: the job's lease
        has run out by then, so a worker claims the job again, and an attempt that
        finds its work done only cleans up. An outage never ends the workers.
        """
        with trio.move_on_after(LEASE_S):
            while True:
                try:
                    return await write()
                except StoreError as exc:
                    logger.warning("cannot record the end of job %d yet: %s", job.id, exc)
                    await trio.sleep(STORE_RETRY_S)
        return None

    async def _keep_lease(self, job: queue.Job, scope: trio.CancelScope) -> None:
        while True:
            await trio.sleep(RENEW_EVERY_S)
            try:
                mine = await queue.renew_lease(self._get_db(), job.id, self.worker_id, LEASE_S)
            except StoreError as exc:
                logger.warning("cannot renew the lease of job %d: %s", job.id, exc)
                continue
            if not mine:
                logger.info("job %d was cancelled or taken over; stopping it", job.id)
                scope.cancel()
                return
