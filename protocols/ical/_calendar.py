"""An iCalendar (RFC 5545) writer for a feed of events: VCALENDAR with VEVENTs.

Rules (the sections of RFC 5545 they come from):

- Lines end with CRLF, and a content line longer than 75 octets is folded: CRLF
  followed by one space, never inside a UTF-8 sequence (3.1).
- TEXT values escape backslash, semicolon and comma with a backslash, and a
  newline as ``\\n`` (3.3.11); a carriage return is dropped (CRLF becomes one
  newline).
- DATE-TIME values are written in UTC with the ``Z`` suffix (3.3.5, form #2), so
  that no VTIMEZONE is needed; DURATION as ``PnDTnHnMnS`` (3.3.6).
- Every VEVENT has UID and DTSTAMP (3.6.1); a feed's events keep their UID across
  edits and raise SEQUENCE (3.8.7.4), so subscribers update them in place.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

__all__ = ["Event", "escape_text", "fold", "format_duration", "format_utc", "write_calendar"]

MAX_LINE_OCTETS = 75  # RFC 5545 3.1: "Lines of text SHOULD NOT be longer than 75 octets"


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """One VEVENT.

    Attributes:
        uid: Globally unique and stable for the life of the event.
        start: When it starts; any time zone (written in UTC).
        duration_s: How long it is expected to last, in seconds.
        stamp: When this version of the event was last changed (DTSTAMP).
        sequence: How many times it was revised.
        summary: The title.
        description: Free text.
        url: Where to see it.
        status: CANCELLED keeps a called-off event visible as such.
        created: When it was first made.
    """

    uid: str
    start: datetime
    duration_s: int
    stamp: datetime
    sequence: int
    summary: str
    description: str = ""
    url: str | None = None
    status: Literal["TENTATIVE", "CONFIRMED", "CANCELLED"] = "CONFIRMED"
    created: datetime | None = None

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.stamp.tzinfo is None:
            raise ValueError("event times must carry a time zone")
        if self.duration_s < 0 or self.sequence < 0:
            raise ValueError("duration and sequence cannot be negative")


def escape_text(value: str) -> str:
    """A TEXT value, escaped (3.3.11)."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    for raw, escaped in (("\\", "\\\\"), (";", "\\;"), (",", "\\,"), ("\n", "\\n")):
        value = value.replace(raw, escaped)
    return value


def fold(line: str) -> bytes:
    """One content line as octets with its CRLF, folded at 75 octets (3.1)."""
    out = bytearray()
    room = MAX_LINE_OCTETS
    for char in line:
        encoded = char.encode()
        if len(encoded) > room:
            out += b"\r\n "
            room = MAX_LINE_OCTETS - 1  # the continuation's leading space counts
        out += encoded
        room -= len(encoded)
    return bytes(out + b"\r\n")


def format_utc(moment: datetime) -> str:
    """A DATE-TIME in UTC: ``19980119T070000Z`` (3.3.5)."""
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def format_duration(seconds: int) -> str:
    """A DURATION: ``PT1H30M``, ``P1DT2H``, ``PT0S`` (3.3.6)."""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M"), (secs, "S")) if n)
    text = "P" + (f"{days}D" if days else "") + (f"T{clock}" if clock else "")
    return text if text != "P" else "PT0S"


def _event_lines(event: Event) -> list[str]:
    lines = [
        "BEGIN:VEVENT",
        f"UID:{escape_text(event.uid)}",
        f"DTSTAMP:{format_utc(event.stamp)}",
        f"DTSTART:{format_utc(event.start)}",
        f"DURATION:{format_duration(event.duration_s)}",
        f"SEQUENCE:{event.sequence}",
        f"STATUS:{event.status}",
        f"SUMMARY:{escape_text(event.summary)}",
    ]
    if event.description:
        lines.append(f"DESCRIPTION:{escape_text(event.description)}")
    if event.url is not None:
        lines.append(f"URL:{event.url}")  # a URI value is not TEXT: written as it is
    if event.created is not None:
        lines.append(f"CREATED:{format_utc(event.created)}")
    lines.append("END:VEVENT")
    return lines


def write_calendar(events: list[Event], *, prodid: str, name: str | None = None) -> bytes:
    """A VCALENDAR holding ``events``, as the octets of an ``text/calendar`` body.

    Args:
        events: Its VEVENTs, in order.
        prodid: Who made it (3.7.3), e.g. ``-//trioflix//schedule//EN``.
        name: The calendar's name as calendar apps show it (``X-WR-CALNAME`` and
            RFC 7986's ``NAME``).
    """
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{escape_text(prodid)}",
        "CALSCALE:GREGORIAN",
    ]
    if name is not None:
        lines += [f"NAME:{escape_text(name)}", f"X-WR-CALNAME:{escape_text(name)}"]
    for event in events:
        lines += _event_lines(event)
    lines.append("END:VCALENDAR")
    return b"".join(fold(line) for line in lines)
