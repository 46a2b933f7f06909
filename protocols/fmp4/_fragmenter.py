"""Media fragments: ``moof`` + ``mdat`` from FLV/RTMP video and audio packets.

Rules / theory of operation
---------------------------
* One :class:`Fragmenter` serves one initialization segment (its tracks and codec
  records). A new codec record means a new fragmenter and a new init segment (a new
  EXT-X-MAP); the caller may carry the sequence numbers on with ``sequence=``.
* Samples are added per track, in decode order, with FLV's millisecond decode times. A
  track's decode times never go backwards (equal ones are allowed: a zero duration).
* The fragmenter holds every sample added since the last fragment. :meth:`Fragmenter.cut`
  makes a fragment of them all *except the newest sample of each track*, which starts the
  next fragment: a sample's duration is the next sample's decode time minus its own, so
  only the newest one's is still unknown. The caller thus cuts right after adding the
  sample that should open the next fragment (a keyframe for an independent part, or
  whichever comes after the part target). :meth:`Fragmenter.flush` (end of stream, or
  before a new codec record) takes every sample; each track's last sample then lasts as
  long as the one before it (or a default: 1/30 s of video, 1024 AAC samples).
* A fragment is one ``moof`` (``mfhd``, then one ``traf`` per track that has samples:
  ``tfhd`` with default-base-is-moof, ``tfdt`` version 1, one ``trun``) and one ``mdat``
  with the video samples, then the audio samples. Audio and video muxed in one fragment
  against one init segment holding both tracks is the layout hls.js and FFmpeg read
  best for LL-HLS parts: one request per part, and both tracks advance together.
* Times are converted per sample from absolute milliseconds to the track's timescale and
  rounded, never by summing rounded deltas, so a stream does not drift however long it
  runs: every sample's decode time is within half a tick of its millisecond value.
* Video ``trun`` has per-sample duration, size, flags (sync samples depend on nothing,
  others are non-sync and depend on others) and composition offset, version 1 (signed:
  a negative offset is not misread). Audio ``trun`` has duration and size, and every
  AAC frame is a sync sample (``tfhd`` default flags).
* The samples held are bounded by ``max_fragment_bytes``: a sample that would exceed it
  is refused (:class:`FMP4Error`), so a caller that never cuts cannot grow memory.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from ._boxes import BOX_HEADER_BYTES
from ._errors import FMP4Error
from ._init import AUDIO_TRACK_ID, VIDEO_TIMESCALE, VIDEO_TRACK_ID, VideoConfig, init_segment

if TYPE_CHECKING:
    from protocols.flv import AudioSpecificConfig

__all__ = ["DEFAULT_MAX_FRAGMENT_BYTES", "Fragment", "Fragmenter", "TrackRun"]

# ~3 s at 170 Mbit/s, as the MPEG-TS segmenter allows: far above any part or segment of
# a sane ingest, yet a bound on what a fragmenter buffers.
DEFAULT_MAX_FRAGMENT_BYTES: Final = 64 * 1024 * 1024
_DEFAULT_VIDEO_DURATION_MS: Final = 33  # one frame at 30 fps, for a lone last sample
_AAC_FRAME_SAMPLES: Final = 1024
# FLV's composition time is a signed 24-bit count of milliseconds.
_MAX_COMPOSITION_MS: Final = (1 << 23) - 1

# 14496-12 8.8.3.1 sample flags: sample_depends_on (2 bits at 24), sample_is_non_sync_sample
# (bit 16).
_SYNC_SAMPLE: Final = 0x02000000  # depends on no other sample
_NON_SYNC_SAMPLE: Final = 0x01010000  # depends on others, not a sync sample
_TFHD_DEFAULT_BASE_IS_MOOF: Final = 0x020000
_TFHD_DEFAULT_SAMPLE_FLAGS: Final = 0x000020
_TRUN_DATA_OFFSET: Final = 0x000001
_TRUN_DURATION: Final = 0x000100
_TRUN_SIZE: Final = 0x000200
_TRUN_FLAGS: Final = 0x000400
_TRUN_COMPOSITION_OFFSET: Final = 0x000800
_VIDEO_TRUN: Final = (
    _TRUN_DATA_OFFSET | _TRUN_DURATION | _TRUN_SIZE | _TRUN_FLAGS | _TRUN_COMPOSITION_OFFSET
)
_AUDIO_TRUN: Final = _TRUN_DATA_OFFSET | _TRUN_DURATION | _TRUN_SIZE


@dataclass(frozen=True, slots=True, kw_only=True)
class TrackRun:
    """One track's part of a fragment (its ``traf``).

    Attributes:
        track_id: :data:`~protocols.fmp4.VIDEO_TRACK_ID` or ``AUDIO_TRACK_ID``.
        timescale: Ticks per second of the track.
        base_decode_time: ``tfdt``: the first sample's decode time in ticks.
        duration: The samples' summed durations in ticks.
        samples: How many samples the ``trun`` holds.
    """

    track_id: int
    timescale: int
    base_decode_time: int
    duration: int
    samples: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Fragment:
    """One media fragment and the facts a playlist needs about it.

    Attributes:
        sequence: ``mfhd`` sequence_number.
        start_ms: Decode time of its first sample, in ms: of the video track when the
            fragment has video, else of the audio track.
        duration_ms: That track's duration in ms: from its first sample's decode time to
            the next sample's (or, from :meth:`Fragmenter.flush`, to the end of the last).
        independent: It starts with a video keyframe, or it is audio of an audio-only
            stream: EXT-X-PART's INDEPENDENT=YES.
        tracks: One :class:`TrackRun` per track with samples, video first.
        chunks: ``moof`` + ``mdat`` in order: the boxes, then every sample as it was
            added. Joined only when someone asks (:attr:`data`): a part of a 6 Mbit/s
            stream is hundreds of kilobytes, and a fresh buffer that large is a fresh
            memory mapping, page-faulted in, for each one.
    """

    sequence: int
    start_ms: int
    duration_ms: int
    independent: bool
    tracks: tuple[TrackRun, ...]
    chunks: tuple[bytes, ...] = field(repr=False)

    @property
    def data(self) -> bytes:
        """``moof`` + ``mdat`` in one buffer (:attr:`chunks` joined: a copy)."""
        return b"".join(self.chunks)

    @property
    def size(self) -> int:
        """Bytes of :attr:`data`, for EXT-X-BYTERANGE or a part's length."""
        return sum(map(len, self.chunks))


@dataclass(frozen=True, slots=True)
class _Sample:
    dts_ms: int
    cts_ms: int
    keyframe: bool
    data: bytes


@dataclass(slots=True)
class _Track:
    track_id: int
    timescale: int
    default_duration_ms: int
    samples: list[_Sample] = field(default_factory=list)
    last_dts_ms: int | None = None
    last_delta_ms: int | None = None

    def ticks(self, ms: int) -> int:
        # Rounded half up; exact for 90 kHz, within half a tick for any audio rate.
        return (ms * self.timescale + 500) // 1000


class Fragmenter:
    """Pure state machine: video and audio samples in, fMP4 fragments out when cut.

    Args:
        video: The video track's decoder configuration record, or ``None``.
        audio: The audio track's AudioSpecificConfig, or ``None``.
        size: Picture width and height for the init segment (see :func:`init_segment`).
        sequence: The first fragment's sequence number.
        max_fragment_bytes: The most sample bytes held between two fragments.

    Raises:
        FMP4Error: As :func:`init_segment`.
        ValueError: A non-positive ``max_fragment_bytes``.

    Error handling:
        :meth:`add_video` and :meth:`add_audio` raise :class:`FMP4Error` for a sample
        they cannot take; the fragmenter is then unchanged and the caller may go on with
        the next sample (dropping the bad one).
    """

    def __init__(
        self,
        *,
        video: VideoConfig | None = None,
        audio: AudioSpecificConfig | None = None,
        size: tuple[int, int] | None = None,
        sequence: int = 1,
        max_fragment_bytes: int = DEFAULT_MAX_FRAGMENT_BYTES,
    ) -> None:
        if max_fragment_bytes <= 0:
            raise ValueError("max_fragment_bytes must be positive")
        self.init_segment: Final = init_segment(video=video, audio=audio, size=size)
        """The initialization segment (EXT-X-MAP) the fragments need."""
        self.video_config: Final = video
        self.audio_config: Final = audio
        self._video = (
            None
            if video is None
            else _Track(VIDEO_TRACK_ID, VIDEO_TIMESCALE, _DEFAULT_VIDEO_DURATION_MS)
        )
        self._audio = (
            None
            if audio is None
            else _Track(
                AUDIO_TRACK_ID,
                audio.sample_rate,
                round(_AAC_FRAME_SAMPLES * 1000 / audio.sample_rate),
            )
        )
        self._sequence = sequence
        self._max_bytes = max_fragment_bytes
        self._pending_bytes = 0

    @property
    def codecs(self) -> tuple[str, ...]:
        """RFC 6381 codec strings of the tracks, video first, for the CODECS attribute."""
        configs = (self.video_config, self.audio_config)
        return tuple(c.codec_string for c in configs if c is not None)

    @property
    def sequence(self) -> int:
        """The sequence number the next fragment will have."""
        return self._sequence

    @property
    def pending_bytes(self) -> int:
        """Sample bytes held for the next fragments."""
        return self._pending_bytes

    def add_video(self, data: bytes, *, dts_ms: int, cts_ms: int = 0, keyframe: bool) -> None:
        """Add one video access unit.

        Args:
            data: The FLV video payload: NAL units, each after a big-endian length of the
                record's ``nal_length_size`` bytes (the MP4 sample format as it is).
            dts_ms: Decode time in ms (unwrapped, not negative).
            cts_ms: Composition time offset in ms (PTS - DTS; FLV's CompositionTime).
            keyframe: A random access point (FLV frame type 1).

        Raises:
            FMP4Error: No video track; a payload whose length prefixes do not tile it; a
                decode time before the previous one; the bound on held bytes.
        """
        track, config = self._video, self.video_config
        if track is None or config is None:
            raise FMP4Error("this fragmenter has no video track")
        if not -_MAX_COMPOSITION_MS - 1 <= cts_ms <= _MAX_COMPOSITION_MS:
            raise FMP4Error(f"composition time {cts_ms} ms is out of FLV's 24-bit range")
        _check_nal_units(data, config.nal_length_size)
        self._add(track, _Sample(dts_ms, cts_ms, keyframe, data))

    def add_audio(self, data: bytes, *, dts_ms: int) -> None:
        """Add one raw AAC frame (the FLV AAC raw payload, without ADTS).

        Raises:
            FMP4Error: No audio track; an empty frame; a decode time before the previous
                one; the bound on held bytes.
        """
        if self._audio is None:
            raise FMP4Error("this fragmenter has no audio track")
        if not data:
            raise FMP4Error("empty AAC frame")
        self._add(self._audio, _Sample(dts_ms, 0, True, data))

    def cut(self) -> Fragment | None:
        """End a fragment before the newest sample of each track.

        Returns:
            The fragment, or ``None`` when no track holds more than its newest sample.
        """
        return self._fragment(final=False)

    def flush(self) -> Fragment | None:
        """End a fragment with every sample held.

        Returns:
            The fragment, or ``None`` when no sample is held.
        """
        return self._fragment(final=True)

    def _add(self, track: _Track, sample: _Sample) -> None:
        if sample.dts_ms < 0:
            raise FMP4Error(f"decode time {sample.dts_ms} ms is negative")
        last = track.last_dts_ms
        if last is not None and sample.dts_ms < last:
            raise FMP4Error(f"decode time {sample.dts_ms} ms goes back from {last} ms")
        if last is not None and track.ticks(sample.dts_ms) - track.ticks(last) > _MAX_U32:
            # A sample's duration is a 32-bit count of ticks in `trun` (13 h at 90 kHz).
            raise FMP4Error(
                f"decode time {sample.dts_ms} ms jumps from {last} ms: too long for a sample"
            )
        if self._pending_bytes + len(sample.data) > self._max_bytes:
            raise FMP4Error(f"more than {self._max_bytes} bytes held: cut() first")
        if last is not None:
            track.last_delta_ms = sample.dts_ms - last
        track.last_dts_ms = sample.dts_ms
        track.samples.append(sample)
        self._pending_bytes += len(sample.data)

    def _fragment(self, *, final: bool) -> Fragment | None:
        runs: list[tuple[_Track, list[_Sample], int]] = []
        for track in (self._video, self._audio):
            if track is None:
                continue
            samples = track.samples[:] if final else track.samples[:-1]
            if not samples:
                continue
            if final:
                end_ms = samples[-1].dts_ms + (track.last_delta_ms or track.default_duration_ms)
            else:
                end_ms = track.samples[-1].dts_ms
            runs.append((track, samples, end_ms))
        if not runs:
            return None
        for track, samples, _ in runs:
            del track.samples[: len(samples)]
            self._pending_bytes -= sum(len(s.data) for s in samples)
        chunks, track_runs = _encode_fragment(self._sequence, runs)
        main, samples, end_ms = runs[0]
        fragment = Fragment(
            sequence=self._sequence,
            start_ms=samples[0].dts_ms,
            duration_ms=end_ms - samples[0].dts_ms,
            independent=samples[0].keyframe if main is self._video else self._video is None,
            tracks=track_runs,
            chunks=chunks,
        )
        self._sequence += 1
        return fragment


def _check_nal_units(data: bytes, length_size: int) -> None:
    if not data:
        raise FMP4Error("empty video sample")
    pos = 0
    while pos < len(data):
        if pos + length_size > len(data):
            raise FMP4Error("NAL unit length prefix is truncated")
        size = int.from_bytes(data[pos : pos + length_size], "big")
        pos += length_size
        if size == 0 or pos + size > len(data):
            raise FMP4Error(f"NAL unit length {size} does not fit the access unit")
        pos += size


_MAX_U32: Final = 0xFFFF_FFFF


# A fragment's boxes are written into one buffer with struct, field by field: the
# fields are few and fixed, so sizes are known before anything is written.
_BOX: Final = struct.Struct(">I4s")  # size, type
# A FullBox's version (8 bits) and flags (24) share a 32-bit field after the type.
_VERSION_1: Final = 1 << 24
_MFHD: Final = struct.Struct(">I4sII")  # ..., sequence_number
_VIDEO_TFHD: Final = struct.Struct(">I4sII")  # ..., track_ID
_AUDIO_TFHD: Final = struct.Struct(">I4sIII")  # ..., track_ID, default_sample_flags
_TFDT: Final = struct.Struct(">I4sIQ")  # version 1: ..., baseMediaDecodeTime (64 bits)
_TRUN: Final = struct.Struct(">I4sIIi")  # ..., sample_count, data_offset
_VIDEO_ENTRY: Final = struct.Struct(">IIIi")  # duration, size, flags, composition offset
_AUDIO_ENTRY: Final = struct.Struct(">II")  # duration, size


def _encode_fragment(
    sequence: int, runs: list[tuple[_Track, list[_Sample], int]]
) -> tuple[tuple[bytes, ...], tuple[TrackRun, ...]]:
    """The ``moof`` and ``mdat`` header of a fragment (one buffer), then its samples, and
    what each track's ``traf`` says."""
    tracks = []
    moof_size = BOX_HEADER_BYTES + _MFHD.size
    for track, samples, end_ms in runs:
        times = [track.ticks(s.dts_ms) for s in samples]
        times.append(track.ticks(end_ms))
        video = track.track_id == VIDEO_TRACK_ID
        tfhd, entry = (_VIDEO_TFHD, _VIDEO_ENTRY) if video else (_AUDIO_TFHD, _AUDIO_ENTRY)
        trun_size = _TRUN.size + entry.size * len(samples)
        traf_size = BOX_HEADER_BYTES + tfhd.size + _TFDT.size + trun_size
        tracks.append((track, samples, times, video, traf_size, trun_size))
        moof_size += traf_size
    data_size = sum(len(s.data) for _, samples, _ in runs for s in samples)
    out = bytearray(moof_size + BOX_HEADER_BYTES)
    _BOX.pack_into(out, 0, moof_size, b"moof")
    _MFHD.pack_into(out, BOX_HEADER_BYTES, _MFHD.size, b"mfhd", 0, sequence)
    pos = BOX_HEADER_BYTES + _MFHD.size
    # default-base-is-moof: each trun's data_offset counts from the moof's first byte; the
    # samples start after the moof and the mdat header, one track after another.
    data_offset = moof_size + BOX_HEADER_BYTES
    track_runs = []
    for track, samples, times, video, traf_size, trun_size in tracks:
        _BOX.pack_into(out, pos, traf_size, b"traf")
        pos += BOX_HEADER_BYTES
        if video:
            tfhd_flags = _TFHD_DEFAULT_BASE_IS_MOOF
            _VIDEO_TFHD.pack_into(out, pos, _VIDEO_TFHD.size, b"tfhd", tfhd_flags, track.track_id)
            pos += _VIDEO_TFHD.size
        else:
            tfhd_flags = _TFHD_DEFAULT_BASE_IS_MOOF | _TFHD_DEFAULT_SAMPLE_FLAGS
            _AUDIO_TFHD.pack_into(
                out, pos, _AUDIO_TFHD.size, b"tfhd", tfhd_flags, track.track_id, _SYNC_SAMPLE
            )
            pos += _AUDIO_TFHD.size
        _TFDT.pack_into(out, pos, _TFDT.size, b"tfdt", _VERSION_1, times[0])
        pos += _TFDT.size
        # Video trun version 1: signed composition offsets; audio has none, version 0.
        trun_flags = _VERSION_1 | _VIDEO_TRUN if video else _AUDIO_TRUN
        _TRUN.pack_into(out, pos, trun_size, b"trun", trun_flags, len(samples), data_offset)
        pos += _TRUN.size
        if video:
            ticks = track.ticks
            for i, sample in enumerate(samples):
                _VIDEO_ENTRY.pack_into(
                    out,
                    pos,
                    times[i + 1] - times[i],
                    len(sample.data),
                    _SYNC_SAMPLE if sample.keyframe else _NON_SYNC_SAMPLE,
                    ticks(sample.dts_ms + sample.cts_ms) - times[i],
                )
                pos += _VIDEO_ENTRY.size
        else:
            for i, sample in enumerate(samples):
                _AUDIO_ENTRY.pack_into(out, pos, times[i + 1] - times[i], len(sample.data))
                pos += _AUDIO_ENTRY.size
        data_offset += sum(len(s.data) for s in samples)
        track_runs.append(
            TrackRun(
                track_id=track.track_id,
                timescale=track.timescale,
                base_decode_time=times[0],
                duration=times[-1] - times[0],
                samples=len(samples),
            )
        )
    _BOX.pack_into(out, pos, BOX_HEADER_BYTES + data_size, b"mdat")
    # The sample bytes are not copied: the fragment is the boxes and the samples as added.
    chunks = (bytes(out), *(s.data for _, samples, _ in runs for s in samples))
    return chunks, tuple(track_runs)
