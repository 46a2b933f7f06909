"""The ``video.process`` job: from a stored source file to a playable video.

The media work itself (probe, thumbnails, sprite, HLS ladder) runs in a child
process at lower CPU priority (:mod:`trioflix.media.pipeline`); this side
adopts the source file, runs the child, turns its progress lines into
``videos.progress`` and its result into a ready (or failed) video.
"""

from __future__ import annotations

import errno
import os
import shutil
from functools import partial
from typing import TYPE_CHECKING

import trio

from trioflix.jobs.process import run_job_process
from trioflix.jobs.worker import JobType
from trioflix.media.library import get_video, set_failed, set_progress, set_ready, video_dir
from trioflix.storage import retry_unavailable

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from trioflix.jobs.queue import Job
    from trioflix.storage import ObjectStore
    from trioflix.store import Database
    from trioflix.uploads.progress import ProgressHub

__all__ = ["PROCESS_VIDEO", "SOURCE_NAME", "adopt_source", "video_job_type"]

PROCESS_VIDEO = "video.process"
SOURCE_NAME = "source"  # the original file, kept in the video's directory
PROGRESS_STEP = 0.01  # write progress to the database at most once per percent


def _adopt(upload_file: Path, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / SOURCE_NAME
    try:
        os.replace(upload_file, target)  # same file system: atomic
    except FileNotFoundError:
        if not target.exists():
            raise
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        # Uploads on another disk: copy beside the target, then rename, so a
        # crash never leaves a truncated source; the upload file goes last.
        partial = directory / f"{SOURCE_NAME}.partial"
        shutil.copyfile(upload_file, partial)
        os.replace(partial, target)
        upload_file.unlink()


async def adopt_source(upload_file: Path, directory: Path) -> None:
    """Move a finished upload's bytes into the video's directory (idempotent)."""
    await trio.to_thread.run_sync(_adopt, upload_file, directory)


async def _fetch_source(objects: ObjectStore, keys: list[str], directory: Path) -> None:
    """The objects ``keys``, read in order as one byte stream, as the video's source file.

    Streamed in bounded chunks into a file beside the target, renamed when whole:
    a crash never leaves a truncated source, and a retry starts over.
    """
    target = directory / SOURCE_NAME
    if await trio.to_thread.run_sync(target.exists):
        return
    await trio.to_thread.run_sync(lambda: directory.mkdir(parents=True, exist_ok=True))
    fetching = directory / f"{SOURCE_NAME}.partial"

    async def fetch() -> None:
        async with await trio.open_file(fetching, "wb") as f:
            for key in keys:
                reader = await objects.open_read(key)
                async with reader:
                    while chunk := await reader.receive_some():
                        await f.write(chunk)
        await trio.to_thread.run_sync(os.replace, fetching, target)

    await retry_unavailable(fetch, f"reading the source of {directory}")


def video_job_type(
    get_db: Callable[[], Database],
    data_dir: Path,
    hub: ProgressHub,
    get_objects: Callable[[], ObjectStore],
) -> JobType:
    """The :class:`JobType` for :data:`PROCESS_VIDEO` jobs.

    Payload: ``{"video_id": int, "upload": str | None}``; ``upload`` names the
    upload whose file becomes the source if it has not been moved yet. Or
    ``{"video_id": int, "source": [KEY, ...]}``: objects in the store, read in
    order as one byte stream (a live recording's chunks), deleted once the
    video is ready.
    """

    async def run(job: Job) -> None:
        video_id = int(job.payload["video_id"])
        db = get_db()
        video = await get_video(db, video_id)
        if video is None or video.state != "processing":
            return  # deleted meanwhile, or done by an earlier attempt
        directory = video_dir(data_dir, video_id)
        upload_id = job.payload.get("upload")
        if upload_id is not None:
            await adopt_source(data_dir / "uploads" / f"{upload_id}.bin", directory)
        source_keys = job.payload.get("source")
        if source_keys is not None:
            await _fetch_source(get_objects(), list(source_keys), directory)
        last = -1.0

        async def on_progress(fraction: float) -> None:
            nonlocal last
            if fraction - last >= PROGRESS_STEP or fraction >= 1.0:
                last = fraction
                await set_progress(db, video_id, min(max(fraction, 0.0), 1.0))
                hub.notify(video.user_id)

        result = await run_job_process(
            "trioflix.media.pipeline:process",
            {"source": str(directory / SOURCE_NAME), "output": str(directory)},
            on_progress,
        )
        await set_ready(db, video_id, result)
        hub.notify(video.user_id)
        for key in source_keys or ():
            await retry_unavailable(partial(get_objects().delete, key), f"deleting {key}")

    async def on_gave_up(job: Job, reason: str) -> None:
        video_id = int(job.payload["video_id"])
        db = get_db()
        await set_failed(db, video_id, reason)
        video = await get_video(db, video_id)
        if video is not None:
            hub.notify(video.user_id)

    return JobType(PROCESS_VIDEO, run, on_gave_up)
