"""Low-Latency HLS of one rendition: CMAF parts in memory, playlists, blocking delivery.

Rules / theory of operation
---------------------------
1. A :class:`CMAFRendition` takes the same FLV tags as the MPEG-TS segmenter of its
   session (after it, so the codec records it parsed are reused) and cuts them into
   fMP4 parts (:class:`protocols.fmp4.Fragmenter`) where :class:`protocols.hls.PartCutter`
   says; :class:`protocols.hls.LLPlaylist` lists them. Every byte and playlist line
   comes from :mod:`protocols`.
2. Parts and segments live in memory only, and only while players can still ask for
   them: the segments of the playlist window and :data:`KEEP_BEHIND_SEGMENTS` more, the
   parts of those whose parts the playlist lists (the last three target durations,
   RFC 8216bis 6.2.2) and :data:`KEEP_BEHIND_SEGMENTS` more. A part of the open segment
   is kept as its fragment's chunks (boxes and samples, as muxed) and joined into one
   buffer only when first asked for, then shared: a part of a 6 Mbit/s stream is
   hundreds of kilobytes, a fresh memory mapping each, and most parts of a channel
   nobody watches at low latency are never asked for. When its segment is complete,
   the segment is copied into one buffer (:mod:`trioflix.live.hls.segment_buffers`),
   reused by a later segment once this one is dropped, and the segment and its parts
   are read-only views of it: the window is held as a dozen buffers that stay, not as
   thousands of frames coming and going in the heap. Nothing is written to disk: a
   part is read by players within seconds, and the MPEG-TS output stays the one on
   disk.
3. A new codec record (or a first audio record after video started) starts a new
   fragmenter, hence a new initialization segment (a new EXT-X-MAP URI), at the next
   keyframe, after a discontinuity. So do a timestamp jump and a new publisher.
4. Each change of the playlist makes a new *version*: one ``trio.Event`` per version,
   set when the next one exists, is what every blocked request waits on (one wake-up
   per version, however many requests wait), and each version's text is rendered
   once per form (full, delta) and the bytes shared by every request that gets it.
5. Blocked requests are bounded per channel (:class:`Waiters`); beyond the bound a
   request is refused at once rather than queued. The timeout of a blocked request is
   the caller's, on Trio's clock.
6. Parts are aligned across renditions: the source's rendition *leads* (its
   :class:`protocols.hls.PartCutter` decides), and announces every part it opens to the
   others (ladder rungs, multitrack tracks), whose :class:`protocols.hls.PartFollower`
   cuts there, so a part number is the same media time in every rendition. A follower
   joins at a segment start with that segment's number. A follower's tags are held
   until the leader has taken tags as late (:attr:`CMAFRendition.progress_ms`), so
   every start they reach has been announced: a multitrack track's tags come from a
   task of their own and may run ahead of the source's (at most
   :data:`MAX_HELD_TAGS`, past which the oldest go on regardless).
7. A follower that has no media for some of its leader's parts (a rung's encoder late,
   a frame dropped) lists them as GAP parts (:attr:`protocols.hls.PartFollower.gaps`)
   and goes on at the next part it has media for: its numbers and durations stay the
   leader's, it stays in the master playlist, and players skip the gaps. A break in a
   follower's own frames (a stall past :data:`MAX_GAP_MS`) or a cut (a new publisher;
   the leader is cut first) closes its part but not its segment: the leader's parts
   are filled in as gaps (:meth:`protocols.hls.LLPlaylist.fill_gaps`), on a cut at once
   up to the leader's newest, and up to the segment start where the follower's frames
   resume; that segment follows EXT-X-DISCONTINUITY (a new fragmenter). Only a
   follower whose next part its leader no longer lists (one far behind) is *retired*:
   its playlist ends and is offered no more.
8. Names never repeat with other bytes, on any host: parts and segments are named by
   session and numbers, which go on across hosts
   (:mod:`trioflix.live.hls.ll_continuity`), and an initialization segment by the
   segment it starts at and this host's count of them.
"""

from __future__ import annotations

import logging
from collections import OrderedDict, deque
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Final

import trio

from protocols import fmp4, hls
from trioflix.live.hls.segment_buffers import SegmentBuffers

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from datetime import datetime

    from protocols import flv
    from trioflix.cluster.hls_state import Position

__all__ = [
    "KEEP_BEHIND_SEGMENTS",
    "LL_WINDOW_SEGMENTS",
    "MAX_HELD_TAGS",
    "MAX_WAITERS",
    "CMAFRendition",
    "Waiters",
    "WaitersExhausted",
]

logger = logging.getLogger(__name__)

# Twelve segments: with CAN-SKIP-UNTIL at six target durations a delta update leaves out
# what is older than that, and 24 s of 2 s segments give it something to leave out.
LL_WINDOW_SEGMENTS: Final = 12
# Players that loaded a playlist just before a segment (or its parts) left it still fetch
# them: so many segments more are kept, and so many more segments' parts.
KEEP_BEHIND_SEGMENTS: Final = 2
# Initialization segments kept: the current one and those of segments still listed (a
# new map comes only with a new publisher or new codec records).
MAX_INIT_SEGMENTS: Final = 4
# Blocked playlist and part requests per channel: each holds a task and a socket; a
# thousand is far more players than one host serves at LL-HLS rates, yet a bound.
MAX_WAITERS: Final = 1000
# A timestamp step larger than this is a break (as protocols.hls.Segmenter's default).
MAX_GAP_MS: Final = 500
# A segment's parts and more (10 s of 300 ms parts): a follower made that much later
# than its leader's last segment start can still join at it.
RECENT_STARTS: Final = 32
# A follower's tags waiting for its leader (rule 6): ~10 s of 30 fps video and 48 kHz AAC;
# a leader that far behind has stopped, and its followers go on without it.
MAX_HELD_TAGS: Final = 800


@dataclass(frozen=True, slots=True)
class _HeldVideo:
    tag: flv.VideoTag | flv.ExVideoTag
    timestamp_ms: int
    video: fmp4.VideoConfig
    audio: flv.AudioSpecificConfig | None


@dataclass(frozen=True, slots=True)
class _HeldAudio:
    tag: flv.AudioTag
    timestamp_ms: int


def _same(ours: object, theirs: object) -> bool:
    """The codec records in force are the fragmenter's: the segmenter hands the same
    objects on frame after frame, so identity settles it without comparing the records'
    fields (a few microseconds per frame)."""
    return ours is theirs or ours == theirs


class WaitersExhausted(Exception):
    """The channel has :data:`MAX_WAITERS` blocked requests already."""


class Waiters:
    """The blocked requests of one channel, bounded."""

    def __init__(self, limit: int = MAX_WAITERS) -> None:
        self.limit = limit
        self.count = 0

    @contextmanager
    def admit(self) -> Iterator[None]:
        """Count a blocked request for as long as the block runs.

        Raises:
            WaitersExhausted: The bound is reached.
        """
        if self.count >= self.limit:
            raise WaitersExhausted
        self.count += 1
        try:
            yield
        finally:
            self.count -= 1


class CMAFRendition:
    """One rendition's LL-HLS: its parts, its playlist and the requests waiting on them.

    Args:
        name: The rendition (``"source"``).
        session_id: The live session; in every URI, as the TS segments' names have it.
        part_target_ms: PART-TARGET.
        segment_target_ms: Segments are cut at the first keyframe this far in.
        max_segment_ms: ... or at any frame this far in.
        target_duration_s: EXT-X-TARGETDURATION, as the TS playlist's.
        dates: Media timestamp to wall clock, for EXT-X-PROGRAM-DATE-TIME.
        leader: The rendition whose parts this one's are aligned with (rule 6); ``None``
            for the one that leads.
    """

    def __init__(
        self,
        name: str,
        *,
        session_id: int,
        part_target_ms: int,
        segment_target_ms: int,
        max_segment_ms: int,
        target_duration_s: int,
        dates: Callable[[int], datetime | None],
        leader: CMAFRendition | None = None,
    ) -> None:
        self.name = name
        self.session_id = session_id
        self._part_target_ms = part_target_ms
        self._segment_target_ms = segment_target_ms
        self._max_segment_ms = max_segment_ms
        self._dates = dates
        self.playlist = hls.LLPlaylist(
            prefix=f"ll-{session_id}-",
            target_duration_s=target_duration_s,
            part_target_ms=part_target_ms,
            window_size=LL_WINDOW_SEGMENTS,
        )
        self.meter = hls.BitrateMeter()
        self.codecs: tuple[str, ...] = ()
        self._followers: list[CMAFRendition] = []
        self._follower: hls.PartFollower | None = None
        # A leader's newest starts, for a follower that comes later (a multitrack track
        # appears after the source's first part).
        self._recent_starts: deque[hls.PartStart] = deque(maxlen=RECENT_STARTS)
        if leader is not None:
            self._follower = hls.PartFollower()
            for start in leader._recent_starts:
                self._follower.lead(start)
            leader._followers.append(self)
        self._leader = leader
        #: Out of step with its leader for good (rule 7): ended, not offered.
        self.retired = False
        self._cutter: hls.PartCutter | hls.PartFollower = self._new_cutter()
        self._key_cts = 0  # the newest keyframe's composition offset (aligned times)
        #: The aligned time of the newest video frame taken (a leader's, rule 6).
        self.progress_ms: int | None = None
        # A follower's tags not taken yet, with their aligned times (rule 6).
        self._held: deque[tuple[int, _HeldVideo | _HeldAudio]] = deque()
        self._held_key_cts = 0
        self._fragmenter: fmp4.Fragmenter | None = None
        self._maps = 0
        self._next_sequence = 1  # mfhd sequence numbers run on across fragmenters
        self._map_uri = ""
        self._inits: OrderedDict[str, bytes] = OrderedDict()
        # A part: its fragment's chunks until someone asks for it, then its bytes, and a
        # view of its segment's buffer once the segment is complete (rule 2).
        self._parts: dict[tuple[int, int], bytes | tuple[bytes, ...] | memoryview] = {}
        # Complete segments: the buffer (reused once the segment is dropped) and its view.
        self._segments: dict[int, tuple[bytearray, memoryview]] = {}
        self._buffers = SegmentBuffers()
        self._unsealed: deque[int] = deque()  # segments whose parts are chunks, in order
        self._part_start_ms = 0
        self._segment_bytes = 0  # of the open segment, for the master playlist's BANDWIDTH
        self._segment_ms = 0
        self._last_ms: int | None = None
        self._broken = False  # a follower's next segment follows a break (rule 7)
        self._changed = trio.Event()
        self._rendered: dict[bool, tuple[int, tuple[hls.RenditionReport, ...], bytes]] = {}

    def _new_cutter(self) -> hls.PartCutter | hls.PartFollower:
        if self._follower is not None:
            return self._follower
        return hls.PartCutter(
            part_target_ms=self._part_target_ms,
            segment_target_ms=self._segment_target_ms,
            max_segment_ms=self._max_segment_ms,
        )

    # --- media in (rule 1) ------------------------------------------------------------

    def push_video(
        self,
        tag: flv.VideoTag | flv.ExVideoTag,
        timestamp_ms: int,
        *,
        video: fmp4.VideoConfig | None,
        audio: flv.AudioSpecificConfig | None,
    ) -> None:
        """Take one video tag, given the codec records in force (the TS segmenter's)."""
        if not tag.is_coded_frame or video is None or self.retired:
            return
        if self._leader is not None:
            if tag.is_keyframe:
                self._held_key_cts = tag.composition_time_ms
            held = _HeldVideo(tag, timestamp_ms, video, audio)
            self._hold(timestamp_ms + self._held_key_cts, held)
            return
        self._push_video(tag, timestamp_ms, video=video, audio=audio)
        if self._followers:
            for follower in list(self._followers):  # one may retire meanwhile
                follower._release(self.progress_ms)

    def _hold(self, aligned_ms: int, item: _HeldVideo | _HeldAudio) -> None:
        self._held.append((aligned_ms, item))
        if len(self._held) > MAX_HELD_TAGS:
            self._take(self._held.popleft()[1])
        assert self._leader is not None
        progress_ms = self._leader.progress_ms
        if progress_ms is not None:  # the leader has no frame yet: everything waits
            self._release(progress_ms)

    def _release(self, progress_ms: int | None) -> None:
        """Take the held tags the leader has gone past (``None``: all of them)."""
        held = self._held
        while held and (progress_ms is None or held[0][0] <= progress_ms):
            self._take(held.popleft()[1])

    def _take(self, item: _HeldVideo | _HeldAudio) -> None:
        if isinstance(item, _HeldVideo):
            self._push_video(item.tag, item.timestamp_ms, video=item.video, audio=item.audio)
        else:
            self._push_audio(item.tag, item.timestamp_ms)

    def _push_video(
        self,
        tag: flv.VideoTag | flv.ExVideoTag,
        timestamp_ms: int,
        *,
        video: fmp4.VideoConfig,
        audio: flv.AudioSpecificConfig | None,
    ) -> None:
        keyframe = tag.is_keyframe
        fragmenter = self._fragmenter
        stale = fragmenter is None or not (
            _same(fragmenter.video_config, video) and _same(fragmenter.audio_config, audio)
        )
        last = self._last_ms
        jump = last is not None and not last <= timestamp_ms <= last + MAX_GAP_MS
        if self._cutter.is_open and (stale or jump):
            self._cut()  # rule 3: a new map, or the break, after a discontinuity
        if keyframe:
            self._key_cts = tag.composition_time_ms
        aligned_ms = timestamp_ms + self._key_cts  # rule 6, protocols.hls.PartStart
        self.progress_ms = aligned_ms
        if not self._cutter.is_open:
            if keyframe:
                self._open(tag, timestamp_ms, aligned_ms, video, audio, stale=stale)
            return
        fragmenter = self._fragmenter
        assert fragmenter is not None  # a part is open only with one
        if not self._add_video(fragmenter, tag, timestamp_ms):
            return
        if self._follower is not None:
            ended = self._follower.push(aligned_ms, start_point=keyframe)
        else:
            ended = self._cutter.push(timestamp_ms, start_point=keyframe)
        self._last_ms = timestamp_ms
        if ended is not None:
            self._add_part(fragmenter.cut(), ended)
            if self._follower is not None:
                self._add_gaps(self._part_start_ms + ended.duration_ms, self._follower.gaps)
            self._part_start_ms = timestamp_ms
            self._opened(aligned_ms)

    def _open(
        self,
        tag: flv.VideoTag | flv.ExVideoTag,
        timestamp_ms: int,
        aligned_ms: int,
        video: fmp4.VideoConfig,
        audio: flv.AudioSpecificConfig | None,
        *,
        stale: bool,
    ) -> None:
        """A keyframe while nothing is open: open the first part, if the cutter agrees."""
        cutter = self._cutter
        if self._follower is not None:
            self._follower.push(aligned_ms, start_point=True)
            position = self._follower.position
            if position is None:
                return  # not at a segment start of the leader
            if self.playlist.last_part is None and position[0] > self.playlist.next_part[0]:
                self.playlist.start_at(position[0])  # joining late: the leader's numbers
            if position < self.playlist.next_part:
                self._follower.finish()  # frames from before a cut: wait for the next start
                return
            self._fill_gaps(position)  # rule 7: what it missed since a break
            if self._broken:
                self._broken = False
                self.playlist.end_segment(discontinuity=True)
        else:
            cutter.push(timestamp_ms, start_point=True)
        if stale:
            self._new_map(video, audio)
        fragmenter = self._fragmenter
        if fragmenter is None or not self._add_video(fragmenter, tag, timestamp_ms):
            cutter.finish()  # codecs fMP4 cannot carry (logged when the map was refused)
            return
        self._last_ms = self._part_start_ms = timestamp_ms
        self._opened(aligned_ms)

    def _add_video(
        self, fragmenter: fmp4.Fragmenter, tag: flv.VideoTag | flv.ExVideoTag, timestamp_ms: int
    ) -> bool:
        try:
            fragmenter.add_video(
                tag.data,
                dts_ms=timestamp_ms,
                cts_ms=tag.composition_time_ms,
                keyframe=tag.is_keyframe,
            )
        except fmp4.FMP4Error as exc:
            logger.debug("%s: a video frame fMP4 cannot take: %s", self.name, exc)
            return False
        return True

    def _add_gaps(self, start_ms: int, gaps: tuple[hls.GapPart, ...]) -> None:
        """List a follower's missed parts as GAP parts (rule 7); the first starts at
        ``start_ms`` (media time, for a segment's EXT-X-PROGRAM-DATE-TIME)."""
        for gap in gaps:
            duration = min(gap.duration_ms, self._part_target_ms)  # as _add_part's
            try:
                self.playlist.add_part(
                    duration,
                    independent=False,
                    map_uri=self._map_uri,
                    program_date_time=self._dates(start_ms),
                    gap=True,
                )
            except hls.HLSError as exc:
                logger.warning("%s: gap part dropped: %s", self.name, exc)
                return  # the numbers are off now: _opened retires this rendition
            start_ms += gap.duration_ms
            if gap.ends_segment:
                self._end_segment()
        if gaps:
            self._changed_now()

    def _fill_gaps(self, until: tuple[int, int]) -> None:
        """A follower lists its leader's parts up to ``until`` as GAP parts (rule 7)."""
        assert self._leader is not None
        if self.playlist.last_part is None or self.playlist.ended:
            return  # nothing listed yet: it joins at its leader's number instead
        try:
            filled = self.playlist.fill_gaps(self._leader.playlist, until, map_uri=self._map_uri)
        except hls.HLSError as exc:
            logger.warning("%s: gap parts dropped: %s", self.name, exc)
            return
        if filled:
            self._prune(self.playlist.media_sequence)
            self._changed_now()

    def _opened(self, aligned_ms: int) -> None:
        """A part opened: the followers hear of it; a follower checks its number."""
        msn, part = self.playlist.next_part
        if self._follower is not None:
            if self._follower.position != (msn, part):
                self.retire(f"part {self._follower.position} where {msn}.{part} was next")
            return
        start = hls.PartStart(msn=msn, part=part, at_ms=aligned_ms)
        self._recent_starts.append(start)
        for follower in list(self._followers):
            follower.lead(start)

    def lead(self, start: hls.PartStart) -> None:
        """The leader opened a part (rule 6)."""
        if self._follower is not None and not self.retired:
            self._follower.lead(start)

    def retire(self, why: str) -> None:
        """Out of step with the leader for good (rule 7): end the playlist, offer it no more."""
        if self.retired:
            return
        logger.warning("%s: LL-HLS playlist ended: %s", self.name, why)
        self.retired = True
        self._held.clear()
        self.end()
        if self._leader is not None and self in self._leader._followers:
            self._leader._followers.remove(self)

    def push_audio(self, tag: flv.AudioTag, timestamp_ms: int) -> None:
        """Take one audio tag: it joins the open part (audio never cuts)."""
        if self._leader is not None:
            self._hold(timestamp_ms, _HeldAudio(tag, timestamp_ms))
        else:
            self._push_audio(tag, timestamp_ms)

    def _push_audio(self, tag: flv.AudioTag, timestamp_ms: int) -> None:
        fragmenter = self._fragmenter
        if not (tag.is_aac_frame and self._cutter.is_open and fragmenter is not None):
            return
        if fragmenter.audio_config is None:
            return
        try:
            fragmenter.add_audio(tag.data, dts_ms=timestamp_ms)
        except fmp4.FMP4Error as exc:
            logger.debug("%s: an audio frame fMP4 cannot take: %s", self.name, exc)

    def cut(self) -> None:
        """Close the open part and segment; the next starts at a keyframe, after
        EXT-X-DISCONTINUITY (a new publisher, a timestamp jump, new codec records)."""
        self._release(None)  # a follower's held tags belong before the cut
        self._cut(catch_up=True)

    def _cut(self, *, catch_up: bool = False) -> None:
        """Close the open part; ``catch_up``: the leader was cut at the same point (it
        is cut first), so a follower fills in the leader's parts it has not had."""
        position = self.playlist.next_part
        ended = self._cutter.finish()
        if ended is not None and self._leader is not None:
            # Rule 7: the leader's segment goes on; a part the leader has ended (a cut
            # while this rendition lags) lasts as long as the leader's, truncated.
            leader_ms = self._leader.playlist.part_duration(*position) if catch_up else None
            duration = ended.duration_ms if leader_ms is None else leader_ms
            ended = replace(ended, ends_segment=False, duration_ms=duration)
        fragmenter = self._fragmenter
        if ended is not None and fragmenter is not None:
            self._add_part(fragmenter.flush(), ended)
        if fragmenter is not None:
            # Decode times may start over after the break: a fragmenter of its own.
            self._next_sequence = fragmenter.sequence
            self._fragmenter = None
        self._last_ms = None
        if self._leader is not None:
            # Rule 7: the segment stays open, filled in with gaps as far as the leader
            # went (a cut), or up to where this rendition's frames resume (a stall).
            if catch_up:
                self._fill_gaps(self._leader.playlist.next_part)
            self._broken = self.playlist.last_part is not None
        elif (first := self.playlist.end_segment(discontinuity=True)) is not None:
            self._prune(first)
            self._changed_now()

    def end(self) -> None:
        """EXT-X-ENDLIST: the publisher is gone (:meth:`resume` withdraws it)."""
        self.cut()
        if not self.playlist.ended:
            self.playlist.end()
            self._changed_now()

    def continue_at(self, at: Position) -> None:
        """Go on from where another host left this rendition's LL playlist (rule 8):
        before anything is listed here."""
        self.playlist.continue_at(at.media_sequence, at.discontinuity_sequence)
        logger.info(
            "%s of session %d: LL-HLS continues at media sequence %d",
            self.name,
            self.session_id,
            at.media_sequence,
        )

    def resume(self) -> None:
        """The publisher is back: no EXT-X-ENDLIST; the next segment is a discontinuity."""
        if self.playlist.ended and not self.retired:
            self.playlist.resume()
            self._changed_now()

    def _new_map(self, video: fmp4.VideoConfig, audio: flv.AudioSpecificConfig | None) -> None:
        try:
            fragmenter = fmp4.Fragmenter(video=video, audio=audio, sequence=self._next_sequence)
        except fmp4.FMP4Error as exc:
            logger.warning(
                "%s: no fMP4 initialization segment for these codecs: %s", self.name, exc
            )
            self._fragmenter = None
            return
        self._fragmenter = fragmenter
        # The segment's number makes the name one no other host of the site used for
        # this session (rule 8); the count, one this host did not use at that number.
        msn = self.playlist.next_part[0]
        self._map_uri = f"init-{self.session_id}-{msn}-{self._maps}.mp4"
        self._maps += 1
        self._inits[self._map_uri] = fragmenter.init_segment
        while len(self._inits) > MAX_INIT_SEGMENTS:
            self._inits.popitem(last=False)
        self.codecs = fragmenter.codecs

    def _add_part(self, fragment: fmp4.Fragment | None, ended: hls.PartEnded) -> None:
        if fragment is None:
            return
        # A frame later than every recent one can stretch a part past the target by
        # that lateness; it is listed at the target (players take a few ms either way).
        duration = min(ended.duration_ms, self._part_target_ms)
        try:
            at = self.playlist.add_part(
                duration,
                independent=ended.independent,
                map_uri=self._map_uri,
                program_date_time=self._dates(self._part_start_ms),
            )
        except hls.HLSError as exc:
            logger.warning("%s: part dropped: %s", self.name, exc)
            return
        self._parts[at] = fragment.chunks
        if not self._unsealed or self._unsealed[-1] != at[0]:
            self._unsealed.append(at[0])
        self._segment_bytes += fragment.size
        self._segment_ms += duration
        if ended.ends_segment:
            self._end_segment()
        self._changed_now()

    def _end_segment(self) -> None:
        if self._segment_ms:  # a segment of gaps only has no bitrate
            self.meter.add(self._segment_bytes, self._segment_ms)
        self._segment_bytes = self._segment_ms = 0
        first = self.playlist.end_segment()
        if first is not None:
            self._prune(first)

    def _prune(self, first: int) -> None:
        """Forget the segments and parts players are done with (rule 2): ``first`` is the
        first segment listed."""
        parts_from = self.playlist.parts_listed_from - KEEP_BEHIND_SEGMENTS
        for key in [k for k in self._parts if k[0] < parts_from]:
            del self._parts[key]
        for msn in [m for m in self._segments if m < first - KEEP_BEHIND_SEGMENTS]:
            buffer = self._segments.pop(msn)[0]  # its view dropped: none of ours is left
            self._buffers.give_back(buffer)

    def _seal(self) -> None:
        """Copy each complete segment still held as chunks into one buffer; it and its
        parts become views of it (rule 2)."""
        unsealed = self._unsealed
        while unsealed and unsealed[0] < self.playlist.next_part[0]:
            msn = unsealed.popleft()
            keys = [key for key in self._parts if key[0] == msn]  # in order; no gaps
            if not keys:
                continue  # pruned before it was complete (a cut far behind)
            chunks: list[bytes | memoryview] = []
            for key in keys:
                data = self._parts[key]
                chunks.extend(data if isinstance(data, tuple) else (data,))
            buffer, view = self._buffers.fill(chunks)
            self._segments[msn] = buffer, view
            at = 0
            for key in keys:
                data = self._parts[key]
                size = sum(map(len, data)) if isinstance(data, tuple) else len(data)
                self._parts[key] = view[at : at + size]
                at += size

    def _changed_now(self) -> None:
        # Rule 4: wake every request blocked on the previous version, once.
        self._seal()
        self._changed.set()
        self._changed = trio.Event()

    # --- for HTTP ---------------------------------------------------------------------

    def render(self, *, skip: bool = False, reports: tuple[hls.RenditionReport, ...] = ()) -> bytes:
        """The playlist's bytes, rendered once per version, form and rendition reports
        (rule 4).

        Args:
            skip: A delta update.
            reports: EXT-X-RENDITION-REPORT of the other renditions.
        """
        version = self.playlist.version
        cached = self._rendered.get(skip)
        if cached is not None and cached[:2] == (version, reports):
            return cached[2]
        text = self.playlist.render(skip=skip, reports=reports).encode()
        self._rendered[skip] = (version, reports, text)
        return text

    async def wait_playlist(self, request: hls.ReloadRequest) -> hls.Reload:
        """Block until the playlist has what ``request`` asks for (or has ended).

        Returns:
            :attr:`~protocols.hls.Reload.READY`, or ``TOO_FAR`` at once for a request
            no wait can satisfy (400).
        """
        while (decision := self.playlist.reload(request)) is hls.Reload.WAIT:
            await self._changed.wait()
        return decision

    async def wait_part(self, msn: int, part: int) -> bytes | memoryview | None:
        """A part's bytes; a part not made yet (the preload hint's) is waited for.

        Returns:
            ``None`` when it is gone, will never exist (its segment ended before it,
            the stream ended), or is further ahead than a request may wait for.
        """
        request = hls.ReloadRequest(msn=msn, part=part)
        while True:
            if (msn, part) in self._parts:
                return self._joined((msn, part))
            if self.playlist.has(msn, part) or self.playlist.ended:
                return None
            if self.playlist.reload(request) is hls.Reload.TOO_FAR:
                return None
            await self._changed.wait()

    def segment(self, msn: int) -> memoryview | None:
        """A complete segment: its parts' bytes, but the gaps', in one buffer (``None``
        if gone, still open or all gaps)."""
        self._seal()
        held = self._segments.get(msn)
        return None if held is None else held[1]

    def _joined(self, key: tuple[int, int]) -> bytes | memoryview:
        """A part's bytes, joined on the first request for them (rule 2)."""
        data = self._parts[key]
        if isinstance(data, tuple):
            data = self._parts[key] = b"".join(data)
        return data

    def init_segment(self, uri: str) -> bytes | None:
        """An initialization segment by its EXT-X-MAP URI."""
        return self._inits.get(uri)
