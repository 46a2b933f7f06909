"""iCalendar (RFC 5545), sans-IO: a feed of events written as ``text/calendar`` octets.

Only what a subscribed schedule needs: one VCALENDAR of VEVENTs in UTC, with
text escaping and line folding done as the RFC says::

    body = ical.write_calendar(
        [ical.Event(uid="7@example.org", start=start, duration_s=3600, stamp=changed,
                    sequence=2, summary="Speedrun, part 2; no spoilers")],
        prodid="-//example//schedule//EN",
    )
"""

from __future__ import annotations

from ._calendar import Event as Event
from ._calendar import escape_text as escape_text
from ._calendar import fold as fold
from ._calendar import format_duration as format_duration
from ._calendar import format_utc as format_utc
from ._calendar import write_calendar as write_calendar

__all__ = ["Event", "escape_text", "fold", "format_duration", "format_utc", "write_calendar"]
