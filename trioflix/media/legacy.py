"""Videos kept in ``DATA_DIR/videos/ID/`` before the object store: moved into it at start.

An installation from before the store has rows without a media token and each
video's files in its own directory. :func:`adopt_legacy_videos` runs once per
start, before the job workers: it gives each such video its token and moves its
files under the new prefix (on local disk a rename per file), so they keep
playing from the same ``/videos/ID/...`` URLs. The directory's ``source`` (the
upload a queued job had not processed yet) becomes the video's ``original``,
and the queued job is pointed at it.

A start that dies half way resumes: the token is written into the directory
first and reused, files already moved are not found again, and the row gets
its token only once every file is in the store.
"""

from __future__ import annotations

import json
import logging
import shutil
from functools import partial
from typing import TYPE_CHECKING

import trio

from trioflix.media.library import new_media_token, video_prefix
from trioflix.media.processing import ORIGINAL_NAME, PROCESS_VIDEO, process_payload
from trioflix.media.stored import CONTENT_TYPES, cache_control

if TYPE_CHECKING:
    from pathlib import Path

    from trioflix.storage import ObjectStore
    from trioflix.store import Database

__all__ = ["adopt_legacy_videos"]

logger = logging.getLogger(__name__)

TOKEN_FILE = ".media_token"
LEGACY_SOURCE = "source"  # what the directory called the upload being processed


def _token(directory: Path) -> str:
    path = directory / TOKEN_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        token = new_media_token()
        path.write_text(token)
        return token


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.name != TOKEN_FILE)


async def adopt_legacy_videos(db: Database, objects: ObjectStore, data_dir: Path) -> int:
    """Give every video without a media token one, moving its old directory into the store.

    Returns:
        How many videos were adopted.
    """
    rows = await db.fetch("SELECT id, state FROM videos WHERE media_token IS NULL ORDER BY id")
    for row in rows:
        video_id = row["id"]
        directory = data_dir / "videos" / str(video_id)
        if await trio.Path(directory).is_dir():
            token = await trio.to_thread.run_sync(_token, directory)
            files = await trio.to_thread.run_sync(_files, directory)
        else:
            token, files = new_media_token(), []
        prefix = video_prefix(video_id, token)
        for path in files:
            name = path.relative_to(directory).as_posix()
            if name == LEGACY_SOURCE:
                name = ORIGINAL_NAME
            await objects.move_file(
                prefix + name,
                path,
                content_type=CONTENT_TYPES.get(path.suffix[1:], "application/octet-stream"),
                cache_control=cache_control(name),
            )
        if row["state"] == "processing":
            await _repoint_jobs(db, objects, video_id, prefix, data_dir)
        await db.execute(
            "UPDATE videos SET media_token = $2 WHERE id = $1 AND media_token IS NULL",
            video_id,
            token,
        )
        await trio.to_thread.run_sync(partial(shutil.rmtree, directory, ignore_errors=True))
        logger.info(
            "video %d: %d files moved into the store under %s", video_id, len(files), prefix
        )
    return len(rows)


async def _repoint_jobs(
    db: Database, objects: ObjectStore, video_id: int, prefix: str, data_dir: Path
) -> None:
    """Point a job queued before the store at its source: the moved ``source``, or the
    upload file the old job would have moved itself."""
    original = prefix + ORIGINAL_NAME
    rows = await db.fetch(
        "SELECT id, payload FROM jobs WHERE kind = $1 AND subject = $2"
        " AND state IN ('queued', 'running')",
        PROCESS_VIDEO,
        f"video:{video_id}",
    )
    for job in rows:
        payload = json.loads(job["payload"])
        if "source" in payload:
            continue
        upload_file = data_dir / "uploads" / f"{payload.get('upload')}.bin"
        if payload.get("upload") and await trio.Path(upload_file).is_file():
            await objects.move_file(original, upload_file)
        await db.execute(
            "UPDATE jobs SET payload = $2 WHERE id = $1",
            job["id"],
            json.dumps(process_payload(video_id, [original])),
        )
