"""The upload and video services in the service nursery: processing workers and housekeeping."""

from __future__ import annotations

import trio

from trioflix.jobs.worker import job_workers
from trioflix.media.processing import video_job_type
from trioflix.uploads.housekeeping import SWEEP_INTERVAL_S, run_housekeeping
from trioflix.uploads.service import uploads

__all__ = ["MIN_SWEEP_INTERVAL_S", "run_upload_services"]

MIN_SWEEP_INTERVAL_S = 0.5


async def run_upload_services(
    *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    """Start the job workers (with the video job registered) and upload housekeeping.

    Runs in the app context of the service nursery (started from ASGI lifespan),
    where :func:`uploads` and :func:`job_workers` find the app's instances.
    Other job kinds (live recordings) register on :func:`job_workers` before this starts.
    """
    service = uploads()
    workers = job_workers()
    workers.register(video_job_type(lambda: service.db, service.data_dir, service.hub))
    # Sweep at least twice per expiry period, so a short expiry is honoured closely.
    interval = min(SWEEP_INTERVAL_S, max(service.expiry_s / 2, MIN_SWEEP_INTERVAL_S))
    async with trio.open_nursery() as nursery:
        await nursery.start(workers.run)
        await nursery.start(run_housekeeping, service, interval)
        task_status.started()
