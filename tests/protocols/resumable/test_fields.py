"""Structured fields (RFC 9651): the Items and Dictionaries the draft and RFC 9530 use."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols import resumable


@pytest.mark.parametrize(
    ("value", "expected"),
    [("?1", True), ("?0", False), (" ?1 ", True), ("?1;a=b", True), ("?0;x", False)],
)
def test_booleans(value: str, expected: bool) -> None:
    assert resumable.parse_boolean(value) is expected


@pytest.mark.parametrize("value", ["1", "true", "?", "?2", "?1,?0", "", "?1 x"])
def test_not_booleans(value: str) -> None:
    with pytest.raises(resumable.FieldError, match="not a structured-field boolean"):
        resumable.parse_boolean(value)


@pytest.mark.parametrize(
    ("value", "expected"), [("0", 0), ("42", 42), ("-3", -3), (" 7\t", 7), ("5;p=1", 5)]
)
def test_integers(value: str, expected: int) -> None:
    assert resumable.parse_integer(value) == expected


@pytest.mark.parametrize("value", ["", "1.5", "+1", "0x10", "1" * 16, "1 2", "?1"])
def test_not_integers(value: str) -> None:
    with pytest.raises(resumable.FieldError, match="not a structured-field integer"):
        resumable.parse_integer(value)


@given(st.integers(min_value=-(10**15) + 1, max_value=10**15 - 1))
def test_integers_round_trip(number: int) -> None:
    assert resumable.parse_integer(str(number)) == number


@given(st.booleans())
def test_booleans_round_trip(value: bool) -> None:
    assert resumable.parse_boolean(resumable.format_boolean(value)) is value


def test_dictionary_of_integers() -> None:
    assert resumable.format_dictionary({"max-size": 10, "expires": 0}) == "max-size=10, expires=0"


@pytest.mark.parametrize("members", [{"Max": 1}, {"1a": 1}, {"max-size": 10**15}])
def test_dictionary_refuses_what_it_cannot_say(members: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="cannot be a structured-field dictionary member"):
        resumable.format_dictionary(members)


def test_byte_sequence_dictionary() -> None:
    parsed = resumable.parse_byte_sequence_dictionary(
        "sha-256=:AAEC:, sha-512=:/w==:;p, sha-256=:Aw==:"
    )
    # A repeated key: the last one wins (RFC 9651 4.2.2).
    assert parsed == {"sha-256": b"\x03", "sha-512": b"\xff"}


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("sha-256", "not a key=:base64: dictionary member"),
        ("sha-256=AAEC", "not a key=:base64: dictionary member"),
        ("SHA=:AAEC:", "not a key=:base64: dictionary member"),
        ("sha-256=:AAEC:, ", "not a key=:base64: dictionary member"),
        ("sha-256=:AAE:", "not valid Base64"),
    ],
)
def test_not_byte_sequence_dictionaries(value: str, match: str) -> None:
    with pytest.raises(resumable.FieldError, match=match):
        resumable.parse_byte_sequence_dictionary(value)


@given(
    st.dictionaries(st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True), st.binary(), min_size=1)
)
def test_byte_sequence_dictionaries_round_trip(members: dict[str, bytes]) -> None:
    text = ", ".join(f"{key}=:{base64.b64encode(raw).decode()}:" for key, raw in members.items())
    assert resumable.parse_byte_sequence_dictionary(text) == members


@given(st.text())
def test_any_text_parses_or_fails_cleanly(value: str) -> None:
    for parse in (
        resumable.parse_boolean,
        resumable.parse_integer,
        resumable.parse_byte_sequence_dictionary,
    ):
        try:
            parse(value)
        except resumable.FieldError:
            pass
