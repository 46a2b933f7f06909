"""The live ABR ladder as configured: ``TRIOFLIX_HLS_LADDER=1080p,720p,480p,360p`` or ``off``.

Each entry is ``<height>p`` with an optional video bit rate, ``720p:2500k``. Only
rungs strictly below the source's height are transcoded for a given stream (the
source itself is always offered as the passthrough rendition); widths follow the
source's aspect ratio, rounded to even numbers as 4:2:0 needs.

Pure and cheap to import: :mod:`trioflix.config` validates with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

__all__ = ["CUT_MARKER", "DEFAULT_LADDER", "PlannedRung", "RungSpec", "parse_ladder", "plan_rungs"]

# The script-data message the server sends the ladder's child process before the frame
# that opens a source segment. Here, beside the ladder's other shared facts, so that the
# server side names it without importing the child process's module.
CUT_MARKER: Final = "onCut"

DEFAULT_LADDER: Final = "1080p,720p,480p,360p"
# Video bit rates for 30 fps H.264 at x264 veryfast; the usual live-streaming figures.
_DEFAULT_KBPS: Final = {1080: 5000, 720: 2800, 480: 1400, 360: 800, 240: 400}
MIN_HEIGHT: Final = 90
MAX_HEIGHT: Final = 4320
_ENTRY = re.compile(r"^(\d{2,4})p(?::(\d{2,6})k)?$")


@dataclass(frozen=True, slots=True)
class RungSpec:
    """One configured rung: output height and video bit rate."""

    height: int
    video_kbps: int

    @property
    def name(self) -> str:
        return f"{self.height}p"


def _default_kbps(height: int) -> int:
    if height in _DEFAULT_KBPS:
        return _DEFAULT_KBPS[height]
    # Bit rate grows roughly with the pixel count; anchor on 720p.
    return max(150, round(2800 * (height / 720) ** 2))


def parse_ladder(text: str) -> tuple[RungSpec, ...]:
    """Parse a ladder setting; ``off`` (or empty) is no ladder.

    Raises:
        ValueError: An entry is not ``<height>p[:<kbps>k]``, a height is out of range or
            repeated.
    """
    text = text.strip().lower()
    if text in ("", "off", "none"):
        return ()
    rungs: list[RungSpec] = []
    for raw in text.split(","):
        match = _ENTRY.match(raw.strip())
        if match is None:
            raise ValueError(f"ladder entry {raw.strip()!r} is not like 720p or 720p:2800k")
        height = int(match.group(1))
        if not MIN_HEIGHT <= height <= MAX_HEIGHT or height % 2:
            raise ValueError(f"ladder height {height} must be even, {MIN_HEIGHT}..{MAX_HEIGHT}")
        kbps = int(match.group(2)) if match.group(2) else _default_kbps(height)
        if any(r.height == height for r in rungs):
            raise ValueError(f"ladder height {height}p is listed twice")
        rungs.append(RungSpec(height, kbps))
    return tuple(sorted(rungs, key=lambda r: -r.height))


@dataclass(frozen=True, slots=True)
class PlannedRung:
    """A rung for one stream: its name, output size and bit rate."""

    name: str
    width: int
    height: int
    video_kbps: int


def plan_rungs(
    ladder: tuple[RungSpec, ...], source_width: int, source_height: int
) -> list[PlannedRung]:
    """The rungs to transcode for a source of this size (those below its height)."""
    planned = []
    for rung in ladder:
        if rung.height >= source_height or source_height <= 0:
            continue
        width = round(source_width * rung.height / source_height / 2) * 2
        planned.append(PlannedRung(rung.name, max(width, 2), rung.height, rung.video_kbps))
    return planned
