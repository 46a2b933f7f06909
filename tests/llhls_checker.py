"""An RFC 8216bis checker for Low-Latency HLS media playlists, written for the tests.

It shares no code with :mod:`protocols.hls`: it parses the text the server serves and
checks it against the specification's rules, so the renderer does not check itself.

- :func:`parse` reads one playlist and checks the rules that hold within it: the
  header tags, part durations within PART-TARGET, segment durations within
  EXT-X-TARGETDURATION and equal to the sum of their parts, part numbering (a segment
  lists all its parts from the first, or none), a preload hint on every live playlist
  naming a part not yet listed, EXT-X-MAP before the first segment; GAP parts
  (``GAP=YES``, never INDEPENDENT) and EXT-X-GAP: a complete segment listing its parts
  carries EXT-X-GAP exactly when one of them is a gap.
- :class:`History` checks a run of playlists of one rendition: numbering never goes
  back, a (segment, part) keeps its URI and duration, a hinted part is the next one
  listed, and a delta update agrees with the full playlist around it.
- :func:`reports` reads a playlist's EXT-X-RENDITION-REPORTs and checks that there is
  one for every other rendition offered; the caller asks each rendition for the part
  reported (a blocking reload that must answer at once, with that part listed, and not
  as a gap).
- :func:`check_alignment` checks the runs of several renditions against each other:
  a part number (and a segment number) lasts as long in every rendition that has it,
  and a segment has as many parts in each.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = [
    "History",
    "Part",
    "Playlist",
    "PlaylistError",
    "Segment",
    "check_alignment",
    "parse",
    "reports",
]

_ATTR = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)')
# RFC 8216bis 4.4.3.8: PART-HOLD-BACK at least twice the part target (SHOULD: three times);
# this server promises three.
HOLD_BACK_PARTS = 3
SKIP_TARGETS = 6  # 4.4.3.8: CAN-SKIP-UNTIL at least six target durations


class PlaylistError(AssertionError):
    """The playlist breaks a rule; the message says which, with the playlist."""


@dataclass(frozen=True)
class Part:
    """One EXT-X-PART."""

    uri: str
    duration: float
    independent: bool
    gap: bool = False


@dataclass
class Segment:
    """One media segment: its parts, and (once complete) its EXTINF and URI."""

    msn: int
    parts: list[Part] = field(default_factory=list)
    duration: float | None = None
    uri: str | None = None
    program_date_time: str | None = None
    map_uri: str | None = None
    discontinuity: bool = False
    gap: bool = False


@dataclass
class Playlist:
    """What :func:`parse` read."""

    text: str
    target_duration: int
    part_target: float
    media_sequence: int
    skipped: int | None
    segments: list[Segment]
    hint: str | None
    ended: bool
    hold_back: float
    skip_until: float
    reports: list[dict[str, str]]

    @property
    def last_part(self) -> tuple[int, int] | None:
        for segment in reversed(self.segments):
            if segment.parts:
                return segment.msn, len(segment.parts) - 1
        return None


def _attrs(value: str) -> dict[str, str]:
    return {k: v.strip('"') for k, v in _ATTR.findall(value)}


def _fail(text: str, why: str) -> PlaylistError:
    return PlaylistError(f"{why}\n--- playlist ---\n{text}")


def parse(text: str) -> Playlist:
    """Parse one LL-HLS media playlist, checking the rules that hold within it.

    Raises:
        PlaylistError: A rule is broken.
    """
    lines = text.splitlines()
    if not lines or lines[0] != "#EXTM3U" or not text.endswith("\n"):
        raise _fail(text, "must start with #EXTM3U and end with a newline")
    tags: dict[str, str] = {}
    segments: list[Segment] = []
    reports: list[dict[str, str]] = []
    hint = None
    ended = False
    pending: Segment | None = None
    current_map = None
    skipped = None
    msn = None
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name in (
            "#EXT-X-VERSION",
            "#EXT-X-TARGETDURATION",
            "#EXT-X-PART-INF",
            "#EXT-X-SERVER-CONTROL",
            "#EXT-X-MEDIA-SEQUENCE",
            "#EXT-X-DISCONTINUITY-SEQUENCE",
        ):
            if segments or pending:
                raise _fail(text, f"{name} after the first segment")
            if name in tags:
                raise _fail(text, f"{name} twice")
            tags[name] = value
            if name == "#EXT-X-MEDIA-SEQUENCE":
                msn = int(value)
            continue
        if msn is None and line:
            raise _fail(text, f"{line!r} before EXT-X-MEDIA-SEQUENCE")
        if pending is None and (
            line.startswith(("#EXT-X-PART:", "#EXTINF", "#EXT-X-PROGRAM-DATE-TIME", "#EXT-X-MAP"))
            or line in ("#EXT-X-DISCONTINUITY", "#EXT-X-GAP")
        ):
            if hint is not None:
                raise _fail(text, "a segment after EXT-X-PRELOAD-HINT")
            assert msn is not None
            pending = Segment(msn=msn)
            msn += 1
        if name == "#EXT-X-SKIP":
            if segments or pending:
                raise _fail(text, "EXT-X-SKIP must come before every segment")
            skipped = int(_attrs(value)["SKIPPED-SEGMENTS"])
            assert msn is not None  # lines before EXT-X-MEDIA-SEQUENCE failed above
            msn += skipped
        elif line == "#EXT-X-DISCONTINUITY":
            assert pending is not None
            pending.discontinuity = True
        elif line == "#EXT-X-GAP":
            assert pending is not None
            pending.gap = True
        elif name == "#EXT-X-MAP":
            assert pending is not None
            current_map = _attrs(value)["URI"]
        elif name == "#EXT-X-PROGRAM-DATE-TIME":
            assert pending is not None
            pending.program_date_time = value
        elif name == "#EXT-X-PART":
            assert pending is not None
            attrs = _attrs(value)
            unknown = set(attrs) - {"DURATION", "URI", "INDEPENDENT", "GAP"}
            if (
                unknown
                or attrs.get("INDEPENDENT", "YES") != "YES"
                or attrs.get("GAP", "YES") != "YES"
                or {"INDEPENDENT", "GAP"} <= set(attrs)
            ):
                raise _fail(text, f"unexpected EXT-X-PART attributes {attrs}")
            pending.parts.append(
                Part(attrs["URI"], float(attrs["DURATION"]), "INDEPENDENT" in attrs, "GAP" in attrs)
            )
        elif name == "#EXTINF":
            assert pending is not None
            pending.duration = float(value.rstrip(","))
        elif name == "#EXT-X-PRELOAD-HINT":
            attrs = _attrs(value)
            if attrs.get("TYPE") != "PART" or hint is not None:
                raise _fail(text, "one EXT-X-PRELOAD-HINT of TYPE=PART")
            hint = attrs["URI"]
        elif name == "#EXT-X-RENDITION-REPORT":
            reports.append(_attrs(value))
        elif line == "#EXT-X-ENDLIST":
            ended = True
        elif line and not line.startswith("#"):
            if pending is None or pending.duration is None:
                raise _fail(text, f"URI {line!r} without EXTINF")
            pending.uri = line
            pending.map_uri = current_map
            segments.append(pending)
            pending = None
        elif line:
            raise _fail(text, f"unknown tag {line!r}")
    if pending is not None:
        if pending.duration is not None or not pending.parts:
            raise _fail(text, "the open segment must have parts and no EXTINF")
        pending.map_uri = current_map
        segments.append(pending)
    for needed in ("#EXT-X-VERSION", "#EXT-X-TARGETDURATION", "#EXT-X-PART-INF",
                   "#EXT-X-SERVER-CONTROL", "#EXT-X-MEDIA-SEQUENCE"):  # fmt: skip
        if needed not in tags:
            raise _fail(text, f"{needed} missing")
    if int(tags["#EXT-X-VERSION"]) < 9:
        raise _fail(text, "EXT-X-SKIP and CAN-SKIP-UNTIL need version 9")
    target = int(tags["#EXT-X-TARGETDURATION"])
    part_target = float(_attrs(tags["#EXT-X-PART-INF"])["PART-TARGET"])
    control = _attrs(tags["#EXT-X-SERVER-CONTROL"])
    if control.get("CAN-BLOCK-RELOAD") != "YES":
        raise _fail(text, "CAN-BLOCK-RELOAD=YES missing")
    hold_back = float(control["PART-HOLD-BACK"])
    skip_until = float(control["CAN-SKIP-UNTIL"])
    if hold_back < HOLD_BACK_PARTS * part_target - 1e-9:
        raise _fail(text, f"PART-HOLD-BACK {hold_back} below {HOLD_BACK_PARTS} part targets")
    if skip_until < SKIP_TARGETS * target:
        raise _fail(text, f"CAN-SKIP-UNTIL {skip_until} below six target durations")
    if ended == (hint is not None):
        raise _fail(text, "a live playlist needs EXT-X-PRELOAD-HINT; an ended one none")
    uris: set[str] = set()
    for i, segment in enumerate(segments):
        if segment.map_uri is None:
            raise _fail(text, f"segment {segment.msn} has no EXT-X-MAP")
        if segment.program_date_time is None:
            raise _fail(text, f"segment {segment.msn} has no EXT-X-PROGRAM-DATE-TIME")
        for part in segment.parts:
            if part.duration > part_target + 1e-9:
                raise _fail(text, f"part {part.uri} longer than PART-TARGET {part_target}")
            if part.uri in uris:
                raise _fail(text, f"{part.uri} listed twice")
            uris.add(part.uri)
        if segment.duration is not None:
            if round(segment.duration) > target:
                raise _fail(text, f"segment {segment.msn} exceeds EXT-X-TARGETDURATION")
            total = sum(p.duration for p in segment.parts)
            if segment.parts and abs(total - segment.duration) > 0.0015:
                raise _fail(text, f"segment {segment.msn}: parts sum to {total}, not its EXTINF")
            # RFC 8216bis 4.4.4.7, 4.4.4.9: a segment with a part missing is not whole media.
            if segment.parts and segment.gap != any(p.gap for p in segment.parts):
                raise _fail(text, f"segment {segment.msn}: EXT-X-GAP and its GAP parts disagree")
        elif i != len(segments) - 1:
            raise _fail(text, "only the last segment may lack EXTINF")
        elif segment.gap:  # the tag goes with the segment's URI, once it is complete
            raise _fail(text, f"EXT-X-GAP on the open segment {segment.msn}")
    if hint is not None and hint in uris:
        raise _fail(text, f"the hinted part {hint} is already listed")
    listing = [s for s in segments if s.parts]
    if listing and segments[-1].duration is None and listing[-1] is not segments[-1]:
        raise _fail(text, "the open segment lists no part")
    # Parts are listed for the newest segments only: once a segment lists them, every
    # later one does (RFC 8216bis 6.2.2 removes the oldest parts first).
    first_listing = next((i for i, s in enumerate(segments) if s.parts), len(segments))
    if any(not s.parts for s in segments[first_listing:]):
        raise _fail(text, "a segment without parts after one with parts")
    return Playlist(
        text=text,
        target_duration=target,
        part_target=part_target,
        media_sequence=int(tags["#EXT-X-MEDIA-SEQUENCE"]),
        skipped=skipped,
        segments=segments,
        hint=hint,
        ended=ended,
        hold_back=hold_back,
        skip_until=skip_until,
        reports=reports,
    )


class History:
    """The playlists of one rendition seen so far, checked against each other.

    Feed every playlist served during a run to :meth:`add`, full ones and delta updates
    alike, in the order their responses were read.
    """

    def __init__(self) -> None:
        self.parts: dict[tuple[int, int], Part] = {}
        self.segments: dict[int, Segment] = {}
        self.hints: dict[str, tuple[int, int]] = {}
        self.checked = 0
        self.deltas = 0

    def add(self, text: str) -> Playlist:
        """Parse and check ``text``; then check it against what came before.

        Raises:
            PlaylistError: A rule is broken.
        """
        playlist = parse(text)
        if playlist.skipped is not None:
            self.deltas += 1
            if playlist.skipped:
                first_kept = playlist.media_sequence + playlist.skipped
                end = sum(s.duration or sum(p.duration for p in s.parts) for s in playlist.segments)
                # Only segments older than the skip boundary may be skipped: what is
                # listed spans at least CAN-SKIP-UNTIL less one segment.
                if end + playlist.target_duration < playlist.skip_until:
                    raise _fail(text, f"skipped up to {first_kept}, inside CAN-SKIP-UNTIL")
        for segment in playlist.segments:
            known = self.segments.get(segment.msn)
            if known is not None and known.uri and segment.uri and known.uri != segment.uri:
                raise _fail(text, f"segment {segment.msn} changed its URI")
            if known is not None and known.duration is not None and segment.duration is not None:
                if abs(known.duration - segment.duration) > 1e-9 or known.gap != segment.gap:
                    raise _fail(text, f"segment {segment.msn} changed its duration or gap")
            if known is None or segment.duration is not None:
                self.segments[segment.msn] = segment
            for index, part in enumerate(segment.parts):
                seen = self.parts.setdefault((segment.msn, index), part)
                if seen != part:
                    raise _fail(text, f"part {segment.msn}.{index} changed: {seen} -> {part}")
                hinted = self.hints.get(part.uri)
                if hinted is not None and hinted != (segment.msn, index):
                    raise _fail(text, f"hinted {part.uri} came as {segment.msn}.{index}")
        if playlist.hint is not None:
            last = playlist.last_part
            open_segment = playlist.segments[-1] if playlist.segments else None
            if last is None:
                expected = (playlist.media_sequence + (playlist.skipped or 0), 0)
            elif open_segment is not None and open_segment.duration is None:
                expected = (last[0], last[1] + 1)
            else:
                expected = (last[0] + 1, 0)
            self.hints[playlist.hint] = expected
        self.checked += 1
        return playlist


def reports(playlist: Playlist, name: str, offered: set[str]) -> dict[str, tuple[int, int]]:
    """The renditions ``playlist`` (of rendition ``name``) reports on, and where.

    Args:
        playlist: A media playlist of rendition ``name``.
        name: Its rendition, a sibling directory of the others' (``../{other}/ll.m3u8``).
        offered: Every rendition the master playlist offers.

    Returns:
        ``{rendition: (LAST-MSN, LAST-PART)}`` for every other rendition offered.

    Raises:
        PlaylistError: A report is missing, names a rendition not offered (or itself), or
            its numbers are not two non-negative integers.
    """
    found: dict[str, tuple[int, int]] = {}
    for report in playlist.reports:
        uri = report.get("URI", "")
        other = uri.removeprefix("../").removesuffix("/ll.m3u8")
        if uri != f"../{other}/ll.m3u8" or other not in offered or other == name:
            raise _fail(playlist.text, f"a rendition report on {uri!r}")
        if other in found:
            raise _fail(playlist.text, f"two rendition reports on {other}")
        msn, part = report.get("LAST-MSN", ""), report.get("LAST-PART", "")
        if not (msn.isdigit() and part.isdigit()):
            raise _fail(playlist.text, f"rendition report {report}: LAST-MSN, LAST-PART")
        found[other] = (int(msn), int(part))
    if set(found) != offered - {name}:
        raise _fail(playlist.text, f"rendition reports on {sorted(found)}, not all of {offered}")
    return found


def check_alignment(
    histories: dict[str, History], *, tolerance_s: float, before_msn: int | None = None
) -> int:
    """Check the runs of several renditions' playlists against each other.

    Every (segment, part) seen in two renditions lasts as long in both, to within
    ``tolerance_s`` (the renditions' frame timing); so does every segment complete in
    both; and a segment whose parts both list has as many parts in each. Segments from
    ``before_msn`` on are left out (the last one of a stream that stopped ends where each
    rendition's frames stopped).

    Returns:
        How many (rendition pair, part) comparisons were made.

    Raises:
        PlaylistError: A rule is broken.
    """
    compared = 0
    names = sorted(histories)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            first, second = histories[a], histories[b]
            for key in first.parts.keys() & second.parts.keys():
                if before_msn is not None and key[0] >= before_msn:
                    continue
                da, db = first.parts[key].duration, second.parts[key].duration
                if abs(da - db) > tolerance_s:
                    raise PlaylistError(f"part {key}: {da} s in {a}, {db} s in {b}")
                compared += 1
            for msn in first.segments.keys() & second.segments.keys():
                if before_msn is not None and msn >= before_msn:
                    continue
                sa, sb = first.segments[msn], second.segments[msn]
                if sa.duration is not None and sb.duration is not None:
                    if abs(sa.duration - sb.duration) > tolerance_s:
                        raise PlaylistError(
                            f"segment {msn}: {sa.duration} s in {a}, {sb.duration} s in {b}"
                        )
                    if sa.parts and sb.parts and len(sa.parts) != len(sb.parts):
                        raise PlaylistError(
                            f"segment {msn}: {len(sa.parts)} parts in {a}, {len(sb.parts)} in {b}"
                        )
    return compared
