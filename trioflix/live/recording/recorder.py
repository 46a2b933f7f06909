"""Recording every live session into the object store, then handing it to processing.

Rules / theory of operation
---------------------------
1. A registry session worker: one recording per live session (publisher
   reconnects continue it), unless the session's stream key has recording
   turned off (``stream_keys.record``).
2. The recording is the channel's FLV tags as they arrived (each packet's tag
   header is encoded once and shared, so recording needs no muxing), cut into chunks of
   :data:`CHUNK_S` seconds or :data:`CHUNK_BYTES`, whichever comes first, and
   stored under ``recordings/{session_id}/`` (:mod:`.chunks` names them). Script
   data (the encoder's ``onMetaData``, whose ``duration`` is 0 for live) is left
   out: readers then measure the duration from the tags themselves.
3. A finished chunk goes to a bounded local spool, ``HOST_DIR/recordings/
   session-{id}-{worker}/`` (one per session worker, so that a session that
   comes back to this host never shares a spool with its earlier stint), and a
   task of :meth:`Recorder.run` puts the spooled chunks into the store in order,
   retrying with backoff while the store is unreachable. The spool holds at
   most ``spool_bytes`` for every session of this host: during an outage longer
   than that, further chunks are dropped (a gap in the recording, logged) until
   the store answers again; so are chunks the spool's disk has no room for.
   The chunk after a dropped one starts with the stream's sequence headers
   again, so that what follows the gap decodes. Memory holds one chunk
   in progress per session. A host that is killed loses that chunk, and what its
   spool still held if it never starts again.
4. One recording across hosts: a host that continues a session another host (or
   an earlier run) recorded lists the stored chunks before its first put. It
   becomes the next writer, shifts its timestamps to continue one frame after
   the largest stored one, and writes the FLV header only if no chunk was stored
   yet, so that the chunks in key order are one FLV stream. Those decisions are
   kept in the spool (``writer.json``) so that a restart keeps them.
5. When the session ends here (the stored session is ``ended`` and names this
   host's node), once every chunk of this host is stored, the recording is handed
   off: the chunks' keys in order (:func:`.chunks.recording_source`) become the
   source of one ``videos`` row (origin ``live``) and its ``video.remux`` job
   (payload ``{"video_id", "source": [keys]}``), in one transaction. The job owns
   the chunks from then on: it makes the recording watchable as streamed within
   seconds, ahead of any upload, and hands them on to the ladder's job
   (:mod:`trioflix.media.processing`). A session that went on from another host is left to
   that host.
6. The hand-off is idempotent: its transaction also records
   ``live_recordings(session_id -> video_id)``, whose primary key makes a second
   hand-off of the session, on any host, find the first one's video instead. It
   reads nothing but the database and the store, so any host can run it
   (:meth:`Recorder.hand_off`, for a session whose origin died). A store or
   database outage delays it (retried with backoff), never fails it.
7. After a crash: :meth:`Recorder.run` stores what the spool still holds and
   hands off the sessions of this node that ended meanwhile (the registry ended
   them at start), including those whose chunks were all stored already. At a
   graceful stop it first gives the sessions' last chunks and hand-offs
   :data:`SHUTDOWN_DRAIN_S`, shielded.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import time
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Final, TypeVar

import trio

from protocols import flv
from trioflix.jobs.queue import PRIORITY_EXPRESS, enqueue
from trioflix.live.channel.packets import Kind, Packet, flv_stream_header
from trioflix.live.recording.chunks import (
    chunk_key,
    parse_chunks,
    recording_prefix,
    recording_source,
)
from trioflix.media.library import create_video, video_subject
from trioflix.media.processing import REMUX_RECORDING, process_payload
from trioflix.storage import StorageError, retry_unavailable
from trioflix.store import Conflict, StoreError, StoreUnavailable

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    from trioflix.live.channel.stream import LiveStream
    from trioflix.live.recording.chunks import Chunk
    from trioflix.storage import ObjectInfo, ObjectStore
    from trioflix.store import Database

__all__ = ["CHUNK_BYTES", "CHUNK_S", "SPOOL_BYTES", "Recorder"]

logger = logging.getLogger(__name__)

CHUNK_S: Final = 4.0  # two HLS segments: what a killed host loses at most
CHUNK_BYTES: Final = 8 * 1024 * 1024  # 4 s of a 16 Mbit/s stream; less for anything slower
SPOOL_BYTES: Final = 2 * 1024**3  # an hour of a 4 Mbit/s channel waiting out an outage
# Like the HLS writer's: a slow disk is ridden out rather than torn by a skip.
RECORDING_QUEUE_BYTES: Final = 32 * 1024 * 1024
MIN_RECORDING_BYTES: Final = 64 * 1024  # less is a publish that never really started
STITCH_GAP_MS: Final = 33  # one frame at 30 fps between a writer's start and the stored end
HAND_OFF_WAIT_S: Final = 30.0  # the registry records the session's end well within this
POLL_S: Final = 0.2
DATABASE_RETRY_S: Final = 5.0
CLEANUP_TIMEOUT_S: Final = 5.0
SHUTDOWN_DRAIN_S: Final = 10.0  # a few chunks and one transaction; more is a store in trouble
CHUNK_CONTENT_TYPE: Final = "video/x-flv"
_SESSION_DIR = re.compile(r"session-(\d+)-[0-9a-f]+")
_SPOOLED = re.compile(r"(\d{6})-(\d{12})-(\d{12})\.flv")
_WRITER_FILE = "writer.json"


@dataclass(frozen=True, slots=True, kw_only=True)
class _Spooled:
    """A chunk in the spool: timestamps as this host's stream had them."""

    path: Path
    n: int
    first_ms: int
    last_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class _Writer:
    """How this host's chunks of a session go into the store (rule 4)."""

    writer: int
    offset_ms: int
    header: bool  # the first chunk stored carries the FLV header


class _SessionSpool:
    """One session's spool on this host, fed by the session worker, drained by the uploader."""

    def __init__(self, session_id: int, directory: Path) -> None:
        self.session_id = session_id
        self.directory = directory
        self.finished = False  # the worker stored its last chunk in the spool
        self.more = trio.Event()


def _write_chunk(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    writing = path.with_suffix(".partial")
    try:
        with open(writing, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(writing, path)  # a spooled chunk is whole or absent
    except OSError:
        writing.unlink(missing_ok=True)  # a full disk: free what the lost chunk took
        raise


def _configs(stream: LiveStream, timestamp: int) -> list[Packet]:
    """The stream's sequence headers, stamped ``timestamp`` (a chunk's first)."""
    return [
        Packet(config.kind, timestamp, config.payload, config=True, generation=config.generation)
        for config in (stream.video_config, stream.audio_config)
        if config is not None
    ]


def _spooled_chunks(directory: Path) -> list[_Spooled]:
    chunks = []
    for name in sorted(os.listdir(directory)):
        match = _SPOOLED.fullmatch(name)
        if match is not None:
            n, first_ms, last_ms = map(int, match.groups())
            chunks.append(_Spooled(path=directory / name, n=n, first_ms=first_ms, last_ms=last_ms))
    return chunks


def _spool_size(directory: Path) -> int:
    """Bytes in a spool left by a previous run."""
    return sum(entry.stat().st_size for entry in directory.rglob("*.flv"))


def _retimed(data: bytes, offset_ms: int) -> bytes:
    """The tags of a spooled chunk with ``offset_ms`` added to every timestamp."""
    reader = flv.FLVReader()
    reader.receive_data(flv_stream_header() + data)  # the reader wants a whole stream
    reader.receive_data(b"")
    tags = []
    while not isinstance(event := reader.next_event(), flv.FLVEnd):
        if isinstance(event, flv.FLVTag):
            tags.append(
                flv.encode_tag_fields(
                    event.tag_type, (event.timestamp_ms + offset_ms) & 0xFFFFFFFF, event.data
                )
            )
    return b"".join(tags)


def _read_writer(path: Path) -> _Writer | None:
    try:
        fields = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    return _Writer(writer=fields["writer"], offset_ms=fields["offset_ms"], header=fields["header"])


def _save_writer(path: Path, writer: _Writer) -> None:
    writing = path.with_suffix(".partial")
    fields = {"writer": writer.writer, "offset_ms": writer.offset_ms, "header": writer.header}
    writing.write_text(json.dumps(fields))
    os.replace(writing, path)


def _remove_spool(directory: Path) -> None:
    for entry in directory.iterdir():
        entry.unlink()
    directory.rmdir()


class Recorder:
    """Records live sessions into the object store and hands them to the video pipeline.

    Args:
        get_db: The database (available once the services started).
        get_objects: The object store (available once the services started).
        wake_workers: Called after a processing job was enqueued.
        spool_dir: Where chunks wait for the store: this host's own directory
            (``Settings.host_dir / "recordings"``), where :meth:`run` also finds
            what a previous run of this host left.
        chunk_s: A chunk's length at most, in seconds of wall-clock time.
        chunk_bytes: A chunk's size at most.
        spool_bytes: What the spool holds at most for all sessions together.

    Resource handling:
        :meth:`run` owns the tasks that store chunks and hand recordings off;
        start it (``nursery.start``) before any session records.
    """

    def __init__(
        self,
        get_db: Callable[[], Database],
        get_objects: Callable[[], ObjectStore],
        wake_workers: Callable[[], None],
        *,
        spool_dir: Path,
        chunk_s: float = CHUNK_S,
        chunk_bytes: int = CHUNK_BYTES,
        spool_bytes: int = SPOOL_BYTES,
    ) -> None:
        self.directory = spool_dir
        self.chunk_s = chunk_s
        self.chunk_bytes = chunk_bytes
        self.spool_bytes = spool_bytes
        self._get_db = get_db
        self._get_objects = get_objects
        self._wake = wake_workers
        self._node: str | None = None
        self._nursery: trio.Nursery | None = None
        self._spools: dict[Path, _SessionSpool] = {}  # whose upload has not completed
        self._spooled_bytes = 0
        self.dropped_chunks = 0  # chunks a full spool had no room for

    async def run(
        self, node: str, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Host the uploads and hand-offs until cancelled; first take up what a previous
        run of this node left (rule 7).

        Args:
            node: The stream registry's node id: a session whose stored row names it
                and has ended was ended by this host, which hands it off.
        """
        directory = self.directory
        await trio.to_thread.run_sync(lambda: directory.mkdir(parents=True, exist_ok=True))
        names = await trio.to_thread.run_sync(os.listdir, directory)
        self._spooled_bytes = await trio.to_thread.run_sync(_spool_size, directory)
        self._node = node
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                leftovers = set()
                for name in sorted(names):
                    match = _SESSION_DIR.fullmatch(name)
                    if match is not None:
                        logger.warning("storing the recording chunks %s a previous run left", name)
                        spool = _SessionSpool(int(match.group(1)), directory / name)
                        spool.finished = True
                        leftovers.add(spool.session_id)
                        nursery.start_soon(self._upload, spool)
                nursery.start_soon(self._hand_off_ended, leftovers)
                task_status.started()
                await trio.sleep_forever()
        finally:
            self._nursery = None
            # A graceful stop: the sessions ended as the registry stopped; their last
            # chunks and hand-offs get a bounded, shielded while before the store and
            # the database close. What does not make it waits for the next start.
            with trio.move_on_after(SHUTDOWN_DRAIN_S, shield=True):
                async with trio.open_nursery() as draining:
                    for spool in list(self._spools.values()):
                        draining.start_soon(self._upload, spool)

    # --- recording (rules 1-3) ----------------------------------------------------------

    async def _wants_recording(self, stream: LiveStream) -> bool:
        row = await self._get_db().fetchrow(
            "SELECT record FROM stream_keys WHERE id = $1", stream.key_id
        )
        return row is None or bool(row["record"])

    async def session_worker(self, stream: LiveStream) -> None:
        """Record ``stream``'s session here until it ends (a registry session worker)."""
        # Subscribe before the first checkpoint: nothing the publisher sends is missed.
        subscriber = stream.subscribe_session(max_bytes=RECORDING_QUEUE_BYTES)
        spool: _SessionSpool | None = None
        tags: list[bytes] = []
        try:
            try:
                wanted = await self._wants_recording(stream)
            except StoreError:
                wanted = True  # by default: losing a stream is worse than keeping one
            if not wanted:
                logger.info("%s: recording is off for this stream key", stream.channel)
                return
            nursery = self._nursery
            if nursery is None:
                raise RuntimeError("the recorder is not running")
            spool = _SessionSpool(
                stream.session_id,
                self.directory / f"session-{stream.session_id}-{secrets.token_hex(4)}",
            )
            nursery.start_soon(self._upload, spool)
            n, size, first_ms, last_ms = 0, 0, 0, 0
            ended = False
            # A lost chunk may have held the only sequence headers (the first one
            # does): the next chunk starts with them again, or nothing after the
            # gap could be decoded.
            reconfigure = False
            while not ended:
                # A chunk is cut on time even while no media comes (the grace window).
                with trio.move_on_after(self.chunk_s):
                    while size < self.chunk_bytes:
                        batch = await subscriber.next_batch()
                        if not batch:
                            ended = True
                            break
                        for packet in batch:
                            if packet.kind is Kind.SCRIPT:
                                continue
                            if not tags:
                                first_ms = last_ms = packet.timestamp
                                if reconfigure:
                                    for config in _configs(stream, packet.timestamp):
                                        tags += config.flv_parts
                                        size += config.size
                                    reconfigure = False
                            tags += packet.flv_parts
                            size += packet.size
                            last_ms = max(last_ms, packet.timestamp)
                if tags and not ended:
                    reconfigure = not await self._spool_chunk(spool, n, first_ms, last_ms, tags)
                    n, size = n + 1, 0
        finally:
            stream.unsubscribe(subscriber)
            if spool is not None:
                with trio.move_on_after(CLEANUP_TIMEOUT_S, shield=True):
                    if tags:
                        await self._spool_chunk(spool, n, first_ms, last_ms, tags)
                spool.finished = True
                spool.more.set()

    async def _spool_chunk(
        self, spool: _SessionSpool, n: int, first_ms: int, last_ms: int, tags: list[bytes]
    ) -> bool:
        """Put a chunk in the spool; ``False`` if it was dropped (spool or disk full)."""
        data = b"".join(tags)
        tags.clear()
        if self._spooled_bytes + len(data) > self.spool_bytes:
            self.dropped_chunks += 1
            logger.error(
                "recording of session %d: the spool is full (%d bytes waiting for the store);"
                " chunk %d dropped",
                spool.session_id,
                self._spooled_bytes,
                n,
            )
            return False
        path = spool.directory / f"{n:06d}-{first_ms:012d}-{last_ms:012d}.flv"
        self._spooled_bytes += len(data)
        try:
            await trio.to_thread.run_sync(_write_chunk, path, data)
        except OSError:
            self._spooled_bytes -= len(data)
            logger.exception("recording of session %d: chunk %d lost", spool.session_id, n)
            return False
        spool.more.set()
        return True

    # --- storing (rules 3, 4) -----------------------------------------------------------

    async def _upload(self, spool: _SessionSpool) -> None:
        """Put the spool's chunks into the store in order, until the worker finished;
        then the hand-off. Cancelled, it can run again for the same spool."""
        self._spools[spool.directory] = spool
        writer: _Writer | None = None
        writer_file = spool.directory / _WRITER_FILE
        while True:
            spool.more = trio.Event()
            finished = spool.finished
            chunks: list[_Spooled] = []
            if await trio.to_thread.run_sync(spool.directory.exists):
                chunks = await trio.to_thread.run_sync(_spooled_chunks, spool.directory)
            for chunk in chunks:
                if writer is None:
                    writer = await self._writer(spool.session_id, writer_file, chunk.first_ms)
                await self._store(spool.session_id, writer, chunk)
                if writer.header:
                    writer = _Writer(writer=writer.writer, offset_ms=writer.offset_ms, header=False)
                    await trio.to_thread.run_sync(_save_writer, writer_file, writer)
            if finished:
                break
            if not chunks:
                await spool.more.wait()
        if await trio.to_thread.run_sync(spool.directory.exists):
            await trio.to_thread.run_sync(_remove_spool, spool.directory)
        await self._hand_off_if_ended_here(spool.session_id)
        del self._spools[spool.directory]

    async def _writer(self, session_id: int, path: Path, first_ms: int) -> _Writer:
        """This host's place among the session's writers (rule 4), decided once."""
        writer = await trio.to_thread.run_sync(_read_writer, path)
        if writer is not None:
            return writer
        stored = parse_chunks(session_id, await self._list(recording_prefix(session_id)))
        if stored:
            continue_at = max(chunk.last_ms for chunk in stored) + STITCH_GAP_MS
            writer = _Writer(
                writer=max(chunk.writer for chunk in stored) + 1,
                offset_ms=max(continue_at - first_ms, 0),
                header=False,
            )
            logger.info(
                "recording of session %d continues %d stored chunk(s) as writer %d",
                session_id,
                len(stored),
                writer.writer,
            )
        else:
            writer = _Writer(writer=0, offset_ms=0, header=True)
        await trio.to_thread.run_sync(_save_writer, path, writer)
        return writer

    async def _store(self, session_id: int, writer: _Writer, chunk: _Spooled) -> None:
        data = await trio.to_thread.run_sync(chunk.path.read_bytes)
        size = len(data)
        if writer.offset_ms:
            data = await trio.to_thread.run_sync(_retimed, data, writer.offset_ms)
        if writer.header:
            data = flv_stream_header() + data
        key = chunk_key(
            session_id,
            writer.writer,
            chunk.n,
            chunk.first_ms + writer.offset_ms,
            chunk.last_ms + writer.offset_ms,
        )
        await _persist(
            lambda: self._get_objects().put_bytes(key, data, content_type=CHUNK_CONTENT_TYPE),
            f"recording chunk {key}",
        )
        await trio.to_thread.run_sync(chunk.path.unlink)
        self._spooled_bytes -= size

    async def _list(self, prefix: str) -> list[ObjectInfo]:
        return await _persist(lambda: self._get_objects().list_prefix(prefix), f"listing {prefix}")

    # --- hand-off (rules 5-7) -----------------------------------------------------------

    async def _hand_off_if_ended_here(self, session_id: int) -> None:
        """Rule 5: hand off once the registry recorded the session's end on this node."""
        row = None
        with trio.move_on_after(HAND_OFF_WAIT_S):
            while True:
                try:
                    row = await self._get_db().fetchrow(
                        "SELECT state, node FROM live_sessions WHERE id = $1", session_id
                    )
                except StoreUnavailable:
                    await trio.sleep(DATABASE_RETRY_S)
                    continue
                if row is None or row["node"] != self._node:
                    return  # deleted, or it went on from another host, which hands it off
                if row["state"] == "ended":
                    break
                await trio.sleep(POLL_S)
        if row is not None and row["state"] == "ended":
            await self.hand_off(session_id)
        else:
            logger.warning(
                "session %d did not end here; the host that ends it hands its recording off",
                session_id,
            )

    async def _hand_off_ended(self, leftovers: set[int]) -> None:
        """Rule 7: the sessions of this node that ended with chunks stored but no hand-off."""
        sessions = {
            int(info.key.split("/")[1])
            for info in await self._list("recordings/")
            if info.key.split("/")[1].isdigit()
        }
        for session_id in sorted(sessions - leftovers):
            row = await _database(
                partial(
                    self._get_db().fetchrow,
                    "SELECT s.state, s.node, r.session_id AS done FROM live_sessions s"
                    " LEFT JOIN live_recordings r ON r.session_id = s.id WHERE s.id = $1",
                    session_id,
                )
            )
            if (
                row is not None
                and row["state"] == "ended"
                and row["node"] == self._node
                and row["done"] is None
            ):
                logger.warning("handing off recording of session %d left by a crash", session_id)
                await self.hand_off(session_id)

    async def hand_off(self, session_id: int) -> int | None:
        """Turn the session's stored chunks into one video being processed (rules 5, 6).

        Works on any host, from the database and the store alone: the host that ends
        a session whose origin died calls it. Call it only once the session has
        ended. Retries with backoff while the store or the database is unreachable.

        Returns:
            The video's id (the one an earlier hand-off made, if any), or ``None`` if
            there was nothing worth keeping.
        """
        done = await _database(
            lambda: self._get_db().fetchrow(
                "SELECT video_id FROM live_recordings WHERE session_id = $1", session_id
            )
        )
        if done is not None:
            return None if done["video_id"] is None else int(done["video_id"])
        prefix = recording_prefix(session_id)
        source, stale = recording_source(parse_chunks(session_id, await self._list(prefix)))
        size = sum(chunk.size for chunk in source)
        video_id = await _database(lambda: self._create_video(session_id, source, size))
        if video_id is None:
            logger.info("recording of session %d discarded (%d bytes)", session_id, size)
            await _persist(lambda: self._get_objects().delete_prefix(prefix), f"deleting {prefix}")
            return None
        for chunk in stale:
            logger.warning("recording of session %d: stale chunk %s dropped", session_id, chunk.key)
            await _persist(partial(self._get_objects().delete, chunk.key), chunk.key)
        self._wake()
        logger.info(
            "recording of session %d (%d chunks) is video %d, queued",
            session_id,
            len(source),
            video_id,
        )
        return video_id

    async def _create_video(self, session_id: int, source: list[Chunk], size: int) -> int | None:
        """The video row, its job and the hand-off marker, in one transaction (rules 5, 6)."""
        db = self._get_db()
        row = await db.fetchrow(
            "SELECT user_id, title, description, started_at FROM live_sessions WHERE id = $1",
            session_id,
        )
        if row is None or size < MIN_RECORDING_BYTES:
            return None
        started = time.strftime("%Y-%m-%d %H:%M", time.gmtime(row["started_at"] or 0))
        try:
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
                    REMUX_RECORDING,
                    process_payload(video_id, [chunk.key for chunk in source]),
                    subject=video_subject(video_id),
                    priority=PRIORITY_EXPRESS,
                )
                await tx.execute(
                    "INSERT INTO live_recordings (session_id, video_id, created_at)"
                    " VALUES ($1, $2, $3)",
                    session_id,
                    video_id,
                    time.time(),
                )
        except Conflict:
            # Another host handed the session off meanwhile: its video, not a second one.
            done = await db.fetchval(
                "SELECT video_id FROM live_recordings WHERE session_id = $1", session_id
            )
            return None if done is None else int(done)
        return int(video_id)


T = TypeVar("T")


async def _persist(operation: Callable[[], Awaitable[T]], what: str) -> T:
    """``operation`` until it succeeds: outages are ridden out with backoff; a permanent
    error (credentials revoked, bucket deleted) waits for an operator, logged."""
    while True:
        try:
            return await retry_unavailable(operation, what)
        except StorageError:
            logger.exception("%s failed; trying again in %.0f s", what, DATABASE_RETRY_S)
            await trio.sleep(DATABASE_RETRY_S)


async def _database(operation: Callable[[], Awaitable[T]]) -> T:
    """``operation`` until the database answers it."""
    while True:
        try:
            return await operation()
        except StoreUnavailable:
            logger.warning("database unavailable; hand-off retried in %.0f s", DATABASE_RETRY_S)
            await trio.sleep(DATABASE_RETRY_S)
