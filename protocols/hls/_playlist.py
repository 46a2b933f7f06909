"""HLS playlists (RFC 8216): live/event media playlists, VOD playlists, master playlists.

Rules / theory of operation
---------------------------
* EXT-X-TARGETDURATION is fixed when a :class:`MediaPlaylist` is made (RFC 8216 6.2.1: it
  MUST NOT change) and every segment's EXTINF, rounded to the nearest integer, must not
  exceed it (4.3.3.1); :meth:`MediaPlaylist.add_segment` refuses one that would.
  :attr:`Segmenter.target_duration_s` gives a value its segments always respect.
* Live playlists keep the last ``window_size`` segments. Each segment that slides out
  increments EXT-X-MEDIA-SEQUENCE, and EXT-X-DISCONTINUITY-SEQUENCE if it carried
  EXT-X-DISCONTINUITY (6.2.2).
* A removed segment must stay available for its duration plus the duration of the longest
  playlist that contained it (6.2.2). Sans-IO, time is the media time of the segments
  added since: a URI is handed back for deletion by :meth:`MediaPlaylist.add_segment` once
  that much media has been added after its removal.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from ._errors import HLSError

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from datetime import datetime

__all__ = [
    "DEFAULT_WINDOW_SIZE",
    "BitrateMeter",
    "MediaPlaylist",
    "PlaylistSegment",
    "Variant",
    "render_master_playlist",
    "render_vod_playlist",
]

# RFC 8216 6.2.2 wants at least three target durations in a live playlist; six segments
# of 2 s give players room to start three segments back from the live edge.
DEFAULT_WINDOW_SIZE: Final = 6
# Version 3: EXTINF durations are decimal (RFC 8216 7); nothing newer is used.
PLAYLIST_VERSION: Final = 3


def _check_line(value: str, what: str) -> None:
    if not value or "\n" in value or "\r" in value:
        raise HLSError(f"{what} must be non-empty and on one line: {value!r}")


def _rounded_s(duration_ms: int) -> int:
    return (duration_ms + 500) // 1000


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaylistSegment:
    """One media segment entry.

    Attributes:
        uri: URI as written into the playlist, usually relative (``"seg-000042.ts"``).
        duration_ms: Duration for EXTINF.
        discontinuity: Precede it with EXT-X-DISCONTINUITY.
        program_date_time: Wall-clock time of its first sample (timezone-aware), for
            EXT-X-PROGRAM-DATE-TIME; supplied by the caller, who owns the clock.
    """

    uri: str
    duration_ms: int
    discontinuity: bool = False
    program_date_time: datetime | None = None

    def __post_init__(self) -> None:
        _check_line(self.uri, "segment URI")
        if self.duration_ms < 0:
            raise HLSError(f"negative segment duration {self.duration_ms} ms")
        if self.program_date_time is not None and self.program_date_time.utcoffset() is None:
            raise HLSError("EXT-X-PROGRAM-DATE-TIME needs a timezone-aware datetime")


def _segment_lines(segments: Iterable[PlaylistSegment]) -> list[str]:
    lines = []
    for seg in segments:
        if seg.discontinuity:
            lines.append("#EXT-X-DISCONTINUITY")
        if seg.program_date_time is not None:
            stamp = seg.program_date_time.isoformat(timespec="milliseconds")
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{stamp.replace('+00:00', 'Z')}")
        seconds, millis = divmod(seg.duration_ms, 1000)
        lines.append(f"#EXTINF:{seconds}.{millis:03d},")
        lines.append(seg.uri)
    return lines


class MediaPlaylist:
    """A live media playlist with a sliding window, or an EVENT playlist.

    Args:
        target_duration_s: EXT-X-TARGETDURATION; constant for the playlist's life.
        window_size: Segments kept; ``None`` keeps all and makes an EVENT playlist.
        media_sequence: The first segment's Media Sequence Number: a playlist that
            continues another one's stream (written elsewhere) starts past its last.
        discontinuity_sequence: EXT-X-DISCONTINUITY-SEQUENCE to start from, likewise.

    Raises:
        ValueError: ``target_duration_s`` or ``window_size`` below 1, or a negative
            sequence number.
    """

    def __init__(
        self,
        *,
        target_duration_s: int,
        window_size: int | None = DEFAULT_WINDOW_SIZE,
        media_sequence: int = 0,
        discontinuity_sequence: int = 0,
    ) -> None:
        if target_duration_s < 1 or (window_size is not None and window_size < 1):
            raise ValueError("target duration and window size must be at least 1")
        if media_sequence < 0 or discontinuity_sequence < 0:
            raise ValueError("sequence numbers cannot be negative")
        self._target_s = target_duration_s
        self._window = window_size
        self._segments: deque[PlaylistSegment] = deque()
        self._media_sequence = media_sequence
        self._discontinuity_sequence = discontinuity_sequence
        self._ended = False
        self._clock_ms = 0  # media time added so far
        self._retired: deque[tuple[int, str]] = deque()  # (deletable at clock, URI)

    @property
    def target_duration_s(self) -> int:
        """EXT-X-TARGETDURATION."""
        return self._target_s

    @property
    def media_sequence(self) -> int:
        """EXT-X-MEDIA-SEQUENCE: the sequence number of the first segment listed."""
        return self._media_sequence

    @property
    def discontinuity_sequence(self) -> int:
        """EXT-X-DISCONTINUITY-SEQUENCE."""
        return self._discontinuity_sequence

    @property
    def segments(self) -> tuple[PlaylistSegment, ...]:
        """The segments currently listed."""
        return tuple(self._segments)

    @property
    def ended(self) -> bool:
        """EXT-X-ENDLIST was added."""
        return self._ended

    @property
    def retired_uris(self) -> tuple[str, ...]:
        """URIs out of the window but still within their RFC 8216 6.2.2 hold time; once
        the playlist has ended, the caller decides when these go."""
        return tuple(uri for _, uri in self._retired)

    def add_segment(self, segment: PlaylistSegment) -> list[str]:
        """Append a segment, sliding the window.

        Returns:
            URIs of segments that left the window long enough ago to be deleted now.

        Raises:
            HLSError: Its rounded duration exceeds the target duration.
            RuntimeError: The playlist has ended.
        """
        if self._ended:
            raise RuntimeError("segment added after EXT-X-ENDLIST")
        if _rounded_s(segment.duration_ms) > self._target_s:
            raise HLSError(
                f"segment of {segment.duration_ms} ms exceeds EXT-X-TARGETDURATION:{self._target_s}"
            )
        self._segments.append(segment)
        self._clock_ms += segment.duration_ms
        while self._window is not None and len(self._segments) > self._window:
            listed_ms = sum(s.duration_ms for s in self._segments)
            old = self._segments.popleft()
            self._media_sequence += 1
            self._discontinuity_sequence += old.discontinuity
            self._retired.append((self._clock_ms + old.duration_ms + listed_ms, old.uri))
        deletable = []
        while self._retired and self._retired[0][0] <= self._clock_ms:
            deletable.append(self._retired.popleft()[1])
        return deletable

    def end(self) -> None:
        """Add EXT-X-ENDLIST: the stream is over (idempotent)."""
        self._ended = True

    def render(self) -> str:
        """The playlist text."""
        lines = [
            "#EXTM3U",
            f"#EXT-X-VERSION:{PLAYLIST_VERSION}",
            f"#EXT-X-TARGETDURATION:{self._target_s}",
            f"#EXT-X-MEDIA-SEQUENCE:{self._media_sequence}",
        ]
        if self._discontinuity_sequence:
            lines.append(f"#EXT-X-DISCONTINUITY-SEQUENCE:{self._discontinuity_sequence}")
        if self._window is None:
            lines.append("#EXT-X-PLAYLIST-TYPE:EVENT")
        lines += _segment_lines(self._segments)
        if self._ended:
            lines.append("#EXT-X-ENDLIST")
        return "\n".join(lines) + "\n"


def render_vod_playlist(
    segments: Sequence[PlaylistSegment], *, target_duration_s: int | None = None
) -> str:
    """A complete VOD playlist (EXT-X-PLAYLIST-TYPE:VOD, EXT-X-ENDLIST).

    Args:
        segments: All segments, in order.
        target_duration_s: Defaults to the largest rounded segment duration (at least 1).

    Raises:
        HLSError: A segment's rounded duration exceeds ``target_duration_s``.
    """
    longest = max((_rounded_s(s.duration_ms) for s in segments), default=1)
    target = max(1, longest) if target_duration_s is None else target_duration_s
    if longest > target:
        raise HLSError(f"a segment of {longest} s exceeds EXT-X-TARGETDURATION:{target}")
    lines = [
        "#EXTM3U",
        f"#EXT-X-VERSION:{PLAYLIST_VERSION}",
        f"#EXT-X-TARGETDURATION:{target}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        *_segment_lines(segments),
        "#EXT-X-ENDLIST",
    ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True, kw_only=True)
class Variant:
    """One rendition of a master playlist (EXT-X-STREAM-INF, RFC 8216 4.3.4.2).

    Attributes:
        uri: The media playlist's URI.
        bandwidth: Peak segment bit rate in bits/s (BANDWIDTH).
        average_bandwidth: Average segment bit rate in bits/s (AVERAGE-BANDWIDTH).
        codecs: RFC 6381 codec strings (CODECS), e.g. ``("avc1.64001F", "mp4a.40.2")``.
        resolution: ``(width, height)`` in pixels (RESOLUTION).
        frame_rate: Maximum frame rate (FRAME-RATE).
    """

    uri: str
    bandwidth: int
    average_bandwidth: int | None = None
    codecs: tuple[str, ...] = ()
    resolution: tuple[int, int] | None = None
    frame_rate: float | None = None

    def __post_init__(self) -> None:
        _check_line(self.uri, "variant URI")
        if self.bandwidth <= 0:
            raise HLSError("BANDWIDTH must be positive")
        for codec in self.codecs:
            if not codec or any(c in codec for c in '",\r\n'):
                raise HLSError(f"invalid codec string {codec!r}")
        if self.frame_rate is not None and not (
            math.isfinite(self.frame_rate) and self.frame_rate > 0
        ):
            raise HLSError(f"invalid frame rate {self.frame_rate!r}")


def render_master_playlist(
    variants: Sequence[Variant], *, independent_segments: bool = False
) -> str:
    """A master playlist listing the variants in the given order.

    Args:
        variants: The renditions.
        independent_segments: Add EXT-X-INDEPENDENT-SEGMENTS (only if every segment of
            every variant starts with a keyframe).
    """
    lines = ["#EXTM3U", f"#EXT-X-VERSION:{PLAYLIST_VERSION}"]
    if independent_segments:
        lines.append("#EXT-X-INDEPENDENT-SEGMENTS")
    for v in variants:
        attrs = [f"BANDWIDTH={v.bandwidth}"]
        if v.average_bandwidth is not None:
            attrs.append(f"AVERAGE-BANDWIDTH={v.average_bandwidth}")
        if v.codecs:
            attrs.append(f'CODECS="{",".join(v.codecs)}"')
        if v.resolution is not None:
            attrs.append(f"RESOLUTION={v.resolution[0]}x{v.resolution[1]}")
        if v.frame_rate is not None:
            attrs.append(f"FRAME-RATE={v.frame_rate:.3f}")
        lines.append("#EXT-X-STREAM-INF:" + ",".join(attrs))
        lines.append(v.uri)
    return "\n".join(lines) + "\n"


class BitrateMeter:
    """Peak and average segment bit rates, the way BANDWIDTH/AVERAGE-BANDWIDTH define them."""

    __slots__ = ("_bytes", "_ms", "_peak")

    def __init__(self) -> None:
        self._bytes = 0
        self._ms = 0
        self._peak = 0

    def add(self, size_bytes: int, duration_ms: int) -> None:
        """Account one segment; zero-duration segments count towards the total only."""
        self._bytes += size_bytes
        self._ms += duration_ms
        if duration_ms > 0:
            self._peak = max(self._peak, -(-size_bytes * 8000 // duration_ms))

    @property
    def peak_bps(self) -> int:
        """Highest segment bit rate seen, in bits/s (0 before any segment)."""
        return self._peak

    @property
    def average_bps(self) -> int:
        """Total bits over total duration, in bits/s (0 before any duration)."""
        return -(-self._bytes * 8000 // self._ms) if self._ms else 0
