"""trickle-ice-sdpfrag bodies (RFC 8840 9): a client's ICE lines after its offer.

Rules:

- A body is SDP lines, ``<type>=<value>``, the type one character; CRLF or LF
  between lines, blank lines ignored.
- ``a=ice-ufrag`` and ``a=ice-pwd`` name the ICE session the candidates belong
  to; a candidate (``a=candidate:``) belongs to the media section it stands in:
  the ``m=`` line before it and that section's ``a=mid`` so far (RFC 8840 9:
  the section is identified by its ``a=mid`` and its ``m=`` line).
- ``a=end-of-candidates`` says the client has no more (RFC 8838 8.2).
- Other lines (``c=``, ``a=sendrecv``, a whole offer's ``v=``/``o=``...) are
  skipped: a whole SDP reads as the fragment of its ICE lines.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "MAX_CANDIDATES",
    "Candidate",
    "Fragment",
    "SdpFragError",
    "format_fragment",
    "parse_fragment",
]

# A host has a candidate per address, transport and (with TURN) relay: a few dozen
# at most. More in one body is not a trickle.
MAX_CANDIDATES = 64
_SHOWN_CHARS = 60  # of a refused line, in the error: enough to recognise it


class SdpFragError(ValueError):
    """The text is not a trickle-ice-sdpfrag body (or a fragment cannot be written)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Candidate:
    """One ``a=candidate`` line and the media section it came in.

    Attributes:
        value: The attribute's value after ``candidate:`` (RFC 8839 5.1:
            foundation, component, transport, priority, address, port, ``typ`` ...).
        mid: The section's ``a=mid`` (``None``: none before the candidate).
        media: The section's ``m=`` line value (``None``: before any section).
    """

    value: str
    mid: str | None = None
    media: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Fragment:
    """What a trickle-ice-sdpfrag body says.

    Attributes:
        ufrag: Its ``a=ice-ufrag`` (``None``: not given).
        pwd: Its ``a=ice-pwd`` (``None``: not given).
        candidates: Its candidates, in order.
        end: It says ``a=end-of-candidates``: the client has no more.
    """

    ufrag: str | None = None
    pwd: str | None = None
    candidates: tuple[Candidate, ...] = ()
    end: bool = False


def parse_fragment(text: str) -> Fragment:
    """The ICE lines of a trickle-ice-sdpfrag body (or of a whole SDP).

    Raises:
        SdpFragError: A line is no SDP line, or there are more than
            :data:`MAX_CANDIDATES` candidates.
    """
    ufrag = pwd = mid = media = None
    candidates: list[Candidate] = []
    end = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        kind, equals, value = line.partition("=")
        if not equals or len(kind) != 1:
            raise SdpFragError(f"not an SDP line: {line[:_SHOWN_CHARS]!r}")
        if kind == "m":
            media, mid = value, None  # a new media section: its a=mid follows
        if kind != "a":
            continue
        name, _, argument = value.partition(":")
        if name == "ice-ufrag":
            ufrag = argument
        elif name == "ice-pwd":
            pwd = argument
        elif name == "mid":
            mid = argument
        elif name == "candidate":
            if len(candidates) == MAX_CANDIDATES:
                raise SdpFragError(f"more than {MAX_CANDIDATES} candidates in one fragment")
            candidates.append(Candidate(value=argument, mid=mid, media=media))
        elif name == "end-of-candidates":
            end = True
    return Fragment(ufrag=ufrag, pwd=pwd, candidates=tuple(candidates), end=end)


def format_fragment(fragment: Fragment) -> str:
    """``fragment`` as a trickle-ice-sdpfrag body (CRLF lines), which
    :func:`parse_fragment` reads back as ``fragment``.

    A candidate's section opens with its ``m=`` line where the section changes, then
    its ``a=mid`` where that changes.

    Raises:
        SdpFragError: A candidate without ``media`` follows one with a section: a
            section cannot be left but by another ``m=`` line.
    """
    lines = []
    if fragment.ufrag is not None:
        lines.append(f"a=ice-ufrag:{fragment.ufrag}")
    if fragment.pwd is not None:
        lines.append(f"a=ice-pwd:{fragment.pwd}")
    media = mid = None
    for candidate in fragment.candidates:
        # A mid cannot go back to none within a section: that is a new section.
        if candidate.media != media or (candidate.mid is None and mid is not None):
            if candidate.media is None:
                raise SdpFragError(f"candidate {candidate.value!r} has no section after one")
            lines.append(f"m={candidate.media}")
            media, mid = candidate.media, None
        if candidate.mid != mid:
            lines.append(f"a=mid:{candidate.mid}")
            mid = candidate.mid
        lines.append(f"a=candidate:{candidate.value}")
    if fragment.end:
        lines.append("a=end-of-candidates")
    return "".join(f"{line}\r\n" for line in lines)
