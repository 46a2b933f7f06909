"""The video jobs: from a stored source to a playable video in the object store.

``video.process`` makes an upload's video in one pass. A live recording takes
two jobs, so that it is watchable seconds after the stream ends:

1. ``video.remux`` (express priority, :mod:`trioflix.jobs.queue`): the
   recording's packets copied into one ``source`` HLS rendition
   (:mod:`trioflix.media.remux`); the video is ``ready`` with its ladder
   ``pending``, and in the same transaction it enqueues
2. ``video.process`` (high priority) for that video: the ladder, thumbnails
   and sprite, published beside the source rendition, then a master playlist
   listing them all. If it gives up, the video stays playable as streamed
   (its ladder ``failed``).

A recording whose codecs are not copied, or whose remux gave up, goes to
``video.process`` as an upload does.

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
from typing import TYPE_CHECKING, Any

import trio

from trioflix.jobs.process import JobFailed, run_job_process
from trioflix.jobs.queue import PRIORITY_HIGH, enqueue
from trioflix.jobs.worker import JobType
from trioflix.media.library import (
    get_video,
    set_failed,
    set_ladder_done,
    set_ladder_failed,
    set_progress,
    set_ready,
    video_subject,
)
from trioflix.media.stored import fetch_source, publish_outputs
from trioflix.storage import ObjectNotFound, retry_unavailable
from trioflix.store import StoreError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence
    from pathlib import Path

    from trioflix.jobs.queue import Job
    from trioflix.media.library import Video
    from trioflix.storage import ObjectStore
    from trioflix.store import Database
    from trioflix.uploads.progress import ProgressHub

__all__ = [
    "ORIGINAL_NAME",
    "PROCESS_VIDEO",
    "REMUX_RECORDING",
    "WORK_DIR",
    "adopt_source",
    "clear_work_dirs",
    "process_payload",
    "recording_job_type",
    "source_keys",
    "video_job_type",
]

logger = logging.getLogger(__name__)

PROCESS_VIDEO = "video.process"
REMUX_RECORDING = "video.remux"
REMUX_NICE = 0  # a stream copy takes a fraction of a CPU-second, and someone waits for it
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
        "SELECT payload FROM jobs WHERE kind IN ($1, $2) AND subject = $3 ORDER BY id",
        PROCESS_VIDEO,
        REMUX_RECORDING,
        video_subject(video_id),
    )
    keys = [key for row in rows for key in json.loads(row["payload"]).get("source", [])]
    return list(dict.fromkeys(keys))  # a recording's two jobs name the same objects


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


class _WorkDir:
    """A job attempt's local directory: ``source`` (the fetched objects) and ``output``."""

    def __init__(self, host_dir: Path, job: Job) -> None:
        self.path = host_dir / WORK_DIR / f"job-{job.id}-{secrets.token_hex(4)}"
        self.source = self.path / "source"
        self.output = self.path / "output"

    async def fetch(self, objects: ObjectStore, video_id: int, sources: list[str]) -> None:
        await trio.to_thread.run_sync(lambda: self.output.mkdir(parents=True))
        try:
            size = await fetch_source(objects, sources, self.source)
        except ObjectNotFound as exc:
            # A hand-off that committed the job but has not stored the file yet.
            raise JobFailed(f"the source is not stored: {exc}") from None
        logger.info("video %d: %d bytes of source from %d objects", video_id, size, len(sources))

    async def remove(self) -> None:
        with trio.move_on_after(CLEANUP_TIMEOUT_S, shield=True):
            await trio.to_thread.run_sync(lambda: shutil.rmtree(self.path, ignore_errors=True))


def _progress(db: Database, hub: ProgressHub, video: Video) -> Callable[[float], Awaitable[None]]:
    """Writes a child's progress to the video's row, at most once per :data:`PROGRESS_STEP`."""
    last = -1.0

    async def on_progress(fraction: float) -> None:
        nonlocal last
        if fraction - last >= PROGRESS_STEP or fraction >= 1.0:
            try:
                await set_progress(db, video.id, min(max(fraction, 0.0), 1.0))
            except StoreError as exc:
                # Progress is for the uploader's eyes: an outage must not fail the job.
                logger.warning("video %d: progress not recorded: %s", video.id, exc)
                return
            last = fraction
            hub.notify(video.user_id)

    return on_progress


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
    keeps them until it is deleted. For a video ready as streamed it makes the
    ladder (see the module's docstring). ``memory_limit`` caps each job process's
    address space in bytes (``None``: no cap); past it the attempt fails and is retried.
    """

    async def run(job: Job) -> None:
        video_id = int(job.payload["video_id"])
        sources: list[str] = list(job.payload["source"])
        db = get_db()
        objects = get_objects()
        video = await get_video(db, video_id)
        original = video.prefix + ORIGINAL_NAME if video is not None else None
        if video is None or (video.state == "ready" and video.ladder_state != "pending"):
            # Deleted meanwhile, or made ready by an attempt that died before cleaning up.
            await _delete_sources(objects, sources, original if keep_originals else None)
            return
        if video.state == "failed":
            return
        assert original is not None
        ladder = video.state == "ready"  # ready as streamed: the ladder is what is left
        work = _WorkDir(host_dir, job)
        try:
            await work.fetch(objects, video_id, sources)
            payload: dict[str, object] = {"source": str(work.source), "output": str(work.output)}
            if ladder:
                payload["listed"] = job.payload.get("listed", [])
            result = await run_job_process(
                "trioflix.media.pipeline:process",
                payload,
                _progress(db, hub, video),
                memory_limit=memory_limit,
            )
            count = await publish_outputs(objects, work.output, video.prefix)
            if keep_originals:
                await retry_unavailable(
                    lambda: objects.put_file(original, work.source), f"storing {original}"
                )
            logger.info("video %d: %d objects under %s", video_id, count, video.prefix)
        finally:
            await work.remove()
        if ladder:
            await set_ladder_done(db, video_id, [*result["renditions"], *video.renditions])
        else:
            await set_ready(db, video_id, result)
        hub.notify(video.user_id)
        await _delete_sources(objects, sources, original if keep_originals else None)

    async def on_gave_up(job: Job, reason: str) -> None:
        video_id = int(job.payload["video_id"])
        db = get_db()
        # The source objects stay with the failed video, for its owner to look into,
        # until the video is deleted (see source_keys). A video ready as streamed
        # stays playable: only its ladder failed.
        await set_failed(db, video_id, reason)
        await set_ladder_failed(db, video_id)
        video = await get_video(db, video_id)
        if video is not None:
            hub.notify(video.user_id)

    return JobType(PROCESS_VIDEO, run, on_gave_up)


def recording_job_type(
    get_db: Callable[[], Database],
    get_objects: Callable[[], ObjectStore],
    host_dir: Path,
    hub: ProgressHub,
    wake_workers: Callable[[], None],
    *,
    memory_limit: int | None,
) -> JobType:
    """The :class:`JobType` for :data:`REMUX_RECORDING` jobs (payload: :func:`process_payload`).

    It owns the source objects until it hands them, in the transaction that makes
    the video ready, to the ladder's :data:`PROCESS_VIDEO` job. If it gives up, that
    job makes the video from the source in one pass instead. ``memory_limit`` caps
    each job process's address space in bytes, as for :func:`video_job_type`.
    """

    async def follow_up(video: Video, sources: list[str], result: dict[str, Any] | None) -> None:
        payload: dict[str, Any] = process_payload(video.id, sources)
        async with get_db().transaction() as tx:
            if result is not None:
                payload["listed"] = [result["variant"]]
                await set_ready(tx, video.id, result, ladder_pending=True)
            await enqueue(
                tx, PROCESS_VIDEO, payload, subject=video_subject(video.id), priority=PRIORITY_HIGH
            )
        wake_workers()
        hub.notify(video.user_id)

    async def run(job: Job) -> None:
        video_id = int(job.payload["video_id"])
        sources: list[str] = list(job.payload["source"])
        objects = get_objects()
        video = await get_video(get_db(), video_id)
        if video is None:
            await _delete_sources(objects, sources, None)
            return
        if video.state != "processing":
            return  # an attempt that died after its commit: the next job owns the sources
        work = _WorkDir(host_dir, job)
        try:
            await work.fetch(objects, video_id, sources)
            result = await run_job_process(
                "trioflix.media.remux:remux",
                {"source": str(work.source), "output": str(work.output)},
                _progress(get_db(), hub, video),
                nice=REMUX_NICE,
                memory_limit=memory_limit,
            )
            if result["copied"]:
                count = await publish_outputs(objects, work.output, video.prefix)
                logger.info("video %d: playable as streamed, %d objects", video_id, count)
        finally:
            await work.remove()
        await follow_up(video, sources, result if result["copied"] else None)

    async def on_gave_up(job: Job, reason: str) -> None:
        video = await get_video(get_db(), int(job.payload["video_id"]))
        if video is not None and video.state == "processing":
            logger.warning("video %d: not copied as streamed (%s); processing it", video.id, reason)
            await follow_up(video, list(job.payload["source"]), None)

    return JobType(REMUX_RECORDING, run, on_gave_up)
