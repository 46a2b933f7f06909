"""The structured fields (RFC 9651) the draft and RFC 9530 use, parsed and serialised.

Only the shapes they need: an Item that is a Boolean (``Upload-Complete``) or
an Integer (``Upload-Offset``, ``Upload-Length``), a Dictionary of Integers
(``Upload-Limit``, sent only) and a Dictionary of Byte Sequences
(``Content-Digest``, ``Repr-Digest``). Parameters on any of them are allowed
by RFC 9651 and ignored here. A malformed field fails the whole field
(RFC 9651 4.2), as :class:`FieldError`.
"""

from __future__ import annotations

import base64
import binascii
import re

__all__ = [
    "FieldError",
    "format_boolean",
    "format_dictionary",
    "parse_boolean",
    "parse_byte_sequence_dictionary",
    "parse_integer",
]

# RFC 9651 3.3.1: at most 15 digits, optionally negative. Parameters: ";key[=value]".
_PARAMS = r"(?:;[ ]*[a-z*][a-z0-9_.*-]*(?:=[^;,]*)?)*"
_INTEGER = re.compile(r"(-?[0-9]{1,15})" + _PARAMS)
_BOOLEAN = re.compile(r"\?([01])" + _PARAMS)
_KEY = re.compile(r"[a-z*][a-z0-9_.*-]*")
_BYTES = re.compile(r":([A-Za-z0-9+/=]*):" + _PARAMS)


class FieldError(ValueError):
    """A field value that is not the structured type it must be."""


def _item(value: str) -> str:
    # RFC 9651 4.2: leading and trailing spaces are discarded before parsing.
    return value.strip(" \t")


def parse_integer(value: str) -> int:
    """An Integer item (RFC 9651 3.3.1), e.g. ``"42"``.

    Raises:
        FieldError: Not an Integer.
    """
    found = _INTEGER.fullmatch(_item(value))
    if found is None:
        raise FieldError(f"{value!r} is not a structured-field integer")
    return int(found.group(1))


def parse_boolean(value: str) -> bool:
    """A Boolean item (RFC 9651 3.3.6): ``"?1"`` or ``"?0"``.

    Raises:
        FieldError: Not a Boolean (``"true"``, ``"1"`` and the like are not).
    """
    found = _BOOLEAN.fullmatch(_item(value))
    if found is None:
        raise FieldError(f"{value!r} is not a structured-field boolean (?1 or ?0)")
    return found.group(1) == "1"


def format_boolean(value: bool) -> str:
    """``"?1"`` or ``"?0"``."""
    return "?1" if value else "?0"


def format_dictionary(members: dict[str, int]) -> str:
    """A Dictionary of Integers, e.g. ``"max-size=1000, expires=60"``.

    Raises:
        ValueError: A key is not a structured-field key, or a value is too large
            (the caller's mistake, not the peer's).
    """
    for key, number in members.items():
        if _KEY.fullmatch(key) is None or abs(number) >= 10**15:
            raise ValueError(f"{key}={number} cannot be a structured-field dictionary member")
    return ", ".join(f"{key}={number}" for key, number in members.items())


def parse_byte_sequence_dictionary(value: str) -> dict[str, bytes]:
    """A Dictionary whose members are Byte Sequences, e.g. ``"sha-256=:AAA=:"``.

    A later member of the same key wins (RFC 9651 4.2.2). Members of another
    type make the field invalid: a digest field holds nothing else.

    Raises:
        FieldError: Not such a dictionary, or a member is not valid Base64.
    """
    members: dict[str, bytes] = {}
    for member in value.split(","):
        key, equals, item = _item(member).partition("=")
        found = _BYTES.fullmatch(_item(item))
        if not equals or _KEY.fullmatch(key) is None or found is None:
            raise FieldError(f"{member.strip()!r} is not a key=:base64: dictionary member")
        try:
            members[key] = base64.b64decode(found.group(1), validate=True)
        except binascii.Error as exc:
            raise FieldError(f"{key}'s byte sequence is not valid Base64") from exc
    return members
