"""Cutting a live FLV/RTMP media stream into MPEG-TS segments.

Rules / theory of operation
---------------------------
* The segmenter is either WAITING (no open segment) or has one OPEN segment, whose bytes it
  accumulates; it never holds more than that one segment.
* A *start point* is a video keyframe (or, with ``video=False``, any AAC frame) whose codec
  record is known. WAITING drops every frame until a start point opens a segment, so each
  stream's first segment, and the first after a discontinuity, starts with a keyframe.
* An OPEN segment is cut before a frame F, which then opens the next segment, when:

  1. F is a start point and ``F.ts - start >= target - 5 %`` (the slack absorbs keyframes
     that millisecond rounding puts a hair early), or a codec record changed since the
     segment opened (the next segment is then marked as a discontinuity);
  2. ``F.ts - start >= max_duration_ms`` or the segment holds ``max_segment_bytes``: a
     forced cut on any frame, the next segment is not independent (starts mid-GOP);
  3. F's timestamp jumps: forwards by more than ``max_gap_ms`` past the newest timestamp,
     or backwards by more than ``max_gap_ms`` behind the last one of its own kind. The
     segment is closed and the segmenter goes WAITING for the next start point; that next
     segment is marked as a discontinuity.

* A segment's duration is the next segment's start minus its own start; for a segment
  closed by (3) or :meth:`Segmenter.finish`, its newest timestamp minus its start plus one
  frame interval (at most ``max_gap_ms``). Hence every duration is below ``max_duration_ms
  + max_gap_ms``, and :attr:`Segmenter.target_duration_s` is an EXT-X-TARGETDURATION that
  no rounded EXTINF of this segmenter can exceed.
* Sequence headers update the codec records; frames for which no record is known, of
  codecs MPEG-TS cannot carry here (AV1, VP9, non-AAC audio), and video frames after a
  new video record but before the next keyframe are dropped and counted in
  :attr:`Segmenter.dropped_tags`.
* Every segment starts with PAT and PMT; continuity counters run on across segments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Literal

from protocols.flv import (
    AudioSpecificConfig,
    AudioTag,
    AVCDecoderConfig,
    ExVideoTag,
    FLVError,
    HEVCDecoderConfig,
    VideoTag,
    parse_audio_specific_config,
    parse_avc_config,
    parse_hevc_config,
)

from ._errors import HLSError
from ._ts import DEFAULT_TIMESTAMP_OFFSET_MS, TSMuxer

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "DEFAULT_MAX_EXTRA_MS",
    "DEFAULT_MAX_GAP_MS",
    "DEFAULT_MAX_SEGMENT_BYTES",
    "DEFAULT_TARGET_DURATION_MS",
    "SegmentEvent",
    "SegmentFinished",
    "SegmentStarted",
    "Segmenter",
]

DEFAULT_TARGET_DURATION_MS: Final = 2000  # short segments keep live latency near 3 x 2 s
# A segment is cut at the next keyframe after the target; without one, this much later
# anyway, so an encoder with a long keyframe interval still yields bounded segments.
# With DEFAULT_MAX_GAP_MS it is the 500 ms that EXTINF rounding (RFC 8216 4.3.3.1)
# allows past a whole-second target: 2 s segments keep EXT-X-TARGETDURATION 2, which
# players multiply by three for their distance from the live edge (3 would cost 3 s).
DEFAULT_MAX_EXTRA_MS: Final = 250
# Timestamp steps larger than this are discontinuities (publisher stall, encoder reset);
# any stream with audio, or video at 4 frames/s or more, steps less. It also bounds
# how far a segment can overshoot its cut (see DEFAULT_MAX_EXTRA_MS).
DEFAULT_MAX_GAP_MS: Final = 250
# ~3 s at 170 Mbit/s: far above any sane ingest, yet a bound on what one segment buffers.
DEFAULT_MAX_SEGMENT_BYTES: Final = 64 * 1024 * 1024

_Kind = Literal["video", "audio"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SegmentStarted:
    """A segment was opened with the frame just pushed.

    Attributes:
        sequence: Segment number, counting from 0 for this segmenter.
        start_ms: Timestamp of its first frame.
        discontinuity: Comes after a timestamp jump or codec change: EXT-X-DISCONTINUITY.
        independent: Starts with a keyframe (or is audio-only).
    """

    sequence: int
    start_ms: int
    discontinuity: bool
    independent: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class SegmentFinished:
    """A segment is complete.

    Attributes:
        sequence: Segment number, as in its :class:`SegmentStarted`.
        start_ms: Timestamp of its first frame.
        duration_ms: Its duration for EXTINF.
        chunks: The whole segment in order, as muxed: PAT and PMT, then one run of
            188-byte MPEG-TS packets per frame. A writer hands them to one gathering
            write (``os.writev``) instead of copying megabytes into one buffer first.
        discontinuity: As in :class:`SegmentStarted`.
        independent: As in :class:`SegmentStarted`.
    """

    sequence: int
    start_ms: int
    duration_ms: int
    chunks: tuple[bytes, ...] = field(repr=False)
    discontinuity: bool
    independent: bool

    @property
    def data(self) -> bytes:
        """The whole segment in one buffer (:attr:`chunks` joined: a copy)."""
        return b"".join(self.chunks)

    @property
    def size(self) -> int:
        """The segment's length in bytes."""
        return sum(map(len, self.chunks))


SegmentEvent = SegmentStarted | SegmentFinished


@dataclass(slots=True, kw_only=True)
class _OpenSegment:
    sequence: int
    start_ms: int
    discontinuity: bool
    independent: bool
    has_video: bool
    has_audio: bool
    chunks: list[bytes]
    size: int
    max_ts: int


class Segmenter:
    """Pure state machine: FLV/RTMP audio and video tags in, MPEG-TS segments out.

    Args:
        target_duration_ms: Cut at the first keyframe at least this far into a segment.
        max_duration_ms: Cut at any frame this far into a segment (default: target +
            :data:`DEFAULT_MAX_EXTRA_MS`).
        max_gap_ms: Larger timestamp steps are discontinuities.
        max_segment_bytes: Cut at any frame once a segment holds this many bytes.
        video: ``False`` for audio-only streams: every AAC frame is then a start point and
            video tags are ignored.
        timestamp_offset_ms: Passed to :class:`TSMuxer`.

    Raises:
        ValueError: Non-positive durations, or ``max_duration_ms < target_duration_ms``.

    Error handling:
        :meth:`push_video` and :meth:`push_audio` raise :class:`HLSError` for corrupt codec
        records or frames; the segmenter's state is then unchanged and the caller may go on
        with the next tag (dropping the bad one) or end the stream.
    """

    def __init__(
        self,
        *,
        target_duration_ms: int = DEFAULT_TARGET_DURATION_MS,
        max_duration_ms: int | None = None,
        max_gap_ms: int = DEFAULT_MAX_GAP_MS,
        max_segment_bytes: int = DEFAULT_MAX_SEGMENT_BYTES,
        video: bool = True,
        timestamp_offset_ms: int = DEFAULT_TIMESTAMP_OFFSET_MS,
    ) -> None:
        if max_duration_ms is None:
            max_duration_ms = target_duration_ms + DEFAULT_MAX_EXTRA_MS
        if target_duration_ms <= 0 or max_gap_ms <= 0 or max_segment_bytes <= 0:
            raise ValueError("durations and sizes must be positive")
        if max_duration_ms < target_duration_ms:
            raise ValueError("max_duration_ms must be at least target_duration_ms")
        self._target_ms = target_duration_ms
        self._early_cut_ms = target_duration_ms - target_duration_ms // 20
        self._max_ms = max_duration_ms
        self._max_gap_ms = max_gap_ms
        self._max_bytes = max_segment_bytes
        self._video_mode = video
        self._muxer = TSMuxer(timestamp_offset_ms=timestamp_offset_ms)
        self._open: _OpenSegment | None = None
        self._next_sequence = 0
        self._pending_discontinuity = False
        self._await_keyframe = False
        self._last_ts: dict[_Kind, int] = {}
        self._interval: dict[_Kind, int] = {}
        self._dropped = 0

    @property
    def target_duration_s(self) -> int:
        """The EXT-X-TARGETDURATION to use with this segmenter's segments.

        Every duration is below ``max_duration_ms + max_gap_ms``; the smallest integer T
        with that bound ``<= T + 0.5 s`` keeps every rounded EXTINF at or below T.
        """
        return max(1, -(-(self._max_ms + self._max_gap_ms - 500) // 1000))

    @property
    def dropped_tags(self) -> int:
        """Tags that neither updated a codec record nor went into a segment."""
        return self._dropped

    @property
    def video_config(self) -> AVCDecoderConfig | HEVCDecoderConfig | None:
        """The current video decoder configuration record, if any."""
        return self._muxer.video_config if self._video_mode else None

    @property
    def audio_config(self) -> AudioSpecificConfig | None:
        """The current AudioSpecificConfig, if any."""
        return self._muxer.audio_config

    @property
    def codecs(self) -> tuple[str, ...]:
        """RFC 6381 codec strings of the current records, for the master playlist CODECS."""
        configs = (self.video_config, self.audio_config)
        return tuple(c.codec_string for c in configs if c is not None)

    def push_video(self, tag: VideoTag | ExVideoTag, timestamp_ms: int) -> list[SegmentEvent]:
        """Feed one video tag with its (unwrapped) timestamp in ms.

        Returns:
            Events, in order: possibly a :class:`SegmentFinished`, then possibly a
            :class:`SegmentStarted` for the segment this frame opened.

        Raises:
            HLSError: A corrupt sequence header or frame.
        """
        fourcc = tag.fourcc
        if not self._video_mode or fourcc not in _TS_VIDEO_FOURCCS:
            self._dropped += 1
            return []
        if tag.is_sequence_header:
            config = _parse_video_config(fourcc, tag.data)
            if config != self._muxer.video_config:
                self._muxer.set_video_config(config)
                self._await_keyframe = True
                self._pending_discontinuity = self._open is not None
            return []
        current = self._muxer.video_config
        if not tag.is_coded_frame or current is None or _fourcc(current) != fourcc:
            self._dropped += 1
            return []
        keyframe = tag.is_keyframe
        return self._push(
            "video",
            timestamp_ms,
            start_point=keyframe,
            mux=lambda: self._muxer.video_frame(
                tag.data, dts_ms=timestamp_ms, cts_ms=tag.composition_time_ms, keyframe=keyframe
            ),
        )

    def push_audio(self, tag: AudioTag, timestamp_ms: int) -> list[SegmentEvent]:
        """Feed one audio tag with its (unwrapped) timestamp in ms.

        Returns:
            As for :meth:`push_video`.

        Raises:
            HLSError: A corrupt AudioSpecificConfig, or a frame ADTS cannot carry.
        """
        if tag.is_sequence_header:
            try:
                config = parse_audio_specific_config(tag.data)
            except FLVError as exc:
                raise HLSError(f"bad AAC sequence header: {exc}") from exc
            if config != self._muxer.audio_config:
                self._muxer.set_audio_config(config)
                self._pending_discontinuity = self._open is not None
            return []
        if not tag.is_aac_frame or self._muxer.audio_config is None:
            self._dropped += 1
            return []
        return self._push(
            "audio",
            timestamp_ms,
            start_point=not self._video_mode,
            mux=lambda: self._muxer.audio_frame(tag.data, pts_ms=timestamp_ms),
        )

    def finish(self) -> list[SegmentEvent]:
        """Close the open segment, if any (end of stream, or a cut the app forces).

        Tags pushed afterwards wait for a start point and open a segment marked as a
        discontinuity.

        Returns:
            A :class:`SegmentFinished`, or nothing if no segment was open.
        """
        if self._open is None:
            return []
        return [self._close(None)]

    def _accepts(self, kind: _Kind, start_point: bool, *, video: bool, audio: bool) -> bool:
        if kind == "video":
            return video and (start_point or not self._await_keyframe)
        return audio

    def _is_jump(self, kind: _Kind, ts: int, seg: _OpenSegment) -> bool:
        if ts > seg.max_ts + self._max_gap_ms:
            return True
        last = self._last_ts.get(kind)
        return last is not None and ts < last - self._max_gap_ms

    def _push(
        self, kind: _Kind, ts: int, *, start_point: bool, mux: Callable[[], bytes]
    ) -> list[SegmentEvent]:
        seg = self._open
        new_video = self._video_mode and self._muxer.video_config is not None
        new_audio = self._muxer.audio_config is not None
        cut: Literal["none", "jump", "cut"] = "none"
        if seg is not None:
            elapsed = ts - seg.start_ms
            if self._is_jump(kind, ts, seg):
                cut = "jump"
            elif start_point and (self._pending_discontinuity or elapsed >= self._early_cut_ms):
                cut = "cut"
            elif (
                elapsed > 0
                and (elapsed >= self._max_ms or seg.size >= self._max_bytes)
                and self._accepts(kind, start_point, video=new_video, audio=new_audio)
            ):
                cut = "cut"
        if seg is None or cut == "jump":
            open_new = accepted = start_point
        elif cut == "cut":
            open_new = accepted = True
        else:
            open_new = False
            accepted = self._accepts(kind, start_point, video=seg.has_video, audio=seg.has_audio)
        # Mux before changing any state: a corrupt frame raises and leaves all as it was.
        data = mux() if accepted else b""
        events: list[SegmentEvent] = []
        if cut == "jump":
            events.append(self._close(None))
        elif cut == "cut":
            events.append(self._close(ts))
        if open_new:
            events.append(self._open_segment(ts, start_point, video=new_video, audio=new_audio))
        if not accepted:
            self._dropped += 1
            return events
        if kind == "video" and start_point:
            self._await_keyframe = False
        seg = self._open
        assert seg is not None  # accepted implies an open segment
        seg.chunks.append(data)
        seg.size += len(data)
        last = self._last_ts.get(kind)
        if last is not None and ts > last:
            self._interval[kind] = ts - last
        self._last_ts[kind] = ts
        seg.max_ts = max(seg.max_ts, ts)
        return events

    def _open_segment(
        self, ts: int, start_point: bool, *, video: bool, audio: bool
    ) -> SegmentStarted:
        tables = self._muxer.tables()
        seg = _OpenSegment(
            sequence=self._next_sequence,
            start_ms=ts,
            discontinuity=self._pending_discontinuity,
            independent=start_point,
            has_video=video,
            has_audio=audio,
            chunks=[tables],
            size=len(tables),
            max_ts=ts,
        )
        self._next_sequence += 1
        self._pending_discontinuity = False
        self._open = seg
        return SegmentStarted(
            sequence=seg.sequence,
            start_ms=ts,
            discontinuity=seg.discontinuity,
            independent=start_point,
        )

    def _close(self, next_start: int | None) -> SegmentFinished:
        seg = self._open
        assert seg is not None
        if next_start is not None:
            duration = next_start - seg.start_ms
        else:
            # No successor to measure against: count the last frame as one frame interval.
            main: _Kind = "video" if seg.has_video else "audio"
            frame = min(self._interval.get(main, 0), self._max_gap_ms)
            duration = seg.max_ts - seg.start_ms + frame
            self._pending_discontinuity = True
            self._last_ts.clear()
            self._interval.clear()
        self._open = None
        return SegmentFinished(
            sequence=seg.sequence,
            start_ms=seg.start_ms,
            duration_ms=duration,
            chunks=tuple(seg.chunks),
            discontinuity=seg.discontinuity,
            independent=seg.independent,
        )


_TS_VIDEO_FOURCCS: Final = ("avc1", "hvc1")


def _fourcc(config: AVCDecoderConfig | HEVCDecoderConfig) -> str:
    return "avc1" if isinstance(config, AVCDecoderConfig) else "hvc1"


def _parse_video_config(fourcc: str, data: bytes) -> AVCDecoderConfig | HEVCDecoderConfig:
    try:
        return parse_avc_config(data) if fourcc == "avc1" else parse_hevc_config(data)
    except FLVError as exc:
        raise HLSError(f"bad {fourcc} sequence header: {exc}") from exc
