"""Live HLS: each live session's renditions, cut into MPEG-TS segments on disk, and playlists.

Rules / theory of operation
---------------------------
1. One :class:`HLSSession` per live session, run by :meth:`HLSHub.session_worker`, a
   registry session worker: it lives as long as the session, across publisher
   reconnects, and takes media from ``LiveStream.subscribe_session``.
2. The *source* rendition is passthrough: FLV tags go through
   :class:`protocols.hls.Segmenter` as they are (no decode). Every TS byte and every
   playlist line comes from :mod:`protocols.hls`.
3. Below it, the ABR ladder (:mod:`trioflix.live.hls.transcoder`) re-encodes video in a
   child process. The session drives it through :class:`Transcoder` alone, and the
   ladder asks the session for each rung's :class:`Rendition`. The source segmenter
   decides where every segment starts; the ladder is told, and forces an IDR exactly
   there, so all renditions cut at the same presentation timestamps (rung segmenters
   cut at every keyframe they see).
4. Every rendition's files are written by :class:`Rendition`: off the Trio thread, to
   a temporary name and renamed into place, so an HTTP reader never sees a partial
   segment or playlist. Segments that leave the window are deleted once RFC 8216
   6.2.2's hold time has passed.
5. Lifecycle: when the publisher goes away (it stops, drops, or the session ends) every
   playlist is finalised with EXT-X-ENDLIST within :data:`ENDLIST_DEADLINE_S`. If the
   same key reconnects within the registry's grace window, the same playlists go on:
   ENDLIST is withdrawn and the next segment carries EXT-X-DISCONTINUITY. A new
   publisher generation (a takeover without a gap) is cut the same way.
6. After the session, its files stay :data:`LINGER_S` for players finishing the tail,
   then the directory goes. Segment names carry the session id, so a new session on the
   same channel never serves an old player a new session's segment.
7. In a cluster the session may continue on another host (a takeover, or the encoder
   reconnecting there within the grace): each rendition records where it stands in the
   site's shared HLS state and, on the next host, goes on from there
   (:class:`~trioflix.live.hls.rendition.Continuity`), with EXT-X-DISCONTINUITY as in
   rule 5.
8. With LL-HLS on (``TRIOFLIX_HLS_PART``), the source's tags also go, after the TS
   segmenter (whose codec records it reuses), to a
   :class:`~trioflix.live.hls.cmaf.CMAFRendition`: CMAF parts in memory and an LL-HLS
   playlist beside the TS one, cut, ended and resumed with it (rule 5). Every other
   rendition (ladder rung, multitrack track) gets one too, whose parts follow the
   source's (:mod:`trioflix.live.hls.cmaf` rule 6); each LL playlist reports where the
   others stand (EXT-X-RENDITION-REPORT). In a cluster their numbers go on across hosts
   as the MPEG-TS ones do (rule 7), by reservations made ahead
   (:mod:`trioflix.live.hls.ll_continuity`).
"""

from __future__ import annotations

import bisect
import logging
import secrets
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final, Protocol

import trio

from protocols import flv, hls
from trioflix.cluster.errors import redis_errors
from trioflix.live.channel.packets import Kind
from trioflix.live.hls.cmaf import CMAFRendition, Waiters
from trioflix.live.hls.ll_continuity import LLContinuity
from trioflix.live.hls.rendition import Rendition, VariantInfo, write_atomic
from trioflix.live.hls.track_renditions import serve_tracks

if TYPE_CHECKING:
    from collections.abc import Callable

    from trioflix.cluster.hls_state import Position, SiteHLS
    from trioflix.live.channel.fanout import Subscriber
    from trioflix.live.channel.packets import Packet
    from trioflix.live.channel.stream import LiveStream
    from trioflix.live.hls.hub import HLSHub

__all__ = [
    "ENDLIST_DEADLINE_S",
    "LINGER_S",
    "SESSION_QUEUE_BYTES",
    "SOURCE",
    "HLSSession",
    "SharedPositions",
    "Transcoder",
]

logger = logging.getLogger(__name__)

SOURCE: Final = "source"
# The promise (docs/hls.md): every playlist ends within 2 s of the publisher stopping.
ENDLIST_DEADLINE_S: Final = 2.0
# Players finishing the last segments of an ended session; then the directory goes.
LINGER_S: Final = 60.0
# 32 MiB is ~40 s of a 6 Mbit/s stream: a slow disk is ridden out, not skipped over
# (a skip would tear a segment), yet memory stays bounded.
SESSION_QUEUE_BYTES: Final = 32 * 1024 * 1024
# How long the master playlist waits for the ladder's first segments after the source
# has one; a rung that misses it joins the master playlist for later players.
RUNG_START_WAIT_S: Final = 6.0
LADDER_CATCH_UP_S: Final = 0.75  # of the ENDLIST budget, for the rungs' last frames
# Redis answers in a millisecond; a segment is not held up longer than this by an outage.
SHARED_STATE_TIMEOUT_S: Final = 0.5


class _DateAnchors:
    """Media timestamp -> wall clock, re-anchored at each publisher generation (the gap of
    a reconnect is not on the media timeline, but it is on the wall clock)."""

    def __init__(self) -> None:
        self._ts: list[int] = []
        self._wall: list[float] = []

    def anchor(self, timestamp_ms: int, wall: float) -> None:
        if self._ts and timestamp_ms <= self._ts[-1]:
            return
        self._ts.append(timestamp_ms)
        self._wall.append(wall)

    def at(self, timestamp_ms: int) -> datetime | None:
        i = bisect.bisect_right(self._ts, timestamp_ms) - 1
        if i < 0:
            if not self._ts:
                return None
            i = 0
        seconds = self._wall[i] + (timestamp_ms - self._ts[i]) / 1000
        return datetime.fromtimestamp(seconds, UTC)


class SharedPositions:
    """One session's rendition positions in the site's shared HLS state (rule 7): the
    :class:`~trioflix.live.hls.rendition.Continuity` of its renditions in a cluster.

    Args:
        shared: The site's shared HLS state (``None`` while it cannot be reached).
        channel: The session's channel.
        session_id: The live session.

    Error handling:
        Redis out of reach is logged: a rendition that cannot learn where another
        host stopped numbers from 0, and one that cannot record its position lists
        the segment anyway, for this host's players.
    """

    def __init__(self, shared: Callable[[], SiteHLS | None], channel: str, session_id: int):
        self._shared = shared
        self._channel = channel
        self._session_id = session_id
        self._writer = secrets.token_hex(8)  # this HLSSession, whichever host runs it

    async def claim(self) -> None:
        """This host writes the session's HLS from now on: the previous writer's
        segments are no longer listed."""
        site = self._shared()
        if site is None:
            return
        try:
            with trio.fail_after(SHARED_STATE_TIMEOUT_S):
                await site.claim(self._channel, self._session_id, self._writer)
        except redis_errors() as exc:
            logger.warning(
                "%s: cannot claim the HLS of session %d: %r", self._channel, self._session_id, exc
            )

    async def stopped_at(self, rendition: str) -> Position | None:
        site = self._shared()
        if site is None:
            return None
        try:
            with trio.fail_after(SHARED_STATE_TIMEOUT_S):
                return await site.stopped_at(self._channel, self._session_id, rendition)
        except redis_errors() as exc:
            logger.warning(
                "%s: cannot read where %s of session %d stopped: %r",
                self._channel,
                rendition,
                self._session_id,
                exc,
            )
            return None

    async def positions(self) -> dict[str, Position]:
        """Where every rendition of the session stopped, by the name it recorded under
        (none while the shared state is out of reach)."""
        site = self._shared()
        if site is None:
            return {}
        try:
            with trio.fail_after(SHARED_STATE_TIMEOUT_S):
                return await site.positions(self._channel, self._session_id)
        except redis_errors() as exc:
            logger.warning(
                "%s: cannot read where session %d stopped: %r", self._channel, self._session_id, exc
            )
            return {}

    async def advance(self, rendition: str, position: Position) -> bool:
        site = self._shared()
        if site is None:
            return True
        try:
            with trio.fail_after(SHARED_STATE_TIMEOUT_S):
                return await site.advance(
                    self._channel, self._session_id, rendition, position, self._writer
                )
        except redis_errors() as exc:
            logger.warning("%s: cannot record where %s stands: %r", self._channel, rendition, exc)
            return True


class Transcoder(Protocol):
    """The session's ABR ladder, as the session drives it.

    :class:`trioflix.live.hls.transcoder.Ladder` is the one in use: the hub builds it
    for the session and hands it to :meth:`HLSSession.run`. It asks the session for
    each rung's rendition (:meth:`HLSSession.new_rung`) and tells it when the master
    playlist changes (:meth:`HLSSession.rung_changed`).
    """

    async def run(self) -> None:
        """Serve the encoder; started in the session's nursery, cancelled at its end."""

    def feed(self, packet: Packet, cut: hls.SegmentEvent | None) -> None:
        """Take one source packet without waiting; ``cut`` is the source segment this
        video frame opened (rule 3)."""

    def source_segment_added(self) -> None:
        """The source rendition got a segment."""

    async def catch_up(self) -> None:
        """Wait until the rungs have what the source has; the caller bounds the wait."""

    async def cut(self) -> None:
        """A new publisher, or none for now: close the open rung segments."""

    async def close(self) -> None:
        """The session is over: flush the rungs and end their playlists."""


class HLSSession:
    """One live session's HLS output: the source rendition, the ladder's, the master."""

    def __init__(self, hub: HLSHub, stream: LiveStream) -> None:
        self.hub = hub
        self.stream = stream
        self.channel = stream.channel
        self.session_id = stream.session_id
        self._positions = (
            SharedPositions(hub.shared, self.channel, self.session_id)
            if hub.shared is not None
            else None
        )
        self.directory = hub.root / stream.channel / str(stream.session_id)
        self.segmenter = hls.Segmenter(
            target_duration_ms=hub.target_ms, max_duration_ms=hub.max_segment_ms
        )
        self.target_duration_s = self.segmenter.target_duration_s
        self.source = self._rendition(SOURCE)
        self.rungs: dict[str, Rendition] = {}
        self.dates = _DateAnchors()
        #: LL-HLS of every rendition by name (rule 8); empty while LL-HLS is off.
        self.lls: dict[str, CMAFRendition] = {}
        #: LL-HLS of the source, which the others' parts follow.
        self.ll = self._new_ll(SOURCE, leader=None)
        #: The LL renditions' numbering across hosts (rule 8), in a cluster.
        self.ll_continuity = (
            LLContinuity(self._positions, self.ll, self.lls)
            if self._positions is not None and self.ll is not None
            else None
        )
        #: Requests blocked on this channel's LL-HLS playlists and parts.
        self.ll_waiters = Waiters()
        self.master_ready = trio.Event()
        self.ended = False
        self.ended_at: float | None = None
        self.ladder: Transcoder | None = None
        self._generation: int | None = None
        self._paused = False
        self._frames_in_segment = 0
        self._prepared = False  # the directory exists
        self._master_lock = trio.Lock()

    @property
    def paused(self) -> bool:
        """The publisher is away (the playlists show a provisional ENDLIST)."""
        return self._paused

    def _rendition(
        self, name: str, *, nominal_bps: int = 0, resolution: tuple[int, int] | None = None
    ) -> Rendition:
        return Rendition(
            name,
            self.directory / name,
            session_id=self.session_id,
            target_duration_s=self.target_duration_s,
            limiter=self.hub.limiter,
            nominal_bps=nominal_bps,
            resolution=resolution,
            continuity=self._positions,
        )

    def _new_ll(self, name: str, *, leader: CMAFRendition | None) -> CMAFRendition | None:
        part_ms = self.hub.part_ms
        if part_ms is None:
            return None
        ll = CMAFRendition(
            name,
            session_id=self.session_id,
            part_target_ms=part_ms,
            segment_target_ms=self.hub.target_ms,
            max_segment_ms=self.hub.max_segment_ms,
            target_duration_s=self.target_duration_s,
            dates=self.program_date_time,
            leader=leader,
        )
        self.lls[name] = ll
        if leader is not None and self.ll_continuity is not None:
            self.ll_continuity.made(ll)
        return ll

    # --- for the ladder ----------------------------------------------------------------

    def new_rung(
        self, name: str, *, nominal_bps: int, resolution: tuple[int, int] | None
    ) -> Rendition:
        """A ladder rung's rendition, beside the source's and listed with it once it has
        a segment, and its LL-HLS (:meth:`low_latency`); the ladder creates its
        directory."""
        rendition = self._rendition(name, nominal_bps=nominal_bps, resolution=resolution)
        self.rungs[name] = rendition
        if self.ll is not None:
            self._new_ll(name, leader=self.ll)
        return rendition

    def low_latency(self, name: str) -> CMAFRendition | None:
        """A rendition's LL-HLS (``None`` while LL-HLS is off)."""
        return self.lls.get(name)

    def program_date_time(self, timestamp_ms: int) -> datetime | None:
        """The wall clock of a media timestamp, for EXT-X-PROGRAM-DATE-TIME."""
        return self.dates.at(timestamp_ms)

    async def rung_changed(self) -> None:
        """A rung produced its first segment or was dropped: the master playlist changes."""
        await self._write_master()

    # --- for HTTP ----------------------------------------------------------------------

    def rendition(self, name: str) -> Rendition | None:
        if name == SOURCE:
            return self.source
        return self.rungs.get(name)

    def variants(self) -> list[VariantInfo]:
        """The renditions to offer: the source, then every rung that has a segment and has
        not been dropped, highest first."""
        out = [self.source.variant()]
        for rung in sorted(self.rungs.values(), key=lambda r: -(r.resolution or (0, 0))[1]):
            if rung.segments_added and not rung.dropped:
                out.append(rung.variant())
        return out

    def render_master(self, query: str = "") -> str:
        variants = [
            hls.Variant(
                uri=f"{v.name}/index.m3u8{query}",
                bandwidth=v.bandwidth,
                average_bandwidth=v.average_bandwidth,
                codecs=v.codecs,
                resolution=v.resolution,
                frame_rate=v.frame_rate,
            )
            for v in self.variants()
        ]
        return hls.render_master_playlist(variants, independent_segments=True)

    def ll_variants(self) -> list[tuple[VariantInfo, CMAFRendition]]:
        """The LL renditions to offer: those of :meth:`variants` whose LL playlist has a
        part and is in step with the source's, in the same order."""
        out = []
        for variant in self.variants():
            ll = self.lls.get(variant.name)
            if ll is not None and not ll.retired and ll.playlist.last_part is not None:
                out.append((variant, ll))
        return out

    def render_master_ll(self, query: str = "") -> str:
        """The LL-HLS master playlist: the same ladder as :meth:`render_master`, each
        rendition's LL playlist."""
        variants = []
        for info, ll in self.ll_variants():
            resolution = info.resolution
            stats = self.stream.stats
            if info.name == SOURCE and resolution is None and stats.width and stats.height:
                # The first part comes before the first MPEG-TS segment, which is when
                # the source's resolution is taken: players label the variant with it.
                resolution = (stats.width, stats.height)
            variants.append(
                hls.Variant(
                    uri=f"{info.name}/ll.m3u8{query}",
                    bandwidth=max(info.bandwidth, ll.meter.peak_bps),
                    average_bandwidth=max(info.average_bandwidth, ll.meter.average_bps),
                    codecs=ll.codecs,
                    resolution=resolution,
                    frame_rate=info.frame_rate,
                )
            )
        return hls.render_master_playlist(variants, independent_segments=True)

    def ll_reports(self, name: str) -> tuple[hls.RenditionReport, ...]:
        """EXT-X-RENDITION-REPORT for rendition ``name``'s LL playlist: where every other
        rendition offered stands (its newest part, which exists)."""
        if self.lls.keys() <= {name}:
            return ()  # no other rendition (no ladder): asked at every blocking reload
        reports = []
        for info, ll in self.ll_variants():
            if info.name != name:
                report = ll.playlist.report(f"../{info.name}/ll.m3u8")
                if report is not None:
                    reports.append(report)
        return tuple(reports)

    # --- the worker --------------------------------------------------------------------

    async def run(self, subscriber: Subscriber, ladder: Transcoder | None = None) -> None:
        """Take media until the session ends; the caller finalises (shielded).

        Args:
            subscriber: The session's media.
            ladder: Transcodes the source into rungs; runs in this task's nursery.
        """
        await trio.to_thread.run_sync(
            lambda: self.source.directory.mkdir(parents=True, exist_ok=True),
            limiter=self.hub.limiter,
        )
        self._prepared = True
        if self._positions is not None:
            await self._positions.claim()
            await self.source.continue_session()
            if self.ll_continuity is not None:
                await self.ll_continuity.start()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._announce_master)
            if ladder is not None:
                self.ladder = ladder
                nursery.start_soon(ladder.run)
            nursery.start_soon(serve_tracks, self)  # a multitrack publisher's other tracks
            await self._consume(subscriber)
            nursery.cancel_scope.cancel()

    async def _consume(self, subscriber: Subscriber) -> None:
        registry = self.hub.registry
        while True:
            batch = await subscriber.next_batch_or_nudge()
            if batch is None:  # the publisher left: in the grace window, or gone for good
                if (
                    not self._paused
                    and registry is not None
                    and registry.get(self.channel) is not self.stream
                ):
                    await self._pause()
                continue
            if not batch:
                return
            for packet in batch:
                await self._on_packet(packet)

    async def _on_packet(self, packet: Packet) -> None:
        if packet.kind is Kind.SCRIPT:
            return
        if packet.generation != self._generation:
            if self._generation is not None and not self._paused:
                await self._cut()
            self._generation = packet.generation
            self.dates.anchor(packet.timestamp, time.time())
        if self._paused:
            self._paused = False
            for rendition in self._renditions():
                await rendition.resume()
            for low_latency in self.lls.values():
                low_latency.resume()
        ll = self.ll
        try:
            if packet.kind is Kind.VIDEO:
                tag = flv.parse_video_tag(packet.payload)
                events = self.segmenter.push_video(tag, packet.timestamp)
                if ll is not None:
                    segmenter = self.segmenter
                    video, audio = segmenter.video_config, segmenter.audio_config
                    ll.push_video(tag, packet.timestamp, video=video, audio=audio)
            else:
                audio_tag = flv.parse_audio_tag(packet.payload)
                events = self.segmenter.push_audio(audio_tag, packet.timestamp)
                if ll is not None:
                    ll.push_audio(audio_tag, packet.timestamp)
        except (flv.FLVError, hls.HLSError) as exc:
            logger.debug("%s: skipping a bad %s tag: %s", self.channel, packet.kind.name, exc)
            return
        cut = None
        for event in events:
            if isinstance(event, hls.SegmentFinished):
                await self._add_source(event)
            elif packet.kind is Kind.VIDEO:
                cut = event
        if packet.kind is Kind.VIDEO and not packet.config:
            self._frames_in_segment += 1
        self.source.newest_ms = packet.timestamp
        if self.ladder is not None:
            self.ladder.feed(packet, cut)
        await self._reserve_ll()

    async def _reserve_ll(self) -> None:
        """After the LL playlists changed: keep their numbers reserved (rule 8)."""
        if self.ll_continuity is not None:
            await self.ll_continuity.reserve()

    async def _add_source(self, segment: hls.SegmentFinished) -> None:
        source = self.source
        if source.codecs == () or source.resolution is None:
            source.codecs = self.segmenter.codecs
            stats = self.stream.stats
            if stats.width and stats.height:
                source.resolution = (stats.width, stats.height)
        frames = self._frames_in_segment
        self._frames_in_segment = 0
        if source.frame_rate is None and segment.duration_ms > 0 and frames > 1:
            declared = self.stream.stats.declared_fps
            measured = frames * 1000 / segment.duration_ms
            source.frame_rate = round(declared if declared else measured, 3)
        await source.add(segment, self.program_date_time(segment.start_ms))
        if self.ladder is not None:
            self.ladder.source_segment_added()
        await self._write_master()

    def _renditions(self) -> list[Rendition]:
        return [self.source, *self.rungs.values()]

    async def _cut(self) -> None:
        """A new publisher took over: close the open segments; the next are discontinuities."""
        for event in self.segmenter.finish():
            if isinstance(event, hls.SegmentFinished):
                await self._add_source(event)
        if self.ladder is not None:
            await self.ladder.cut()
        for ll in self.lls.values():
            ll.cut()
        await self._reserve_ll()

    async def _pause(self) -> None:
        """The publisher is gone (rule 5): finalise what we have, show ENDLIST."""
        self._paused = True
        if self.ladder is not None:
            with trio.move_on_after(LADDER_CATCH_UP_S):
                await self.ladder.catch_up()
        await self._cut()
        for rendition in self._renditions():
            await rendition.end(provisional=True)
        for ll in self.lls.values():
            ll.end()
        await self._reserve_ll()
        logger.info("%s: publisher gone; HLS playlists ended (provisionally)", self.channel)

    async def finish(self) -> None:
        """The session is over: flush, EXT-X-ENDLIST everywhere. Call shielded, bounded."""
        self.ended = True
        if not self._prepared:
            self.master_ready.set()
            return
        if not self._paused:
            await self._cut()
        if self.ladder is not None:
            await self.ladder.close()
        for rendition in self._renditions():
            await rendition.end()
        for ll in self.lls.values():
            ll.end()
        await self._write_master()
        self.master_ready.set()

    async def _announce_master(self) -> None:
        await self.source.first_segment.wait()
        with trio.move_on_after(RUNG_START_WAIT_S):
            for rung in list(self.rungs.values()):
                await rung.first_segment.wait()
        await self._write_master()
        self.master_ready.set()

    async def _write_master(self) -> None:
        if not self.source.segments_added:
            return
        async with self._master_lock:
            text = self.render_master()
            try:
                await trio.to_thread.run_sync(
                    write_atomic,
                    self.directory / "master.m3u8",
                    text.encode(),
                    limiter=self.hub.limiter,
                )
            except OSError as exc:
                # A full disk: this host renders the master for its viewers itself
                # (the file is for the other hosts); the next segment writes it again.
                logger.error("%s: master playlist not written: %s", self.stream.channel, exc)
