"""Low-Latency HLS media playlists (RFC 8216bis): parts, preload hints, blocking reload.

Rules / theory of operation
---------------------------
* A :class:`LLPlaylist` is a live window of segments, the newest of which is *open*:
  it has parts but no EXTINF yet. Parts are numbered from 0 within their segment,
  segments by Media Sequence Number (MSN); every URI is derived from the playlist's
  ``prefix`` and those numbers (``{prefix}{msn}.m4s``, ``{prefix}{msn}.{part}.m4s``), so
  a URI names one part forever.
* A segment's EXTINF is the sum of its parts' durations (it is the concatenation of its
  parts' bytes). EXT-X-TARGETDURATION is fixed; a segment whose rounded duration would
  exceed it is refused, as :class:`MediaPlaylist` does.
* EXT-X-PART lines are listed for the segments that start within three target durations
  of the playlist's end (RFC 8216bis 6.2.2: parts older than that SHOULD be removed);
  the rest are listed as whole segments only.
* While live, EXT-X-PRELOAD-HINT names the next part: the next number in the open
  segment, or part 0 of the next segment when none is open.
* EXT-X-SERVER-CONTROL: CAN-BLOCK-RELOAD=YES, PART-HOLD-BACK of three part targets
  (4.4.3.8: at least twice, SHOULD be three times), CAN-SKIP-UNTIL of six target
  durations (4.4.3.8: at least six). A delta update (``_HLS_skip=YES``) replaces the
  leading segments that start more than CAN-SKIP-UNTIL before the end with
  EXT-X-SKIP:SKIPPED-SEGMENTS; segments after them, and all parts, are as in the full
  playlist.
* A GAP part (``EXT-X-PART:...,GAP=YES``) stands for media this rendition does not
  have (a ladder rung's encoder missed it) but its siblings do: it keeps the part and
  segment numbers and durations aligned with theirs. It has a URI, which clients do not
  load (RFC 8216bis 4.4.4.9) and which answers 404 (6.2.1 allows it). The parent
  segment of a GAP part carries EXT-X-GAP (4.4.4.7: its URI is not whole media), written
  with its EXTINF once it is complete rather than among the parts of the open segment:
  a player that sees EXT-X-GAP on a segment skips every part of it, the real ones too.
  EXT-X-RENDITION-REPORT points at the newest part that is not a gap, one a player
  switching over can load.
* EXT-X-MAP is written before the first segment listed and wherever the map changes
  (a new publisher may bring new codec records); EXT-X-PROGRAM-DATE-TIME on every segment
  that has one.
* Blocking reload (6.2.5.2), decided by :meth:`LLPlaylist.reload`: a request for MSN M
  (and part P) is ready once the playlist has that segment (part) or a later one, or
  has ended; it is refused when M is more than two past the last segment with a part,
  or P is more than the Advance Part Limit past the last part (three part targets'
  worth of parts); otherwise it waits. ``_HLS_part`` without ``_HLS_msn`` is refused.
* :attr:`LLPlaylist.version` increases with every change, so a caller renders each
  version once and shares the text.
"""

from __future__ import annotations

import enum
import math
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from ._errors import HLSError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

__all__ = [
    "LL_PLAYLIST_VERSION",
    "LLPlaylist",
    "Reload",
    "ReloadRequest",
    "RenditionReport",
]

# Version 9: EXT-X-SKIP and CAN-SKIP-UNTIL (RFC 8216bis 7); parts need 6+ as does EXT-X-MAP.
LL_PLAYLIST_VERSION: Final = 9
PART_HOLD_BACK_TARGETS: Final = 3  # RFC 8216bis 4.4.3.8: SHOULD be at least three
SKIP_TARGETS: Final = 6  # RFC 8216bis 4.4.3.8: CAN-SKIP-UNTIL at least six target durations
PART_LISTED_TARGETS: Final = 3  # RFC 8216bis 6.2.2: parts older than three targets go
# RFC 8216bis 6.2.5.2: a request more than two segments past the playlist is refused.
MAX_MSN_AHEAD: Final = 2
_MAX_QUERY_NUMBER: Final = 2**63 - 1


class Reload(enum.Enum):
    """What to do with a playlist request, by :meth:`LLPlaylist.reload`."""

    READY = "ready"  #: answer now
    WAIT = "wait"  #: block until the playlist changes, then ask again
    TOO_FAR = "too_far"  #: 400: the request is further ahead than any wait would reach


@dataclass(frozen=True, slots=True, kw_only=True)
class ReloadRequest:
    """The delivery directives of a playlist request (RFC 8216bis 6.2.5).

    Attributes:
        msn: ``_HLS_msn``: block until this segment exists.
        part: ``_HLS_part``: ... and this part of it.
        skip: ``_HLS_skip=YES`` (or ``v2``): a delta update.
    """

    msn: int | None = None
    part: int | None = None
    skip: bool = False

    @classmethod
    def parse(cls, msn: str | None, part: str | None, skip: str | None) -> ReloadRequest:
        """From the query parameters' values (``None`` when absent).

        Raises:
            HLSError: A value is not a decimal integer in range, ``_HLS_skip`` is not
                ``YES`` or ``v2``, or ``_HLS_part`` comes without ``_HLS_msn``
                (6.2.5.2: such a request is a Bad Request).
        """
        if part is not None and msn is None:
            raise HLSError("_HLS_part without _HLS_msn")
        if skip is not None and skip not in ("YES", "v2"):
            raise HLSError(f"_HLS_skip must be YES or v2, not {skip[:20]!r}")
        return cls(
            msn=_number(msn, "_HLS_msn"), part=_number(part, "_HLS_part"), skip=skip is not None
        )


def _number(value: str | None, what: str) -> int | None:
    if value is None:
        return None
    if (
        not (value.isascii() and value.isdigit())
        or len(value) > 19
        or int(value) > _MAX_QUERY_NUMBER
    ):
        raise HLSError(f"{what} must be a non-negative integer")
    return int(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class RenditionReport:
    """EXT-X-RENDITION-REPORT: where another rendition's playlist stands.

    Attributes:
        uri: That playlist's URI, relative to this one.
        last_msn: Its last segment with a part (LAST-MSN).
        last_part: Its last part's number (LAST-PART).
    """

    uri: str
    last_msn: int
    last_part: int


@dataclass(slots=True, kw_only=True)
class _Segment:
    msn: int
    map_uri: str
    program_date_time: datetime | None
    discontinuity: bool
    start_ms: int  # media time since the playlist began, for part listing and skips
    # (duration ms, independent, gap)
    parts: list[tuple[int, bool, bool]] = field(default_factory=list)
    complete: bool = False

    @property
    def duration_ms(self) -> int:
        return sum(d for d, _, _ in self.parts)


def _lists_parts(segment: _Segment, parts_from_ms: int) -> bool:
    """The playlist lists ``segment``'s parts: it is open or began at ``parts_from_ms``
    or later (three target durations from the live edge)."""
    return segment.start_ms >= parts_from_ms or not segment.complete


def _seconds(ms: int) -> str:
    seconds, millis = divmod(ms, 1000)
    return f"{seconds}.{millis:03d}"


def _check_line(value: str, what: str) -> None:
    if not value or any(c in value for c in '"\r\n'):
        raise HLSError(f"{what} must be non-empty, on one line and without quotes: {value!r}")


class LLPlaylist:
    """A live LL-HLS media playlist: segments made of parts, with a sliding window.

    Args:
        prefix: URIs of segments and parts start with this (e.g. ``"ll-42-"``).
        target_duration_s: EXT-X-TARGETDURATION; constant.
        part_target_ms: EXT-X-PART-INF's PART-TARGET; every part must be at most this.
        window_size: Segments listed (complete ones, besides the open one).
        media_sequence: MSN of the first segment.

    Raises:
        ValueError: Non-positive durations or window, a part target above the target
            duration, or a negative media sequence.
        HLSError: ``prefix`` cannot be written into a URI.
    """

    def __init__(
        self,
        *,
        prefix: str,
        target_duration_s: int,
        part_target_ms: int,
        window_size: int,
        media_sequence: int = 0,
    ) -> None:
        if target_duration_s < 1 or part_target_ms < 1 or window_size < 1:
            raise ValueError("durations and the window must be positive")
        if part_target_ms > target_duration_s * 1000:
            raise ValueError("the part target cannot exceed the target duration")
        if media_sequence < 0:
            raise ValueError("the media sequence cannot be negative")
        _check_line(prefix, "URI prefix")
        self._prefix = prefix
        self._target_s = target_duration_s
        self._part_target_ms = part_target_ms
        self._window = window_size
        self._segments: deque[_Segment] = deque()
        self._next_msn = media_sequence
        self._discontinuity_sequence = 0
        self._clock_ms = 0
        self._ended = False
        self._pending_discontinuity = False
        self.version = 0

    # --- facts -------------------------------------------------------------------------

    @property
    def part_target_ms(self) -> int:
        """PART-TARGET in ms."""
        return self._part_target_ms

    @property
    def target_duration_s(self) -> int:
        """EXT-X-TARGETDURATION."""
        return self._target_s

    @property
    def media_sequence(self) -> int:
        """MSN of the first segment listed (or of the next one, while none is)."""
        return self._segments[0].msn if self._segments else self._next_msn

    @property
    def ended(self) -> bool:
        """EXT-X-ENDLIST is listed."""
        return self._ended

    @property
    def advance_part_limit(self) -> int:
        """Parts a request may ask for beyond the last one (RFC 8216bis 6.2.5.2)."""
        if self._part_target_ms < 1000:
            return math.ceil(3000 / self._part_target_ms)
        return 3

    @property
    def last_part(self) -> tuple[int, int] | None:
        """``(msn, part)`` of the newest part listed, if any."""
        if not self._segments:
            return None
        newest = self._segments[-1]  # a segment is made with its first part
        return newest.msn, len(newest.parts) - 1

    @property
    def next_part(self) -> tuple[int, int]:
        """``(msn, part)`` of the part the preload hint names."""
        if self._segments and not self._segments[-1].complete:
            return self._segments[-1].msn, len(self._segments[-1].parts)
        return self._next_msn, 0

    @property
    def parts_listed_from(self) -> int:
        """MSN of the first segment whose parts the playlist lists (those of complete
        segments older than three target durations are left out, RFC 8216bis 6.2.2);
        the next segment's while none is listed."""
        parts_from_ms = self._parts_from_ms()
        for segment in self._segments:
            if _lists_parts(segment, parts_from_ms):
                return segment.msn
        return self._next_msn

    def _parts_from_ms(self) -> int:
        return self._clock_ms - PART_LISTED_TARGETS * self._target_s * 1000

    def part_duration(self, msn: int, part: int) -> int | None:
        """The duration of part ``part`` of segment ``msn`` in ms (``None``: not listed)."""
        for segment in self._segments:
            if segment.msn == msn and part < len(segment.parts):
                return segment.parts[part][0]
        return None

    def segment_uri(self, msn: int) -> str:
        """The URI of segment ``msn``."""
        return f"{self._prefix}{msn}.m4s"

    def part_uri(self, msn: int, part: int) -> str:
        """The URI of part ``part`` of segment ``msn``."""
        return f"{self._prefix}{msn}.{part}.m4s"

    def report(self, uri: str) -> RenditionReport | None:
        """This playlist's EXT-X-RENDITION-REPORT as another rendition's playlist lists
        it at ``uri``: its newest part that is not a gap (``None`` while there is none)."""
        for segment in reversed(self._segments):
            for index in range(len(segment.parts) - 1, -1, -1):
                if not segment.parts[index][2]:
                    return RenditionReport(uri=uri, last_msn=segment.msn, last_part=index)
        return None

    @property
    def discontinuity_sequence(self) -> int:
        """The Discontinuity Sequence Number of the newest segment listed
        (EXT-X-DISCONTINUITY-SEQUENCE plus the segments' EXT-X-DISCONTINUITY tags)."""
        listed = sum(segment.discontinuity for segment in self._segments)
        return self._discontinuity_sequence + listed

    # --- changes -----------------------------------------------------------------------

    def continue_at(self, msn: int, discontinuity_sequence: int) -> None:
        """Go on from a playlist of the same stream that another writer left: number the
        first segment ``msn``, list EXT-X-DISCONTINUITY-SEQUENCE ``discontinuity_sequence``
        and mark the first segment EXT-X-DISCONTINUITY.

        Raises:
            RuntimeError: A segment is listed already, or ``msn`` is below the next one.
            ValueError: A negative discontinuity sequence.
        """
        if discontinuity_sequence < 0:
            raise ValueError("the discontinuity sequence cannot be negative")
        self.start_at(msn)
        self._discontinuity_sequence = discontinuity_sequence
        self._pending_discontinuity = True

    def start_at(self, msn: int) -> None:
        """Number the first segment ``msn``: a rendition aligned with another that began
        earlier takes its numbers (segment numbers cannot skip once listed).

        Raises:
            RuntimeError: A segment is listed already, or ``msn`` is below the next one.
        """
        if self._segments or msn < self._next_msn:
            raise RuntimeError("only a playlist with no segment yet starts at a later number")
        self._next_msn = msn
        self.version += 1

    def add_part(
        self,
        duration_ms: int,
        *,
        independent: bool,
        map_uri: str,
        program_date_time: datetime | None = None,
        gap: bool = False,
    ) -> tuple[int, int]:
        """List a part: in the open segment, or opening the next one.

        Args:
            duration_ms: Its duration; at most the part target.
            independent: It starts with a keyframe (INDEPENDENT=YES; never on a gap).
            map_uri: EXT-X-MAP of its segment (used when the part opens the segment).
            program_date_time: Wall clock of its first sample (timezone-aware); used
                when it opens a segment.
            gap: This rendition has no media for it (GAP=YES, module rules).

        Returns:
            ``(msn, part)`` of the part.

        Raises:
            HLSError: It is longer than the part target, or a bad ``map_uri`` or date.
            RuntimeError: The playlist has ended.
        """
        if self._ended:
            raise RuntimeError("part added after EXT-X-ENDLIST")
        if not 0 <= duration_ms <= self._part_target_ms:
            raise HLSError(
                f"a part of {duration_ms} ms against PART-TARGET {self._part_target_ms} ms"
            )
        if self._segments and not self._segments[-1].complete:
            segment = self._segments[-1]
        else:
            _check_line(map_uri, "EXT-X-MAP URI")
            if program_date_time is not None and program_date_time.utcoffset() is None:
                raise HLSError("EXT-X-PROGRAM-DATE-TIME needs a timezone-aware datetime")
            segment = _Segment(
                msn=self._next_msn,
                map_uri=map_uri,
                program_date_time=program_date_time,
                discontinuity=self._pending_discontinuity,
                start_ms=self._clock_ms,
            )
            self._next_msn += 1
            self._pending_discontinuity = False
            self._segments.append(segment)
        if (segment.duration_ms + duration_ms + 500) // 1000 > self._target_s:
            raise HLSError(
                f"segment {segment.msn} would exceed EXT-X-TARGETDURATION:{self._target_s}"
            )
        segment.parts.append((duration_ms, independent and not gap, gap))
        self._clock_ms += duration_ms
        self.version += 1
        return segment.msn, len(segment.parts) - 1

    def fill_gaps(self, leader: LLPlaylist, until: tuple[int, int], *, map_uri: str) -> int:
        """List as GAP parts the parts ``leader`` lists from this playlist's next part up
        to ``until`` (excluded), ending segments where the leader's end: a rendition
        aligned with ``leader`` that had no media for them goes on with its numbers.

        Args:
            leader: The playlist whose numbers and durations this one follows; a segment
                a gap part opens takes its EXT-X-PROGRAM-DATE-TIME.
            until: The first part not to fill.
            map_uri: EXT-X-MAP of a segment a gap part opens.

        Returns:
            How many gap parts were listed: none when the leader no longer lists this
            playlist's next part (it left the leader's window).
        """
        added = 0
        for segment in leader._segments:
            for index, (duration_ms, _, _) in enumerate(segment.parts):
                at = (segment.msn, index)
                if at < until and at == self.next_part:
                    self.add_part(
                        duration_ms,
                        independent=False,
                        map_uri=map_uri,
                        program_date_time=segment.program_date_time,
                        gap=True,
                    )
                    added += 1
            if segment.complete and (segment.msn + 1, 0) <= until:
                if self.next_part == (segment.msn, len(segment.parts)):
                    self.end_segment()
        return added

    def end_segment(self, *, discontinuity: bool = False) -> int | None:
        """Complete the open segment: it gets its EXTINF; the next part opens another.

        Args:
            discontinuity: The next segment follows a break (EXT-X-DISCONTINUITY).

        Returns:
            The MSN of the first segment still listed, after sliding the window; parts
            and segments below it may be forgotten once players are done with them.
            ``None`` if no segment was open.
        """
        self._pending_discontinuity = self._pending_discontinuity or discontinuity
        if not self._segments or self._segments[-1].complete:
            return None
        self._segments[-1].complete = True
        while len(self._segments) > self._window:
            old = self._segments.popleft()
            self._discontinuity_sequence += old.discontinuity
        self.version += 1
        return self._segments[0].msn

    def end(self) -> None:
        """Complete the open segment and add EXT-X-ENDLIST (idempotent)."""
        if self._ended:
            return
        self.end_segment()
        self._ended = True
        self.version += 1

    def resume(self) -> None:
        """Withdraw EXT-X-ENDLIST: the stream goes on after a break (the next segment
        carries EXT-X-DISCONTINUITY)."""
        if self._ended:
            self._ended = False
            self._pending_discontinuity = True
            self.version += 1

    # --- requests ----------------------------------------------------------------------

    def has(self, msn: int, part: int | None = None) -> bool:
        """The playlist contains segment ``msn`` (part ``part``) or a later one."""
        last = self.last_part
        if last is None:
            return False
        if part is None:
            return msn <= last[0]
        return (msn, part) <= last

    def reload(self, request: ReloadRequest) -> Reload:
        """Whether a blocking request can be answered now (module rules)."""
        if request.msn is None or self._ended or self.has(request.msn, request.part):
            return Reload.READY
        last_msn, last_index = self.last_part or (self._next_msn - 1, -1)
        if request.msn > last_msn + MAX_MSN_AHEAD:
            return Reload.TOO_FAR
        part = request.part or 0
        ahead = part - last_index if request.msn == last_msn else part + 1
        if ahead > self.advance_part_limit:
            return Reload.TOO_FAR
        return Reload.WAIT

    # --- text --------------------------------------------------------------------------

    @property
    def can_skip_until_ms(self) -> int:
        """CAN-SKIP-UNTIL in ms."""
        return SKIP_TARGETS * self._target_s * 1000

    def render(self, *, skip: bool = False, reports: Sequence[RenditionReport] = ()) -> str:
        """The playlist text: full, or a delta update with ``skip``.

        Args:
            skip: Replace the segments older than CAN-SKIP-UNTIL by EXT-X-SKIP.
            reports: EXT-X-RENDITION-REPORT of the other renditions.
        """
        hold_back_ms = PART_HOLD_BACK_TARGETS * self._part_target_ms
        lines = [
            "#EXTM3U",
            f"#EXT-X-VERSION:{LL_PLAYLIST_VERSION}",
            f"#EXT-X-TARGETDURATION:{self._target_s}",
            f"#EXT-X-PART-INF:PART-TARGET={_seconds(self._part_target_ms)}",
            "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,"
            f"PART-HOLD-BACK={_seconds(hold_back_ms)},"
            f"CAN-SKIP-UNTIL={_seconds(self.can_skip_until_ms)}",
            f"#EXT-X-MEDIA-SEQUENCE:{self.media_sequence}",
        ]
        if self._discontinuity_sequence:
            lines.append(f"#EXT-X-DISCONTINUITY-SEQUENCE:{self._discontinuity_sequence}")
        segments = list(self._segments)
        skipped = 0
        if skip:
            boundary = self._clock_ms - self.can_skip_until_ms
            while (
                skipped < len(segments)
                and segments[skipped].complete
                and (segments[skipped].start_ms + segments[skipped].duration_ms <= boundary)
            ):
                skipped += 1
            lines.append(f"#EXT-X-SKIP:SKIPPED-SEGMENTS={skipped}")
        parts_from_ms = self._parts_from_ms()
        map_uri = None  # written before the first segment listed, delta updates included
        for segment in segments[skipped:]:
            if segment.discontinuity:
                lines.append("#EXT-X-DISCONTINUITY")
            if segment.map_uri != map_uri:
                map_uri = segment.map_uri
                lines.append(f'#EXT-X-MAP:URI="{map_uri}"')
            if segment.program_date_time is not None:
                stamp = segment.program_date_time.isoformat(timespec="milliseconds")
                lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{stamp.replace('+00:00', 'Z')}")
            if _lists_parts(segment, parts_from_ms):
                for index, (duration, independent, gap) in enumerate(segment.parts):
                    attrs = (
                        f'DURATION={_seconds(duration)},URI="{self.part_uri(segment.msn, index)}"'
                    )
                    if independent:
                        attrs += ",INDEPENDENT=YES"
                    if gap:
                        attrs += ",GAP=YES"
                    lines.append(f"#EXT-X-PART:{attrs}")
            if segment.complete:
                if any(gap for _, _, gap in segment.parts):
                    lines.append("#EXT-X-GAP")
                lines.append(f"#EXTINF:{_seconds(segment.duration_ms)},")
                lines.append(self.segment_uri(segment.msn))
        if self._ended:
            lines.append("#EXT-X-ENDLIST")
        else:
            msn, part = self.next_part
            lines.append(f'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="{self.part_uri(msn, part)}"')
        for report in reports:
            lines.append(
                f'#EXT-X-RENDITION-REPORT:URI="{report.uri}",'
                f"LAST-MSN={report.last_msn},LAST-PART={report.last_part}"
            )
        return "\n".join(lines) + "\n"
