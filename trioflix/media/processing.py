"""The ``video.process`` job: from a stored source to a playable video in the object store.

Any host's worker may run it. The job reads its source objects from the store
into a local working directory, runs the media work (probe, thumbnails,
sprite, HLS ladder) in a child process at lower CPU priority
(:mod:`trioflix.media.pipeline`) writing into that directory, publishes the
output under the video's prefix (:mod:`trioflix.media.stored`), then marks
the video ready and deletes the source objects (or keeps the source as the
video's ``original``). The working directory is removed however the attempt
ends: done, failed or cancelled.

A source is read whole into a local file rather than handed to the decoder as
a URL: the payload's keys are one byte stream only once joined, and an outage
in the middle of a decoding pass would fail the attempt, where a read waits
and resumes (docs/storage.md has the figures).
"""

from __future__ import annotations

import json
import logging
import secrets
import shutil
from functools import partial
from typing import TYPE_CHECKING

import trio

from trioflix.jobs.process import JobFailed, run_job_process
from trioflix.jobs.worker import JobType
from trioflix.media.library import get_video, set_failed, set_progress, set_ready
from trioflix.media.stored import fetch_source, publish_outputs
from trioflix.storage import ObjectNotFound, retry_unavailable

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from trioflix.jobs.queue import Job
    from trioflix.storage import ObjectStore
    from trioflix.store import Database
    from trioflix.uploads.progress import ProgressHub

__all__ = [
    "ORIGINAL_NAME",
    "PROCESS_VIDEO",
    "WORK_DIR",
    "adopt_source",
    "clear_work_dirs",
    "process_payload",
    "source_keys",
    "video_job_type",
]

logger = logging.getLogger(__name__)

PROCESS_VIDEO = "video.process"
ORIGINAL_NAME = "original"  # the kept source, under the video's prefix
WORK_DIR = "processing"  # under the host's directory: one directory per running job
PROGRESS_STEP = 0.01  # write progress to the database at most once per percent
CLEANUP_TIMEOUT_S = 30.0  # removing a working directory of a few GiB


async def clear_work_dirs(host_dir: Path) -> None:
    """Remove what jobs of this host's previous run left (a SIGKILL skips their cleanup).

    Call at start, before the workers: the directory is this host's alone.
    """
    await trio.to_thread.run_sync(partial(shutil.rmtree, host_dir / WORK_DIR, ignore_errors=True))


def process_payload(video_id: int, source: Sequence[str]) -> dict[str, object]:
    """A ``video.process`` job's payload: the video and its source objects, read in order."""
    return {"video_id": video_id, "source": list(source)}


async def source_keys(db: Database, video_id: int) -> list[str]:
    """The source objects of the video's jobs: deleting the video deletes them too."""
    rows = await db.fetch(
        "SELECT payload FROM jobs WHERE kind = $1 AND subject = $2",
        PROCESS_VIDEO,
        f"video:{video_id}",
    )
    return [key for row in rows for key in json.loads(row["payload"]).get("source", [])]


async def adopt_source(objects: ObjectStore, path: Path, key: str) -> None:
    """Move the finished local file ``path`` into the store as ``key`` (idempotent).

    If ``key`` is already stored (an S3 upload leaves its bytes there, or an
    earlier call moved them), a file still at ``path`` is a leftover and goes.

    Raises:
        StorageUnavailable: The store cannot be reached; call again later (the
            file stays where it is).
    """
    try:
        await objects.head(key)
    except ObjectNotFound:
        await objects.move_file(key, path)
    else:
        await trio.to_thread.run_sync(lambda: path.unlink(missing_ok=True))


async def _delete_sources(objects: ObjectStore, keys: Sequence[str], keep: str | None) -> None:
    for key in keys:
        if key != keep:
            await retry_unavailable(partial(objects.delete, key), f"deleting {key}")


def video_job_type(
    get_db: Callable[[], Database],
    get_objects: Callable[[], ObjectStore],
    host_dir: Path,
    hub: ProgressHub,
    *,
    keep_originals: bool,
    memory_limit: int | None,
) -> JobType:
    """The :class:`JobType` for :data:`PROCESS_VIDEO` jobs (payload: :func:`process_payload`).

    Once the job is enqueued it owns its source objects: it deletes them when the
    video is ready, or when the video was deleted before it ran; a failed video
    keeps them until it is deleted. ``memory_limit`` caps each job process's address
    space in bytes (``None``: no cap); past it the attempt fails and is retried.
    """

    async def run(job: Job) -> None:
        video_id = int(job.payload["video_id"])
        sources: list[str] = list(job.payload["source"])
        db = get_db()
        objects = get_objects()
        video = await get_video(db, video_id)
        if video is None or video.state == "ready":
            # Deleted meanwhile, or made ready by an attempt that died before cleaning up.
            await _delete_sources(objects, sources, None)
            return
        if video.state != "processing":
            return
        last = -1.0

        async def on_progress(fraction: float) -> None:
            nonlocal last
            if fraction - last >= PROGRESS_STEP or fraction >= 1.0:
                last = fraction
                await set_progress(db, video_id, min(max(fraction, 0.0), 1.0))
                hub.notify(video.user_id)

        original = video.prefix + ORIGINAL_NAME
        work = host_dir / WORK_DIR / f"job-{job.id}-{secrets.token_hex(4)}"
        output = work / "output"
        try:
            await trio.to_thread.run_sync(lambda: output.mkdir(parents=True))
            source = work / "source"
            try:
                size = await fetch_source(objects, sources, source)
            except ObjectNotFound as exc:
                # A hand-off that committed the job but has not stored the file yet.
                raise JobFailed(f"the source is not stored: {exc}") from None
            logger.info(
                "video %d: %d bytes of source from %d objects", video_id, size, len(sources)
            )
            result = await run_job_process(
                "trioflix.media.pipeline:process",
                {"source": str(source), "output": str(output)},
                on_progress,
                memory_limit=memory_limit,
            )
            count = await publish_outputs(objects, output, video.prefix)
            if keep_originals:
                await retry_unavailable(
                    lambda: objects.put_file(original, source), f"storing {original}"
                )
            logger.info("video %d: %d objects under %s", video_id, count, video.prefix)
        finally:
            with trio.move_on_after(CLEANUP_TIMEOUT_S, shield=True):
                await trio.to_thread.run_sync(lambda: shutil.rmtree(work, ignore_errors=True))
        await set_ready(db, video_id, result)
        hub.notify(video.user_id)
        await _delete_sources(objects, sources, original if keep_originals else None)

    async def on_gave_up(job: Job, reason: str) -> None:
        video_id = int(job.payload["video_id"])
        db = get_db()
        # The source objects stay with the failed video, for its owner to look into,
        # until the video is deleted (see source_keys).
        await set_failed(db, video_id, reason)
        video = await get_video(db, video_id)
        if video is not None:
            hub.notify(video.user_id)

    return JobType(PROCESS_VIDEO, run, on_gave_up)
