from __future__ import annotations

import math
import struct
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from protocols.amf import (
    UNDEFINED,
    UNSUPPORTED,
    AMFDecodeError,
    AMFEncodeError,
    AMFValue,
    ECMAArray,
    TypedObject,
    XMLDocument,
    decode_amf0,
    encode_amf0,
)

# (python value, AMF0 wire bytes): hand-written from AMF0 spec section 2.
CASES: list[tuple[AMFValue, bytes]] = [
    (1.5, b"\x00\x3f\xf8\x00\x00\x00\x00\x00\x00"),
    (True, b"\x01\x01"),
    (False, b"\x01\x00"),
    ("connect", b"\x02\x00\x07connect"),
    ("", b"\x02\x00\x00"),
    ("é", b"\x02\x00\x02\xc3\xa9"),
    ({"app": "live"}, b"\x03\x00\x03app\x02\x00\x04live\x00\x00\x09"),
    ({}, b"\x03\x00\x00\x09"),
    (None, b"\x05"),
    (UNDEFINED, b"\x06"),
    (
        ECMAArray({"duration": 0.0}),
        b"\x08\x00\x00\x00\x01\x00\x08duration" + b"\x00" * 9 + b"\x00\x00\x09",
    ),
    ([1.0, None], b"\x0a\x00\x00\x00\x02\x00\x3f\xf0\x00\x00\x00\x00\x00\x00\x05"),
    (datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC), b"\x0b\x40\x8f\x40\x00\x00\x00\x00\x00\x00\x00"),
    (UNSUPPORTED, b"\x0d"),
    (XMLDocument("<a/>"), b"\x0f\x00\x00\x00\x04<a/>"),
    (TypedObject("T", {"x": None}), b"\x10\x00\x01T\x00\x01x\x05\x00\x00\x09"),
]


@pytest.mark.parametrize(("value", "wire"), CASES)
def test_known_encodings(value: AMFValue, wire: bytes) -> None:
    assert encode_amf0(value) == wire
    [decoded] = decode_amf0(wire)
    assert decoded == value
    assert type(decoded) is type(value)


def test_int_encodes_as_number_and_decodes_as_float() -> None:
    assert decode_amf0(encode_amf0(3)) == [3.0]
    with pytest.raises(AMFEncodeError, match="does not fit"):
        encode_amf0(1 << 2000)


def test_long_string() -> None:
    text = "x" * 70000
    wire = encode_amf0(text)
    assert wire[:5] == b"\x0c" + struct.pack(">I", 70000)
    assert decode_amf0(wire) == [text]


def test_naive_datetime_is_utc_and_timezone_field_ignored() -> None:
    naive = datetime(2020, 1, 2, 3, 4, 5)
    assert decode_amf0(encode_amf0(naive)) == [naive.replace(tzinfo=UTC)]
    other = datetime(2020, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    wire = bytearray(encode_amf0(other))
    wire[-2:] = b"\x01\x00"  # a non-zero time zone is reserved and ignored
    assert decode_amf0(bytes(wire)) == [other]


def test_tuple_and_mapping_encode_as_array_and_object() -> None:
    assert decode_amf0(encode_amf0((1, "a"))) == [[1.0, "a"]]


def test_shared_values_become_references() -> None:
    inner = {"k": 1.0}
    outer = [inner, inner, [inner]]
    wire = encode_amf0(outer)
    assert wire.count(b"\x07\x00\x01") == 2  # index 0 is ``outer`` itself
    [decoded] = decode_amf0(wire)
    assert decoded == outer
    assert isinstance(decoded, list)
    assert decoded[0] is decoded[1]


def test_reference_table_is_capped_at_16_bits() -> None:
    items: list[dict[str, AMFValue]] = [{} for _ in range(70000)]
    values = [items, items[-1]]
    wire = encode_amf0(*values)
    assert decode_amf0(wire) == values


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (object(), "cannot encode object"),
        ({1: 2}, "property names must be str"),
        ({"x" * 70000: 1}, "name longer than 65535"),
        (b"raw", "cannot encode bytes"),
    ],
)
def test_encode_errors(value: object, message: str) -> None:
    with pytest.raises(AMFEncodeError, match=message):
        encode_amf0(value)


def test_cycle_is_an_encode_error() -> None:
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(AMFEncodeError, match="contains itself"):
        encode_amf0(loop)


# Malformed input and the exact error text a caller (and a log line) sees.
INVALID: list[tuple[bytes, str]] = [
    (b"\x00\x01", "truncated AMF0 number: need 8 bytes at offset 1, only 1 left"),
    (b"\x01", "truncated AMF0 boolean: no byte left at offset 1"),
    (b"\x02\x00\x05ab", "truncated AMF0 string"),
    (b"\x02\x00\x01\xff", "AMF0 string is not valid UTF-8"),
    (b"\x04", "unknown or reserved AMF0 type marker 0x04"),
    (b"\x0e", "unknown or reserved AMF0 type marker 0x0e"),
    (b"\x12", "unknown or reserved AMF0 type marker 0x12"),
    (b"\x09", "AMF0 object-end marker outside an object"),
    (b"\x07\x00\x00", "AMF0 reference 0 out of range"),
    (b"\x03\x00\x01a\x07\x00\x00\x00\x00\x09", "AMF0 reference 0 is cyclic"),
    (b"\x0a\xff\xff\xff\xff\x05", "truncated AMF0 strict array: 4294967295 elements announced"),
    (b"\x03\x00\x01a\x05", "truncated AMF0 property name length"),
    (b"\x0b\x7f\xf0\x00\x00\x00\x00\x00\x00\x00\x00", "date is not a finite number"),
    (b"\x0b\x7f\xe0\x00\x00\x00\x00\x00\x00\x00\x00", "date out of range"),
]


@pytest.mark.parametrize(("wire", "message"), INVALID)
def test_decode_errors(wire: bytes, message: str) -> None:
    with pytest.raises(AMFDecodeError) as info:
        decode_amf0(wire)
    assert str(info.value).startswith(message)
    assert isinstance(info.value, ValueError)


def test_depth_is_bounded() -> None:
    deep = b"\x0a\x00\x00\x00\x01" * 10_000 + b"\x05"
    with pytest.raises(AMFDecodeError, match="nesting deeper than max_depth=64"):
        decode_amf0(deep)
    assert decode_amf0(b"\x0a\x00\x00\x00\x01" * 3 + b"\x05", max_depth=3) == [[[[None]]]]
    with pytest.raises(AMFDecodeError, match="max_depth=2"):
        decode_amf0(b"\x0a\x00\x00\x00\x01" * 3 + b"\x05", max_depth=2)


def test_empty_key_that_is_not_the_end_marker() -> None:
    assert decode_amf0(b"\x03\x00\x00\x05\x00\x00\x09") == [{"": None}]


def test_avmplus_switch_decodes_one_amf3_value() -> None:
    # 0x11 then AMF3 integer 5, then an AMF0 null.
    assert decode_amf0(b"\x11\x04\x05\x05") == [5, None]


def test_accepts_bytearray_and_memoryview() -> None:
    wire = encode_amf0("a", 1.0)
    assert decode_amf0(bytearray(wire)) == decode_amf0(memoryview(wire)) == ["a", 1.0]


finite = st.floats(allow_nan=False)
keys = st.text(max_size=8)
ms_datetimes = st.datetimes(
    min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))

amf0_values = st.recursive(
    st.none()
    | st.just(UNDEFINED)
    | st.just(UNSUPPORTED)
    | st.booleans()
    | finite
    | st.text()
    | st.text().map(XMLDocument)
    | ms_datetimes,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(keys, children, max_size=4)
        | st.dictionaries(keys, children, max_size=4).map(ECMAArray)
        | st.builds(TypedObject, st.text(max_size=8), st.dictionaries(keys, children, max_size=4))
    ),
    max_leaves=20,
)


@given(st.lists(amf0_values, max_size=4))
def test_roundtrip(values: list[AMFValue]) -> None:
    decoded = decode_amf0(encode_amf0(*values))
    assert decoded == values
    assert encode_amf0(*decoded) == encode_amf0(*values)


@given(st.binary(max_size=200))
def test_random_bytes_only_raise_decode_error(data: bytes) -> None:
    try:
        decode_amf0(data)
    except AMFDecodeError:
        pass


@given(st.lists(amf0_values, min_size=1, max_size=4), st.data())
def test_input_ending_inside_a_value_is_a_decode_error(
    values: list[AMFValue], data: st.DataObject
) -> None:
    """The end of the input is never taken for the end of a value."""
    encoded = encode_amf0(*values)
    last_starts = len(encode_amf0(*values[:-1]))
    assume(len(encoded) - last_starts > 1)
    cut = data.draw(st.integers(last_starts + 1, len(encoded) - 1))
    with pytest.raises(AMFDecodeError):
        decode_amf0(encoded[:cut])


def test_nan_roundtrips() -> None:
    [value] = decode_amf0(encode_amf0(math.nan))
    assert isinstance(value, float)
    assert math.isnan(value)
