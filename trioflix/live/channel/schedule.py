"""Scheduled streams in the live service: the sweep that marks the missed ones.

Going live attaches a session to its scheduled stream in the registry
(:meth:`trioflix.live.channel.registry.StreamRegistry.start_publishing`); what is
left here is the other ending, an entry whose window closed with no stream, and
the purge of entries long over, whose covers leave the store first.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import trio

from trioflix.media.covers import purge_covers
from trioflix.storage import StorageUnavailable
from trioflix.store import StoreError
from trioflix.store import schedule as schedule_store

if TYPE_CHECKING:
    from collections.abc import Callable

    from trioflix.storage import ObjectStore
    from trioflix.store import Database

__all__ = ["SWEEP_INTERVAL_S", "run_missed_sweep"]

logger = logging.getLogger(__name__)

SWEEP_INTERVAL_S = 60.0  # windows are tens of minutes: a minute late is fine


async def run_missed_sweep(
    db: Database,
    objects: ObjectStore,
    after_s: float,
    interval_s: float = SWEEP_INTERVAL_S,
    *,
    clock: Callable[[], float] = time.time,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Every ``interval_s``, mark missed the entries not started ``after_s`` after
    their start, and purge old ones with their covers, until cancelled.

    Args:
        clock: Unix time now; tests pass one driven by Trio's clock.
    """
    task_status.started()
    while True:
        try:
            await purge_covers(db, objects, before=clock() - schedule_store.PURGE_AFTER_S)
        except (StoreError, StorageUnavailable) as exc:
            # The entries wait for their covers: the next sweep tries again.
            logger.warning("scheduled streams: skipped purging covers: %s", exc)
        try:
            missed = await schedule_store.mark_missed(db, now=clock(), after_s=after_s)
        except StoreError as exc:
            logger.warning("scheduled streams: skipped a sweep for missed ones: %s", exc)
        else:
            if missed:
                logger.info("scheduled streams: %d missed", missed)
        await trio.sleep(interval_s)
