"""Message text: clean-up, ``:code:`` emote parsing into segments, blocked terms.

Parsing happens once, on the server, so that clients render segments without
re-parsing and every client sees the same result.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from trioflix.chat.protocol import ChatError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = [
    "EMOTE_CODE",
    "GLOBAL_EMOTES",
    "Emote",
    "clean_text",
    "find_blocked_term",
    "is_emote_only",
    "parse_segments",
]

EMOTE_CODE = re.compile(r"^[A-Za-z0-9_]{2,32}$")
_EMOTE_REF = re.compile(r":([A-Za-z0-9_]{2,32}):")
# C0/C1 controls, line and paragraph separators, bidi overrides: a chat line is one line,
# and a stray U+202E reverses what everyone after it reads.
_UNWANTED = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


@dataclass(frozen=True, slots=True, kw_only=True)
class Emote:
    """An emote. Global ones are Unicode emoji (``emoji``); channel ones are images (``url``)."""

    code: str
    emoji: str | None = None
    url: str | None = None
    id: int | None = None

    def public(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code}
        if self.emoji is not None:
            body["emoji"] = self.emoji
        if self.url is not None:
            body["url"] = self.url
        if self.id is not None:
            body["id"] = self.id
        return body


GLOBAL_EMOTES: dict[str, Emote] = {
    e.code: e
    for e in (
        Emote(code="smile", emoji="\U0001f642"),
        Emote(code="laugh", emoji="\U0001f602"),
        Emote(code="heart", emoji="\u2764\ufe0f"),
        Emote(code="fire", emoji="\U0001f525"),
        Emote(code="clap", emoji="\U0001f44f"),
        Emote(code="wave", emoji="\U0001f44b"),
        Emote(code="thinking", emoji="\U0001f914"),
        Emote(code="gg", emoji="\U0001f3c6"),
        Emote(code="sad", emoji="\U0001f622"),
        Emote(code="wow", emoji="\U0001f62e"),
    )
}


def clean_text(text: str, max_length: int) -> str:
    """Normalise (NFC), replace control characters by spaces, strip; enforce the length.

    Raises:
        ChatError: ``empty_message`` or ``message_too_long`` (length in code points).
    """
    cleaned = _UNWANTED.sub(" ", unicodedata.normalize("NFC", text)).strip()
    if not cleaned:
        raise ChatError("empty_message", "the message is empty")
    if len(cleaned) > max_length:
        raise ChatError(
            "message_too_long", f"the message has {len(cleaned)} characters; at most {max_length}"
        )
    return cleaned


def parse_segments(text: str, emotes: Mapping[str, Emote]) -> list[dict[str, Any]]:
    """Split ``text`` into ``{"type": "text"}`` and ``{"type": "emote"}`` segments.

    ``:code:`` becomes an emote segment when ``code`` is in ``emotes``; anything else
    stays text, and adjacent text is merged.
    """
    segments: list[dict[str, Any]] = []
    pending: list[str] = []
    position = 0
    for match in _EMOTE_REF.finditer(text):
        emote = emotes.get(match.group(1))
        if emote is None:
            continue
        pending.append(text[position : match.start()])
        if any(pending):
            segments.append({"type": "text", "text": "".join(pending)})
        pending = []
        segments.append({"type": "emote", **emote.public()})
        position = match.end()
    pending.append(text[position:])
    if any(pending):
        segments.append({"type": "text", "text": "".join(pending)})
    return segments


def is_emote_only(segments: Iterable[dict[str, Any]]) -> bool:
    """True when every non-blank segment is an emote (and there is at least one)."""
    seen = False
    for segment in segments:
        if segment["type"] == "emote":
            seen = True
        elif segment["text"].strip():
            return False
    return seen


def find_blocked_term(text: str, terms: Iterable[str]) -> str | None:
    """The first blocked term ``text`` contains, case-insensitively; ``None`` if clean.

    Terms are stored casefolded (see :func:`normalise_term`).
    """
    folded = text.casefold()
    for term in terms:
        if term in folded:
            return term
    return None


def normalise_term(term: str) -> str:
    return unicodedata.normalize("NFC", term).strip().casefold()
