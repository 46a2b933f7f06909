"""Recording every live session into the video library.

Rules / theory of operation
---------------------------
1. A registry session worker: one recording per live session (publisher
   reconnects continue the same file), unless the session's stream key has
   recording turned off (``stream_keys.record``).
2. The recording is the channel's FLV tags as they arrived, appended to
   ``DATA_DIR/recordings/session-<id>.flv``: each tag was encoded once on arrival,
   so recording costs one write per batch and no muxing. Timestamps are the
   channel's continuous timeline, so a reconnect leaves no gap or jump.
   Script data (the encoder's ``onMetaData``, whose ``duration`` is 0 for live) is
   left out: readers then measure the duration from the tags themselves.
3. Crash safety: FLV is append-only and a reader stops at a torn last tag, so the
   file is playable up to the last write; it is ``fsync``ed every
   :data:`FSYNC_INTERVAL_S`, which bounds what a power loss or a killed server costs.
4. When the session ends for any reason (stop API, publisher gone, shutdown), the
   file is closed (shielded, bounded) and handed to the video pipeline: a
   ``videos`` row (origin ``live``) and a ``video.process`` job in one transaction,
   then the file moves into the object store as ``recordings/SESSION/data``, the
   job's source. The durable job
   queue does the rest (metadata, thumbnails, HLS VOD), retried across restarts.
5. A recording left by a crash (the file is still in ``recordings/``) is handed
   off by :meth:`Recorder.run` at the next start.
6. The hand-off is idempotent: the transaction of rule 4 also records
   ``live_recordings(session_id -> video_id)``. A recording found again for a
   session that has that row (the server died between the commit and the move)
   only finishes the move into the same video; the job, still queued, then finds
   its source. If that video was deleted or processed meanwhile, or its source is
   stored (the move completed), the file is dropped.
"""

from __future__ import annotations

import logging
import os
import re
import time
from typing import TYPE_CHECKING, BinaryIO, Final

import trio

from trioflix.jobs.queue import enqueue
from trioflix.live.channel.packets import Kind, flv_stream_header
from trioflix.media.library import create_video
from trioflix.media.processing import PROCESS_VIDEO, adopt_source, process_payload
from trioflix.store import StoreError

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from trioflix.live.channel.stream import LiveStream
    from trioflix.storage import ObjectStore
    from trioflix.store import Database

__all__ = ["FSYNC_INTERVAL_S", "Recorder"]

logger = logging.getLogger(__name__)

FSYNC_INTERVAL_S: Final = 2.0  # one HLS segment's worth: what a crash can cost at most
CLEANUP_TIMEOUT_S: Final = 5.0
# Like the HLS writer's: a slow disk is ridden out rather than torn by a skip.
RECORDING_QUEUE_BYTES: Final = 32 * 1024 * 1024
MIN_RECORDING_BYTES: Final = 64 * 1024  # less is a publish that never really started
_NAME = re.compile(r"^session-(\d+)\.flv$")


def _open(path: Path) -> BinaryIO:
    path.parent.mkdir(parents=True, exist_ok=True)
    f = open(path, "ab")
    if f.tell() == 0:
        f.write(flv_stream_header())
    return f


def _write(f: BinaryIO, data: bytes, sync: bool) -> None:
    f.write(data)
    if sync:
        f.flush()
        os.fsync(f.fileno())


def _close(f: BinaryIO) -> None:
    try:
        f.flush()
        os.fsync(f.fileno())
    finally:
        f.close()


class Recorder:
    """Records live sessions and hands them to the video pipeline.

    Args:
        data_dir: The server's data directory (finished recordings go to its video
            library).
        get_db: The database (available once the services started).
        wake_workers: Called after a processing job was enqueued.
        host_dir: This host's own directory (``Settings.host_dir``), where
            recordings are written while live, and where :meth:`run` finds the ones
            a previous run of this host left; ``data_dir`` if not given.

    Resource handling:
        :meth:`session_worker` closes and hands off its file in a shielded,
        bounded step, whatever ends the session.
    """

    def __init__(
        self,
        data_dir: Path,
        get_db: Callable[[], Database],
        get_objects: Callable[[], ObjectStore],
        wake_workers: Callable[[], None],
        *,
        host_dir: Path | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.directory = (host_dir or data_dir) / "recordings"
        self._get_db = get_db
        self._get_objects = get_objects
        self._wake = wake_workers

    def path_for(self, session_id: int) -> Path:
        return self.directory / f"session-{session_id}.flv"

    @staticmethod
    def key_for(session_id: int) -> str:
        """The recording's object once handed off: its video's processing source."""
        return f"recordings/{session_id}/data"

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Hand off recordings a previous run left behind (rule 5), then idle.

        Runs before ``task_status.started``: no session of this run records yet, so
        every file found is a leftover.
        """
        directory = self.directory
        await trio.to_thread.run_sync(lambda: directory.mkdir(parents=True, exist_ok=True))
        names = await trio.to_thread.run_sync(os.listdir, directory)
        for name in sorted(names):
            match = _NAME.match(name)
            if match is not None:
                logger.warning("handing off recording %s left by a previous run", name)
                await self.hand_off(int(match.group(1)))
        task_status.started()
        await trio.sleep_forever()

    async def _wants_recording(self, stream: LiveStream) -> bool:
        row = await self._get_db().fetchrow(
            "SELECT record FROM stream_keys WHERE id = $1", stream.key_id
        )
        return row is None or bool(row["record"])

    async def session_worker(self, stream: LiveStream) -> None:
        # Subscribe before the first checkpoint: nothing the publisher sends is missed.
        subscriber = stream.subscribe_session(max_bytes=RECORDING_QUEUE_BYTES)
        f: BinaryIO | None = None
        try:
            try:
                wanted = await self._wants_recording(stream)
            except StoreError:
                wanted = True  # by default: losing a stream is worse than keeping one
            if not wanted:
                logger.info("%s: recording is off for this stream key", stream.channel)
                return
            f = await trio.to_thread.run_sync(_open, self.path_for(stream.session_id))
            last_sync = time.monotonic()
            while batch := await subscriber.next_batch():
                data = b"".join(p.flv_tag for p in batch if p.kind is not Kind.SCRIPT)
                now = time.monotonic()
                sync = now - last_sync >= FSYNC_INTERVAL_S
                if sync:
                    last_sync = now
                await trio.to_thread.run_sync(_write, f, data, sync)
        finally:
            stream.unsubscribe(subscriber)
            if f is not None:
                with trio.move_on_after(CLEANUP_TIMEOUT_S, shield=True):
                    await trio.to_thread.run_sync(_close, f)
                    await self.hand_off(stream.session_id)

    async def hand_off(self, session_id: int) -> int | None:
        """Turn the session's recording into a video being processed (rule 4).

        Returns:
            The new video's id, or ``None`` if there was nothing worth keeping.
        """
        path = self.path_for(session_id)
        try:
            size = (await trio.to_thread.run_sync(path.stat)).st_size
        except FileNotFoundError:
            return None
        db = self._get_db()
        try:
            done = await db.fetchrow(
                "SELECT video_id FROM live_recordings WHERE session_id = $1", session_id
            )
            if done is not None:
                video_id = await self._resume_hand_off(session_id, done["video_id"])
                if video_id is None:
                    await trio.to_thread.run_sync(path.unlink)
                    return None
            else:
                video_id = await self._create_video(session_id, size)
                if video_id is None:
                    logger.info("recording of session %d discarded (%d bytes)", session_id, size)
                    await trio.to_thread.run_sync(path.unlink)
                    return None
        except StoreError:
            logger.warning("recording of session %d kept for the next start", session_id)
            return None
        # The job waits for a worker to poll; the file is in place long before. If the
        # server dies right here, the next start finds the file again and rule 6 moves
        # it into this same video before the workers run. A stored source is never
        # replaced: a file left beside it (a copy that died before its unlink) is dropped.
        await adopt_source(self._get_objects(), path, self.key_for(session_id))
        self._wake()
        logger.info("recording of session %d is video %d, queued", session_id, video_id)
        return video_id

    async def _create_video(self, session_id: int, size: int) -> int | None:
        """The video row, its job and the hand-off marker, in one transaction (rules 4, 6)."""
        db = self._get_db()
        row = await db.fetchrow(
            "SELECT user_id, title, description, started_at FROM live_sessions WHERE id = $1",
            session_id,
        )
        if row is None or size < MIN_RECORDING_BYTES:
            return None
        started = time.strftime("%Y-%m-%d %H:%M", time.gmtime(row["started_at"] or 0))
        async with db.transaction() as tx:
            video_id = await create_video(
                tx,
                user_id=row["user_id"],
                title=f"{row['title']} ({started} UTC)",
                description=row["description"],
                origin="live",
            )
            await enqueue(
                tx,
                PROCESS_VIDEO,
                process_payload(video_id, [self.key_for(session_id)]),
                subject=f"video:{video_id}",
            )
            await tx.execute(
                "INSERT INTO live_recordings (session_id, video_id, created_at)"
                " VALUES ($1, $2, $3)",
                session_id,
                video_id,
                time.time(),
            )
        return video_id

    async def _resume_hand_off(self, session_id: int, video_id: int | None) -> int | None:
        """A hand-off that committed but died before the move (rule 6): the same video."""
        db = self._get_db()
        if video_id is not None and await db.fetchval(
            "SELECT id FROM videos WHERE id = $1 AND state = 'processing'", video_id
        ):
            logger.warning(
                "recording of session %d was already video %d; finishing its move",
                session_id,
                video_id,
            )
            return video_id
        logger.info("recording of session %d dropped: its video was deleted or made", session_id)
        return None
