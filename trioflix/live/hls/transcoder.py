"""The live ABR ladder, server side: feeds the child process, segments what it returns.

Rules / theory of operation
---------------------------
1. One :class:`Ladder` per HLS session, planned from the source's first video
   sequence header: only rungs below the source height (:func:`plan_rungs`). The
   ladder knows its session only as a :class:`LadderHost`, which hands out each
   rung's rendition and hears when the master playlist changes; everything else
   comes in as arguments (the settings, the source rendition and stream statistics).
2. Decoding, scaling and encoding run in a child process
   (:mod:`trioflix.live.hls.ladder_process`), never on the Trio thread nor in the server
   process. Its input is an FLV stream of the source's video tags written to its
   stdin; each rung comes back as an FLV stream on a pipe of its own.
3. Keyframe alignment: before a video frame that opened a source segment, the
   ladder writes an ``onCut`` script tag; the child encodes that picture as an IDR
   and places no other keyframe. Rung segmenters cut at every keyframe, so every
   rendition's segments start at the same presentation timestamps. A source
   segment that began a discontinuity makes the rung segment starting there one too.
4. Audio is not transcoded: each rung carries the source's AAC, held in a per-rung
   queue and muxed in timestamp order behind the rung's video.
   Each rung's video is also published, as it comes from the child, on a child stream
   of the channel (``LiveStream.add_rendition``), for WebRTC viewers of that rung.
5. Never block the publisher, never buffer without bound: :meth:`Ladder.feed` is
   synchronous. Input waiting for the child is capped at :data:`FEED_MAX_BYTES`
   (past it, input is skipped to the next keyframe, and the rungs fall behind);
   a rung more than :data:`lag_limit_ms` behind the live edge, or silent
   :data:`FIRST_OUTPUT_TIMEOUT_S` after start, is dropped from the master playlist
   with a warning (its playlist ends; the highest lagging rung goes first, one per
   :data:`DROP_INTERVAL_S` so the others can catch up).
6. If the child crashes, every rung is dropped and the stream goes on with the
   passthrough source rendition; the server is unaffected.
7. With LL-HLS on, each rung's FLV tags, as they come back from the child, also go to
   the rung's :class:`~trioflix.live.hls.cmaf.CMAFRendition` (the host's
   :meth:`LadderHost.low_latency`), whose parts follow the source's: the child keeps
   every picture's presentation timestamp and places keyframes only where the source
   cut, so the rung's parts take the source's part numbers. A dropped rung's LL
   playlist is retired with it.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections import deque
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Final, Protocol

import trio

from protocols import amf, flv, hls
from trioflix.live.channel.packets import Kind
from trioflix.live.hls.ladder_spec import CUT_MARKER, plan_rungs

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from trioflix.live.channel.packets import Packet
    from trioflix.live.channel.stream import IngestStats, LiveStream
    from trioflix.live.hls.cmaf import CMAFRendition
    from trioflix.live.hls.ladder_spec import PlannedRung, RungSpec
    from trioflix.live.hls.rendition import Rendition

__all__ = ["Ladder", "LadderHost", "LadderSettings"]

logger = logging.getLogger(__name__)

# ~20 s of a 6 Mbit/s source waiting for the child: covers its start-up (imports,
# encoder set-up) with room to spare; past it the child is hopelessly behind.
FEED_MAX_BYTES: Final = 16 * 1024 * 1024
FIRST_OUTPUT_TIMEOUT_S: Final = 15.0  # start-up + the first cut; more means it is stuck
DROP_INTERVAL_S: Final = 4.0  # after a drop, the others get this long to catch up
WATCH_INTERVAL_S: Final = 0.5
MAX_AUDIO_QUEUE: Final = 4000  # AAC frames (~90 s at 44.1 kHz): a hard cap under the lag limit
READ_BYTES: Final = 256 * 1024
STDERR_LINE_BYTES: Final = 2000
KILL_WAIT_S: Final = 1.0
DEFAULT_FPS: Final = 30.0
CATCH_UP_SLACK_MS: Final = 100  # a B-frame source's last DTS runs ahead of the rungs' PTS
CHILD_MODULE: Final = "trioflix.live.hls.ladder_process"
NOMINAL_HEADROOM: Final = 1.1  # BANDWIDTH is a peak: the VBV cap lets bursts reach ~10 % over
AUDIO_BPS_ESTIMATE: Final = 160_000  # AAC stereo at the usual OBS setting, for BANDWIDTH
MIN_LAG_LIMIT_MS: Final = 6000  # however short the segments, an encoder's hiccup is no lag


@dataclass(frozen=True, slots=True, kw_only=True)
class LadderSettings:
    """The ladder as configured; the same for every session.

    Attributes:
        rungs: ``TRIOFLIX_HLS_LADDER``; a session transcodes those below its source's height.
        preset: The x264 preset.
        segment_ms: The source's target segment duration; a rung three of them behind
            the live edge (and at least :data:`MIN_LAG_LIMIT_MS`) is dropped.
        max_segment_ms: The longest segment the source cuts; the rungs cut no longer.
    """

    rungs: tuple[RungSpec, ...]
    preset: str
    segment_ms: int
    max_segment_ms: int


class LadderHost(Protocol):
    """The HLS session a ladder serves, as far as the ladder needs it.

    :class:`trioflix.live.hls.writer.HLSSession` is the one in use.
    """

    @property
    def paused(self) -> bool:
        """The publisher is away: the live edge stands still, so no rung lags."""

    def new_rung(self, name: str, *, nominal_bps: int, resolution: tuple[int, int]) -> Rendition:
        """The rendition a planned rung writes to; the host lists it."""

    def program_date_time(self, timestamp_ms: int) -> datetime | None:
        """The wall clock of a media timestamp, for EXT-X-PROGRAM-DATE-TIME."""

    def low_latency(self, name: str) -> CMAFRendition | None:
        """A rung's LL-HLS, made with its rendition (``None`` while LL-HLS is off)."""

    async def rung_changed(self) -> None:
        """A rung produced its first segment or was dropped."""


class _Rung:
    def __init__(
        self,
        plan: PlannedRung,
        rendition: Rendition,
        ll: CMAFRendition | None,
        max_duration_ms: int,
    ) -> None:
        self.plan = plan
        self.rendition = rendition
        self.ll = ll
        # Cut at every keyframe: the child places them only where the source cut (rule 3).
        self.segmenter = hls.Segmenter(target_duration_ms=1, max_duration_ms=max_duration_ms)
        self.unwrapper = hls.TimestampUnwrapper()
        self.audio: deque[tuple[flv.AudioTag, int]] = deque()
        self.read_fd: int | None = None
        self.stream: trio.lowlevel.FdStream | None = None
        self.discontinuity_at: dict[int, bool] = {}
        self.finished = False
        self.outlet: LiveStream | None = None  # the rung's video for other viewers

    @property
    def alive(self) -> bool:
        return not (self.rendition.dropped or self.finished)


class Ladder:
    """The transcoded renditions of one HLS session.

    Inputs are the source's packets (:meth:`feed`) and the facts passed in here;
    outputs are the rungs' segments, written to the renditions the host hands out,
    and :meth:`LadderHost.rung_changed` when the master playlist should change.

    Args:
        settings: The ladder as configured.
        host: The session the rungs belong to.
        channel: Names the stream in the log.
        source: The source rendition: its live edge (``newest_ms``) and frame rate,
            which the rungs share.
        stats: The publisher's stream: its size plans the rungs, its declared frame
            rate goes to the encoder.
        covered: The heights the publisher already sends as tracks of their own (a
            multitrack encoder): no rung is transcoded for them.
        outlet: The channel's stream, on which every rung's video is published as a
            rendition of its own (``None``: nowhere but HLS).

    Resource handling:
        :meth:`run` owns the child process and kills it when cancelled (shielded,
        bounded); :meth:`close` (called from the session's shielded finish) flushes
        and ends the rung playlists.
    """

    def __init__(
        self,
        settings: LadderSettings,
        host: LadderHost,
        *,
        channel: str,
        source: Rendition,
        stats: IngestStats,
        covered: Callable[[], set[int]] = set,
        outlet: LiveStream | None = None,
    ) -> None:
        self.settings = settings
        self._outlet = outlet
        self._covered = covered
        self.channel = channel
        self._host = host
        self._source = source
        self._stats = stats
        self.rungs: list[_Rung] = []
        self.lag_limit_ms = max(MIN_LAG_LIMIT_MS, 3 * settings.segment_ms)
        self._planned = trio.Event()
        self._feed: deque[bytes] = deque()
        self._feed_bytes = 0
        self._feed_ready = trio.Event()
        self._skipping = False
        self._closed = False
        self._started_at: float | None = None
        self._last_drop = -DROP_INTERVAL_S
        self._cut_pts: dict[int, bool] = {}  # source segment starts (pts) -> discontinuity
        self.skipped_frames = 0
        self._progress = trio.Event()  # set whenever a rung outputs a frame
        self.process: trio.Process | None = None

    # --- input (synchronous, from the session's packet loop) ---------------------------

    def feed(self, packet: Packet, cut: hls.SegmentEvent | None) -> None:
        """Take one source packet; ``cut`` is the source segment this video frame opened."""
        if self._closed:
            return
        if packet.kind is Kind.AUDIO:  # straight to every rung (rule 4)
            self._audio(packet)
            return
        if not self._planned.is_set():
            if not packet.config or not self._plan():
                return
        if not any(rung.alive for rung in self.rungs):
            # Nothing to transcode: the source is no taller than any rung (or the
            # encoder sends them all), or every rung was dropped and the child is gone.
            return
        if self._skipping:
            if not (packet.keyframe or packet.config):
                self.skipped_frames += 1
                return
            self._skipping = False
        if self._feed_bytes > FEED_MAX_BYTES and not packet.config:
            logger.warning(
                "%s: ladder input over %d bytes; skipping to the next keyframe",
                self.channel,
                FEED_MAX_BYTES,
            )
            self._feed.clear()
            self._feed_bytes = 0
            self._skipping = not packet.keyframe
            if self._skipping:
                self.skipped_frames += 1
                return
        data = packet.flv_tag
        if isinstance(cut, hls.SegmentStarted):
            marker = flv.FLVTag(
                tag_type=flv.TagType.SCRIPT_DATA,
                timestamp_ms=packet.timestamp & 0xFFFFFFFF,
                data=amf.encode_amf0(CUT_MARKER),
            )
            data = flv.encode_tag(marker) + data
            try:
                cts = flv.parse_video_tag(packet.payload).composition_time_ms
            except flv.FLVError:
                cts = 0
            self._cut_pts[packet.timestamp + cts] = cut.discontinuity
            if len(self._cut_pts) > 64:  # old entries the rungs never reached
                del self._cut_pts[next(iter(self._cut_pts))]
        self._feed.append(data)
        self._feed_bytes += len(data)
        self._feed_ready.set()

    def _audio(self, packet: Packet) -> None:
        try:
            tag = flv.parse_audio_tag(packet.payload)
        except flv.FLVError:
            return
        for rung in self.rungs:
            if not rung.alive:
                continue
            if tag.is_sequence_header:
                try:
                    rung.segmenter.push_audio(tag, packet.timestamp)
                except hls.HLSError:
                    pass
                continue
            rung.audio.append((tag, packet.timestamp))
            if len(rung.audio) > MAX_AUDIO_QUEUE:
                rung.audio.clear()
                self._drop_soon(rung, "its audio queue overflowed")

    def _plan(self) -> bool:
        stats = self._stats
        if not (stats.width and stats.height):
            return False
        covered = self._covered()
        planned = [
            plan
            for plan in plan_rungs(self.settings.rungs, stats.width, stats.height)
            if plan.height not in covered
        ]
        for plan in planned:
            rendition = self._host.new_rung(
                plan.name,
                nominal_bps=round(plan.video_kbps * 1000 * NOMINAL_HEADROOM) + AUDIO_BPS_ESTIMATE,
                resolution=(plan.width, plan.height),
            )
            ll = self._host.low_latency(plan.name)
            rung = _Rung(plan, rendition, ll, self.settings.max_segment_ms)
            if self._outlet is not None:
                rung.outlet = self._outlet.add_rendition(plan.name)
            self.rungs.append(rung)
        self._planned.set()
        if planned:
            logger.info(
                "%s: ladder %s below %dx%d",
                self.channel,
                ",".join(p.name for p in planned),
                stats.width,
                stats.height,
            )
            self._feed.append(flv.encode_header(has_audio=False, has_video=True))
        return True

    def source_segment_added(self) -> None:
        """The source got a segment: rungs take its frame rate (they do not convert it)."""
        for rung in self.rungs:
            rung.rendition.frame_rate = self._source.frame_rate

    # --- the child -----------------------------------------------------------------------

    async def run(self) -> None:
        """Once the rungs are planned, start the child and serve it until it exits.

        Resource handling:
            The child is killed when this is cancelled (shielded, bounded), and every
            pipe end is closed.
        """
        await self._planned.wait()
        if not self.rungs:
            return
        process = await self._spawn()
        self.process = process
        self._started_at = trio.current_time()
        try:
            await self._serve(process)
        finally:
            with trio.move_on_after(KILL_WAIT_S + 1, shield=True):
                if process.returncode is None:
                    process.kill()
                await process.wait()
                for pipe in (process.stdin, process.stderr):
                    if pipe is not None:
                        await pipe.aclose()
            self._close_read_fds()

    async def _spawn(self) -> trio.Process:
        """The child, with a pipe per rung: it holds the write ends, we the read ends."""
        for rung in self.rungs:
            directory = rung.rendition.directory
            await trio.to_thread.run_sync(partial(directory.mkdir, parents=True, exist_ok=True))
        write_fds: list[int] = []
        try:  # from the first pipe on: no descriptor outlives a failure or cancellation
            config = []
            for rung in self.rungs:
                rung.read_fd, write_fd = os.pipe()
                write_fds.append(write_fd)
                plan = rung.plan
                config.append(
                    {
                        "name": plan.name,
                        "width": plan.width,
                        "height": plan.height,
                        "kbps": plan.video_kbps,
                        "fd": write_fd,
                    }
                )
            fps = self._stats.declared_fps or DEFAULT_FPS
            argument = json.dumps({"rungs": config, "preset": self.settings.preset, "fps": fps})
            return await trio.lowlevel.open_process(
                # faulthandler: a crash in FFmpeg or x264 leaves its stack in our log.
                [sys.executable, "-X", "faulthandler", "-m", CHILD_MODULE, argument],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                pass_fds=write_fds,
                # Out of the server's process group: a terminal's Ctrl-C is for the
                # server to act on (it stops the child when the session ends), not a
                # crash of the child's own in the middle of the shutdown.
                start_new_session=True,
            )
        except BaseException:
            self._close_read_fds()
            raise
        finally:
            for fd in write_fds:
                os.close(fd)

    async def _serve(self, process: trio.Process) -> None:
        """Feed the child, read its rungs and its log, watch the lag, until it exits."""
        async with trio.open_nursery() as nursery:
            assert process.stdin is not None and process.stderr is not None
            nursery.start_soon(self._write_input, process.stdin)
            nursery.start_soon(self._log_stderr, process.stderr)
            for rung in self.rungs:
                assert rung.read_fd is not None
                rung.stream = trio.lowlevel.FdStream(rung.read_fd)
                nursery.start_soon(self._read_rung, rung, rung.stream)
            nursery.start_soon(self._watch)
            await process.wait()
            if process.returncode != 0 and not self._closed:
                logger.error(
                    "%s: the ladder process died (status %s); going on with the source only",
                    self.channel,
                    process.returncode,
                )
                for rung in self.rungs:
                    await self._drop(rung, "the ladder process died")
            # Its outputs are closed; the readers finish on EOF by themselves.

    def _close_read_fds(self) -> None:
        """Close the rungs' pipe ends, wrapped in a stream or not (no await: cannot fail
        half-way under cancellation)."""
        for rung in self.rungs:
            if rung.stream is not None:
                rung.stream.close()
            elif rung.read_fd is not None:
                os.close(rung.read_fd)
            rung.read_fd = None

    async def _write_input(self, stdin: trio.abc.SendStream) -> None:
        try:
            while True:
                await self._feed_ready.wait()
                self._feed_ready = trio.Event()
                while self._feed:
                    chunk = b"".join(self._feed)
                    self._feed.clear()
                    self._feed_bytes = 0
                    await stdin.send_all(chunk)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the child is gone: run() sees it exit

    async def _log_stderr(self, stderr: trio.abc.ReceiveStream) -> None:
        buffer = b""
        async for chunk in stderr:
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            buffer = buffer[-STDERR_LINE_BYTES:]
            for line in lines:
                text = line[:STDERR_LINE_BYTES].decode("utf-8", "replace").strip()
                if text:
                    logger.info("%s: ladder: %s", self.channel, text)

    async def _read_rung(self, rung: _Rung, stream: trio.lowlevel.FdStream) -> None:
        reader = flv.FLVReader()
        try:
            while True:
                data = await stream.receive_some(READ_BYTES)
                reader.receive_data(data)
                while (event := reader.next_event()) is not flv.NEED_DATA:
                    if isinstance(event, flv.FLVTag) and event.tag_type == flv.TagType.VIDEO:
                        await self._rung_video(rung, event)
                    elif isinstance(event, flv.FLVEnd):
                        break
                if not data:
                    break
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            pass  # dropped: the stream was closed under us
        except flv.FLVError as exc:
            logger.warning("%s: rung %s sent bad FLV: %s", self.channel, rung.plan.name, exc)

    async def _rung_video(self, rung: _Rung, event: flv.FLVTag) -> None:
        if not rung.alive:
            return
        tag = flv.parse_video_tag(event.data)
        ts = rung.unwrapper.unwrap(event.timestamp_ms)
        if rung.outlet is not None:
            rung.outlet.publish_video(ts, event.data)
        events: list[hls.SegmentEvent] = []
        segmenter = rung.segmenter
        if tag.is_coded_frame:
            while rung.audio and rung.audio[0][1] <= ts:
                audio, audio_ts = rung.audio.popleft()
                events += segmenter.push_audio(audio, audio_ts)
                if rung.ll is not None:
                    rung.ll.push_audio(audio, audio_ts)
        events += segmenter.push_video(tag, ts)
        if rung.ll is not None:
            video, audio_config = segmenter.video_config, segmenter.audio_config
            rung.ll.push_video(tag, ts, video=video, audio=audio_config)
        if tag.is_coded_frame:
            rung.rendition.newest_ms = ts
            self._progress.set()
            self._progress = trio.Event()
        await self._handle(rung, events)

    async def _handle(self, rung: _Rung, events: list[hls.SegmentEvent]) -> None:
        for event in events:
            if isinstance(event, hls.SegmentStarted):
                flagged = self._cut_pts.pop(event.start_ms, False)
                rung.discontinuity_at[event.start_ms] = event.discontinuity or flagged
                continue
            discontinuity = rung.discontinuity_at.pop(event.start_ms, event.discontinuity)
            first = not rung.rendition.segments_added
            rung.rendition.codecs = rung.segmenter.codecs
            rung.rendition.frame_rate = self._source.frame_rate
            await rung.rendition.add(
                event, self._host.program_date_time(event.start_ms), discontinuity=discontinuity
            )
            if first:
                await self._host.rung_changed()

    # --- supervision ---------------------------------------------------------------------

    async def _watch(self) -> None:
        while True:
            await trio.sleep(WATCH_INTERVAL_S)
            now = trio.current_time()
            source_ms = self._source.newest_ms
            if source_ms is None or self._host.paused or self._started_at is None:
                continue
            lagging = []
            for rung in self.rungs:
                if not rung.alive:
                    continue
                newest = rung.rendition.newest_ms
                if newest is None:
                    if now - self._started_at > FIRST_OUTPUT_TIMEOUT_S:
                        lagging.append(rung)
                elif source_ms - newest > self.lag_limit_ms:
                    lagging.append(rung)
            if lagging and now - self._last_drop >= DROP_INTERVAL_S:
                worst = max(lagging, key=lambda r: r.plan.height)
                self._last_drop = now
                await self._drop(
                    worst, f"it fell more than {self.lag_limit_ms} ms behind real time"
                )

    def _drop_soon(self, rung: _Rung, reason: str) -> None:
        rung.rendition.dropped = True
        if rung.ll is not None:
            rung.ll.retire(f"rung dropped: {reason}")
        logger.warning(
            "%s: dropping rung %s from the master playlist: %s",
            self.channel,
            rung.plan.name,
            reason,
        )

    async def _drop(self, rung: _Rung, reason: str) -> None:
        if rung.rendition.dropped:
            return
        self._drop_soon(rung, reason)
        if self._outlet is not None:
            self._outlet.end_rendition(rung.plan.name, f"the {rung.plan.name} rung stopped")
        rung.audio.clear()
        if rung.stream is not None:
            await rung.stream.aclose()  # the child's writes fail: that rung's thread stops
        await rung.rendition.end()
        await self._host.rung_changed()

    # --- lifecycle -----------------------------------------------------------------------

    async def catch_up(self) -> None:
        """Wait (the caller bounds it) until every rung has what the source has."""
        source_ms = self._source.newest_ms
        while source_ms is not None and any(
            rung.alive and (rung.rendition.newest_ms or -1) < source_ms - CATCH_UP_SLACK_MS
            for rung in self.rungs
        ):
            await self._progress.wait()

    async def cut(self) -> None:
        """The source cut for a new publisher or its absence: close the open rung segments.

        Frames still in the child belong to the old segment; they arrive before the
        next keyframe and are dropped by the rung segmenter, which waits for one.
        """
        for rung in self.rungs:
            if not rung.alive:
                continue
            while rung.audio:
                audio, audio_ts = rung.audio.popleft()
                await self._handle(rung, rung.segmenter.push_audio(audio, audio_ts))
                if rung.ll is not None:
                    rung.ll.push_audio(audio, audio_ts)
            await self._handle(rung, rung.segmenter.finish())

    async def close(self) -> None:
        """The session is over: flush every rung and end its playlist."""
        self._closed = True
        self._feed.clear()
        for rung in self.rungs:
            if rung.alive:
                await self._handle(rung, rung.segmenter.finish())
                rung.finished = True
            await rung.rendition.end()
