"""The upload and video services in the service nursery: processing workers and housekeeping."""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from trioflix.uploads.housekeeping import SWEEP_INTERVAL_S, run_housekeeping

if TYPE_CHECKING:
    from trioflix.jobs.worker import JobWorkers
    from trioflix.uploads.service import Uploads

__all__ = ["MIN_SWEEP_INTERVAL_S", "run_upload_services"]

MIN_SWEEP_INTERVAL_S = 0.5


async def run_upload_services(
    service: Uploads,
    workers: JobWorkers,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the job workers and upload housekeeping until cancelled.

    Every job kind (videos, live recordings) is registered on ``workers`` before
    this starts.
    """
    # Sweep at least twice per expiry period, so a short expiry is honoured closely.
    interval = min(SWEEP_INTERVAL_S, max(service.expiry_s / 2, MIN_SWEEP_INTERVAL_S))
    async with trio.open_nursery() as nursery:
        await nursery.start(workers.run)
        await nursery.start(run_housekeeping, service, interval)
        task_status.started()
