"""One HLS rendition: a media playlist and its MPEG-TS segment files on disk.

Both the source (:mod:`trioflix.live.hls.writer`) and every ladder rung
(:mod:`trioflix.live.hls.transcoder`) are a :class:`Rendition`; it is the type the
two share, so neither needs the other.

Rules
-----
1. Files are written off the Trio thread, to a temporary name and renamed into place
   (:func:`write_atomic`), so an HTTP reader never sees a partial segment or playlist.
2. A playlist is published only once the segment it lists is on disk. A segment
   whose playlist ended while it was being written is not listed, and goes.
3. Segments that leave the window are deleted once RFC 8216 6.2.2's hold time has
   passed (:class:`protocols.hls.MediaPlaylist` says when).
4. A segment's name carries its Media Sequence Number. In a cluster the live session
   may have been written by another host before (a takeover, an encoder that
   reconnected here): before its first segment, a rendition asks where the session's
   playlist stopped (:class:`Continuity`) and goes on from there, its first segment
   carrying EXT-X-DISCONTINUITY, as after a reconnect on one host. Each segment's
   position is recorded before the playlist listing it is published, so numbers
   never go back; a segment whose record is refused (another host has taken the
   session's HLS over since) is not listed, so names never repeat across hosts.
5. A write that fails (a full disk) costs what it wrote, not the session: a segment
   not written is not listed, the next one that is carries EXT-X-DISCONTINUITY, and
   a playlist file not written is served from memory here and rewritten whole by
   the next publish. Once space returns the rendition goes on by itself.
"""

from __future__ import annotations

import copy
import itertools
import logging
import os
import threading
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Protocol

import trio

from protocols import hls
from trioflix.cluster.hls_state import Position

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime
    from pathlib import Path

__all__ = ["Continuity", "Rendition", "VariantInfo", "write_atomic"]

logger = logging.getLogger(__name__)

SEGMENT_PREFIX: Final = "seg"
_IOV_MAX: Final = os.sysconf("SC_IOV_MAX")  # buffers one writev takes (1024 on Linux)


def write_atomic(path: Path, data: bytes | Sequence[bytes]) -> None:
    """Write ``data`` (one buffer, or the chunks of one, in order) to a temporary name
    beside ``path``, then rename it into place.

    Blocking: call through ``trio.to_thread``.
    """
    tmp = path.with_name(f".{path.name}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as f:
            if isinstance(data, bytes):
                f.write(data)
            else:
                _write_gathered(f.fileno(), data)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)  # a partial file would hold on to the space it took
        raise


def _write_gathered(fd: int, chunks: Sequence[bytes]) -> None:
    # One writev per IOV_MAX chunks: a segment's frames go to the file without being
    # copied into one buffer first (megabytes, a fresh mapping each). A short write (a
    # disk filling up) goes on from where it stopped; the next call then raises.
    pending = deque(memoryview(chunk) for chunk in chunks)
    while pending:
        written = os.writev(fd, list(itertools.islice(pending, _IOV_MAX)))
        while pending and written >= pending[0].nbytes:
            written -= pending.popleft().nbytes
        if written:
            pending[0] = pending[0][written:]


def _unlink_all(paths: list[Path]) -> None:
    for path in paths:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


class Continuity(Protocol):
    """Where a live session's renditions stopped, as the hosts of a site share it (rule 4)."""

    async def stopped_at(self, rendition: str) -> Position | None:
        """Where ``rendition`` stopped on any host (``None``: nowhere, or unknown)."""

    async def advance(self, rendition: str, position: Position) -> bool:
        """``rendition`` got as far as ``position`` here; ``False``: another host
        writes the session now, so the segment is not to be listed."""


@dataclass(frozen=True, slots=True)
class VariantInfo:
    """What the master playlist says about one rendition (URI aside, which is per viewer)."""

    name: str
    bandwidth: int
    average_bandwidth: int
    codecs: tuple[str, ...]
    resolution: tuple[int, int] | None
    frame_rate: float | None


class Rendition:
    """One media playlist and its segment files.

    The playlist text served over HTTP is kept in memory (:attr:`text`) and written to
    ``index.m3u8`` after each change, both only once the segment it lists is on disk.
    """

    def __init__(
        self,
        name: str,
        directory: Path,
        *,
        session_id: int,
        target_duration_s: int,
        limiter: trio.CapacityLimiter,
        nominal_bps: int = 0,
        resolution: tuple[int, int] | None = None,
        continuity: Continuity | None = None,
    ) -> None:
        self.name = name
        self.directory = directory
        self.session_id = session_id
        self.playlist = hls.MediaPlaylist(target_duration_s=target_duration_s)
        self.meter = hls.BitrateMeter()
        self.nominal_bps = nominal_bps
        self.resolution = resolution
        self.codecs: tuple[str, ...] = ()
        self.frame_rate: float | None = None
        self.text = self.playlist.render()
        self.segments_added = 0
        self.newest_ms: int | None = None  # newest media timestamp this rendition has taken
        self.dropped = False  # removed from the master playlist (a ladder rung that failed)
        self.provisional_end = False  # ENDLIST shown while the publisher is away
        self.first_segment = trio.Event()
        self._limiter = limiter
        self._continuity = continuity
        self.superseded = False  # another host writes this session's HLS now (rule 4)
        self._discontinue = False  # the next segment continues another host's playlist
        self._write_lock = trio.Lock()

    def segment_path(self, uri: str) -> Path:
        """Where the segment a playlist line names is on disk."""
        return self.directory / uri

    async def add(
        self,
        segment: hls.SegmentFinished,
        program_date_time: datetime | None,
        *,
        discontinuity: bool | None = None,
    ) -> None:
        """Write the segment file (rule 1), record its position in a cluster (rule 4), then
        list it (rule 2), then delete what left the window (rule 3)."""
        if self.playlist.ended or self.superseded or segment.duration_ms <= 0:
            return
        if not self.segments_added:
            await self._continue()
        at = self.position()
        uri = f"{SEGMENT_PREFIX}-{self.session_id}-{at.media_sequence:06d}.ts"
        try:
            await trio.to_thread.run_sync(
                write_atomic, self.directory / uri, segment.chunks, limiter=self._limiter
            )
        except OSError as exc:
            # Rule 5: viewers skip this segment's time; the next one marks the gap.
            logger.error(
                "%s of session %d: segment %s not written, dropped: %s",
                self.name,
                self.session_id,
                uri,
                exc,
            )
            self._discontinue = True
            return
        entry = hls.PlaylistSegment(
            uri=uri,
            duration_ms=segment.duration_ms,
            discontinuity=self._discontinue
            or (segment.discontinuity if discontinuity is None else discontinuity),
            program_date_time=program_date_time,
        )
        if self._continuity is not None:
            listed = Position(
                at.media_sequence + 1, at.discontinuity_sequence + entry.discontinuity
            )
            if not await self._continuity.advance(self.name, listed):
                # Another host writes the session now: this segment's number is theirs.
                self.superseded = True
                await trio.to_thread.run_sync(
                    _unlink_all, [self.directory / uri], limiter=self._limiter
                )
                logger.info("%s of session %d goes on on another host", self.name, self.session_id)
                return
        if self.playlist.ended:
            # Ended while the segment was written (a ladder rung's last frames racing
            # the session's end): the playlist is final, the file is nobody's.
            await trio.to_thread.run_sync(
                _unlink_all, [self.directory / uri], limiter=self._limiter
            )
            return
        try:
            deletable = self.playlist.add_segment(entry)
        except hls.HLSError:
            # Cannot happen with our segmenters (target duration bounds every segment);
            # if it did, dropping the segment keeps the playlist valid.
            logger.exception("segment %s of %s refused by its playlist", uri, self.name)
            return
        self._discontinue = False
        self.meter.add(segment.size, segment.duration_ms)
        self.segments_added += 1
        self.provisional_end = False
        await self._publish(self.playlist.render())
        self.first_segment.set()
        if deletable:
            paths = [self.directory / u for u in deletable]
            await trio.to_thread.run_sync(_unlink_all, paths, limiter=self._limiter)

    def position(self) -> Position:
        """Where this rendition's playlist stands: the next segment's Media Sequence
        Number and the last listed segment's Discontinuity Sequence Number."""
        listed = self.playlist.segments
        return Position(
            self.playlist.media_sequence + len(listed),
            self.playlist.discontinuity_sequence + sum(s.discontinuity for s in listed),
        )

    async def continue_session(self) -> None:
        """Before this host's first segment: go on from where another host left the
        session (rule 4) now, so that even the empty playlist shown until that
        segment does not go back."""
        if await self._continue():
            await self._publish(self.playlist.render())

    async def _continue(self) -> bool:
        """Go on from where another host left this session's rendition (rule 4), if it
        did and this host has listed nothing yet; whether the playlist changed."""
        if self._continuity is None or self.segments_added:
            return False
        at = await self._continuity.stopped_at(self.name)
        if at is None or at.media_sequence <= self.playlist.media_sequence:
            return False
        self.playlist = hls.MediaPlaylist(
            target_duration_s=self.playlist.target_duration_s,
            media_sequence=at.media_sequence,
            discontinuity_sequence=at.discontinuity_sequence,
        )
        self._discontinue = True
        logger.info(
            "%s of session %d continues at media sequence %d",
            self.name,
            self.session_id,
            at.media_sequence,
        )
        return True

    async def end(self, *, provisional: bool = False) -> None:
        """Show EXT-X-ENDLIST. ``provisional``: the publisher may come back (a reconnect), so
        the playlist itself stays open and :meth:`resume` withdraws the end."""
        if self.playlist.ended:
            return
        if provisional:
            ended = copy.deepcopy(self.playlist)
            ended.end()
            self.provisional_end = True
            await self._publish(ended.render())
        else:
            self.playlist.end()
            self.provisional_end = False
            await self._publish(self.playlist.render())

    async def resume(self) -> None:
        """The publisher is back: withdraw a provisional EXT-X-ENDLIST."""
        if self.provisional_end and not self.playlist.ended:
            self.provisional_end = False
            await self._publish(self.playlist.render())

    async def _publish(self, text: str) -> None:
        # The session task (pause, resume, finish) and a rung's reader task both publish;
        # the lock keeps the file's last write the newest text.
        async with self._write_lock:
            try:
                await trio.to_thread.run_sync(
                    write_atomic,
                    self.directory / "index.m3u8",
                    text.encode(),
                    limiter=self._limiter,
                )
            except OSError as exc:
                # Rule 5: this host serves ``text``; the file is for the other hosts.
                logger.error(
                    "%s of session %d: playlist not written: %s", self.name, self.session_id, exc
                )
            self.text = text

    def variant(self) -> VariantInfo:
        """This rendition's master playlist entry: measured rates, at least the nominal."""
        peak = max(self.meter.peak_bps, self.nominal_bps)
        average = self.meter.average_bps or self.nominal_bps or peak
        return VariantInfo(
            name=self.name,
            bandwidth=max(peak, 1),
            average_bandwidth=max(min(average, peak), 1),
            codecs=self.codecs,
            resolution=self.resolution,
            frame_rate=self.frame_rate,
        )
