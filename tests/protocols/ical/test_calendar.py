"""The iCalendar writer, read back by an independent parser (the icalendar package)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import icalendar
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols import ical

START = datetime(2026, 12, 7, 20, 0, tzinfo=timezone(timedelta(hours=1)))
STAMP = datetime(2026, 12, 1, 9, 30, 15, tzinfo=UTC)


def _event(**fields: object) -> ical.Event:
    values: dict[str, object] = {
        "uid": "schedule-7@example.org",
        "start": START,
        "duration_s": 5400,
        "stamp": STAMP,
        "sequence": 2,
        "summary": "Speedrun",
    }
    values.update(fields)
    return ical.Event(**values)  # type: ignore[arg-type]


def _parse(body: bytes) -> icalendar.Calendar:
    return icalendar.Calendar.from_ical(body)


def test_calendar_and_event_fields() -> None:
    body = ical.write_calendar(
        [
            _event(
                description="line one\nline two",
                url="https://example.org/channel/alice",
                created=STAMP - timedelta(days=1),
            )
        ],
        prodid="-//trioflix//schedule//EN",
        name="alice",
    )
    assert body.startswith(b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\n")
    assert body.endswith(b"END:VCALENDAR\r\n")
    calendar = _parse(body)
    assert str(calendar["PRODID"]) == "-//trioflix//schedule//EN"
    assert str(calendar["VERSION"]) == "2.0"
    assert str(calendar["X-WR-CALNAME"]) == "alice"
    [event] = calendar.walk("VEVENT")
    assert str(event["UID"]) == "schedule-7@example.org"
    assert event.decoded("DTSTART") == datetime(2026, 12, 7, 19, 0, tzinfo=UTC)
    assert event.decoded("DTSTAMP") == STAMP
    assert event.decoded("DURATION") == timedelta(minutes=90)
    assert event.decoded("CREATED") == STAMP - timedelta(days=1)
    assert event.decoded("SEQUENCE") == 2
    assert str(event["STATUS"]) == "CONFIRMED"
    assert str(event["SUMMARY"]) == "Speedrun"
    assert str(event["DESCRIPTION"]) == "line one\nline two"
    assert str(event["URL"]) == "https://example.org/channel/alice"


def test_minimal_event_and_cancelled() -> None:
    body = ical.write_calendar([_event(status="CANCELLED")], prodid="-//x//y//EN")
    [event] = _parse(body).walk("VEVENT")
    assert str(event["STATUS"]) == "CANCELLED"
    assert "DESCRIPTION" not in event and "URL" not in event and "CREATED" not in event
    assert b"X-WR-CALNAME" not in body


AWKWARD = "Mario, Zelda; and C:\\games — “quotes”\r\nnext line ✨🎮 " + "é" * 80


def test_escaping_and_folding_round_trip() -> None:
    body = ical.write_calendar([_event(summary=AWKWARD, description=AWKWARD)], prodid="p")
    for line in body.split(b"\r\n"):
        assert len(line) <= 75
        line.decode()  # no UTF-8 sequence was split by a fold
    # Lenient parsers read an unescaped comma or semicolon too: the octets themselves.
    unfolded = body.replace(b"\r\n ", b"")
    assert b"SUMMARY:Mario\\, Zelda\\; and C:\\\\games" in unfolded
    assert "“quotes”\\nnext line".encode() in unfolded
    [event] = _parse(body).walk("VEVENT")
    expected = AWKWARD.replace("\r\n", "\n")
    assert str(event["SUMMARY"]) == expected
    assert str(event["DESCRIPTION"]) == expected


@given(st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\r"), max_size=300))
def test_any_text_survives(text: str) -> None:
    body = ical.write_calendar([_event(summary=text or "x", description=text)], prodid="p")
    assert all(len(line) <= 75 for line in body.split(b"\r\n"))
    [event] = _parse(body).walk("VEVENT")
    assert str(event["SUMMARY"]) == (text or "x")
    if text:
        assert str(event["DESCRIPTION"]) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "PT0S"),
        (59, "PT59S"),
        (3600, "PT1H"),
        (5400, "PT1H30M"),
        (90061, "P1DT1H1M1S"),
        (86400, "P1D"),
    ],
)
def test_duration(seconds: int, text: str) -> None:
    assert ical.format_duration(seconds) == text


def test_fold_counts_octets_not_characters() -> None:
    folded = ical.fold("X:" + "€" * 40)  # 3 octets each
    lines = folded.split(b"\r\n")
    assert lines[-1] == b""
    assert all(len(line) <= 75 for line in lines)
    assert b"".join(line.removeprefix(b" ") for line in lines).decode() == "X:" + "€" * 40


@pytest.mark.parametrize(
    "fields",
    [
        {"start": datetime(2026, 1, 1)},
        {"stamp": datetime(2026, 1, 1)},
        {"duration_s": -1},
        {"sequence": -1},
    ],
)
def test_refuses_bad_events(fields: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"time zone|negative"):
        _event(**fields)
