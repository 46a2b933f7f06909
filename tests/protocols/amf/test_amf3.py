from __future__ import annotations

from datetime import UTC, datetime

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
    decode_amf3,
    encode_amf3,
)


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


# (value, AMF3 wire bytes), hand-written from the AMF3 specification, section 3.
ROUNDTRIP: list[tuple[AMFValue, bytes]] = [
    (UNDEFINED, h("00")),
    (None, h("01")),
    (False, h("02")),
    (True, h("03")),
    (0, h("04 00")),
    (127, h("04 7f")),
    (128, h("04 81 00")),
    (16383, h("04 ff 7f")),
    (16384, h("04 81 80 00")),
    (0x200000, h("04 80 c0 80 00")),
    ((1 << 28) - 1, h("04 bf ff ff ff")),
    (-1, h("04 ff ff ff ff")),
    (-(1 << 28), h("04 c0 80 80 00")),
    (float(1 << 28), h("05 41b0000000000000")),
    (0.5, h("05 3fe0000000000000")),
    ("abc", h("06 07 616263")),
    ("", h("06 01")),
    (XMLDocument("<a/>"), h("07 09 3c612f3e")),
    (datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC), h("08 01 408f400000000000")),
    ([1, 2], h("09 05 01 04 01 04 02")),
    (ECMAArray({"a": 1}), h("09 01 03 61 04 01 01")),
    ({"a": 1}, h("0a 0b 01 03 61 04 01 01")),
    (TypedObject("Foo", {"x": 5}), h("0a 0b 07 466f6f 03 78 04 05 01")),
    (b"\x01\x02\x03", h("0c 07 010203")),
]


@pytest.mark.parametrize(("value", "wire"), ROUNDTRIP)
def test_known_encodings(value: AMFValue, wire: bytes) -> None:
    assert encode_amf3(value) == wire
    assert decode_amf3(wire) == [value]
    assert type(decode_amf3(wire)[0]) is type(value)


DECODE_ONLY: list[tuple[bytes, AMFValue]] = [
    (h("0b 09 3c612f3e"), XMLDocument("<a/>")),
    (h("09 05 01 06 05 6162 06 00"), ["ab", "ab"]),  # string reference
    (h("09 03 03 61 04 01 01 03"), ECMAArray({"a": 1, "0": True})),  # mixed array
    (h("0a 13 07 466f6f 03 78 04 05"), TypedObject("Foo", {"x": 5})),  # sealed member
    (
        h("09 05 01 0a 13 07 466f6f 03 78 04 05  0a 01 04 06"),  # traits reference
        [TypedObject("Foo", {"x": 5}), TypedObject("Foo", {"x": 6})],
    ),
    (h("09 05 01 0a 0b 01 01 0a 02"), [{}, {}]),  # object reference
    (h("09 05 01 0c 03 aa 0c 02"), [b"\xaa", b"\xaa"]),  # byte array reference
    (h("0d 05 00 ffffffff 00000001"), [-1, 1]),
    (h("0e 03 00 ffffffff"), [0xFFFFFFFF]),
    (h("0f 03 01 3ff0000000000000"), [1.0]),
    (h("10 05 00 01 04 01 06 03 61"), [1, "a"]),
    (h("09 05 01 0d 01 00 0d 02"), [[], []]),  # vector reference
]


@pytest.mark.parametrize(("wire", "value"), DECODE_ONLY)
def test_decode(wire: bytes, value: AMFValue) -> None:
    assert decode_amf3(wire) == [value]


def test_references_keep_identity() -> None:
    [items] = decode_amf3(h("09 05 01 0a 0b 01 01 0a 02"))
    assert isinstance(items, list)
    assert items[0] is items[1]


INVALID: list[tuple[bytes, str]] = [
    (h("11 01 00"), "AMF3 dictionary (0x11) is not supported"),
    (h("12"), "unknown AMF3 type marker 0x12"),
    (h("0a 07 01"), "AMF3 externalizable objects are not supported"),
    (h("06 02"), "AMF3 string reference 1 out of range"),
    (h("0a 02"), "AMF3 object reference 1 out of range"),
    (h("0c 00"), "AMF3 object reference 0 out of range"),
    (h("0d 00"), "AMF3 object reference 0 out of range"),
    (h("09 00"), "AMF3 object reference 0 out of range"),
    (h("0a 05"), "AMF3 traits reference 1 out of range"),
    (h("09 03 01 09 00"), "AMF3 object reference 0 is cyclic (not supported)"),
    (h("09 ff ff ff ff 01"), "truncated AMF3 array: 268435455 dense elements announced"),
    (h("0a 8f ff ff f3 01"), "truncated AMF3 traits: 4194303 members announced"),
    (h("0a 13 03 54 01 04 02"), "AMF3 sealed member names must not be empty"),
    (h("10 ff ff ff ff 00 01"), "truncated AMF3 vector: 268435455 elements announced"),
    (h("0d 05 00 00"), "truncated AMF3 vector: need 8 bytes"),
    (h("04 ff"), "truncated AMF3 U29 integer"),
    (h("06 03 ff"), "AMF3 string is not valid UTF-8"),
]


@pytest.mark.parametrize(("wire", "message"), INVALID)
def test_decode_errors(wire: bytes, message: str) -> None:
    with pytest.raises(AMFDecodeError) as info:
        decode_amf3(wire)
    assert str(info.value).startswith(message)


def test_depth_is_bounded() -> None:
    with pytest.raises(AMFDecodeError, match="max_depth=64"):
        decode_amf3(h("09 03 01") * 1000 + h("01"))
    with pytest.raises(AMFDecodeError, match="max_depth=1"):
        decode_amf3(h("0a 0b 01 03 61 0a 0b 01 01 01"), max_depth=1)


def test_amf0_switches_to_amf3_with_fresh_tables() -> None:
    # Each 0x11 starts a new AMF3 context: the second string reference is invalid.
    assert decode_amf0(h("11 06 05 6162 11 06 05 6162")) == ["ab", "ab"]
    with pytest.raises(AMFDecodeError, match="string reference 0 out of range"):
        decode_amf0(h("11 06 05 6162 11 06 00"))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (object(), "cannot encode object as AMF3"),
        (UNSUPPORTED, "cannot encode Unsupported as AMF3"),
        ({1: 2}, "member names must be non-empty str"),
        ({"": 2}, "member names must be non-empty str"),
        (1 << 2000, "does not fit an AMF3 double"),
    ],
)
def test_encode_errors(value: object, message: str) -> None:
    with pytest.raises(AMFEncodeError, match=message):
        encode_amf3(value)


def test_encode_cycle_and_tuple() -> None:
    loop: dict[str, object] = {}
    loop["self"] = loop
    with pytest.raises(AMFEncodeError, match="contains itself"):
        encode_amf3(loop)
    assert decode_amf3(encode_amf3((1, 2), bytearray(b"x"))) == [[1, 2], b"x"]


def test_repr() -> None:
    assert repr(UNDEFINED) == "UNDEFINED"
    assert repr(UNSUPPORTED) == "UNSUPPORTED"
    assert repr(ECMAArray({"a": 1})) == "ECMAArray({'a': 1})"


names = st.text(min_size=1, max_size=8)
leaves = (
    st.none()
    | st.just(UNDEFINED)
    | st.booleans()
    | st.integers(-(1 << 53), 1 << 53)
    | st.floats(allow_nan=False)
    | st.text()
    | st.text().map(XMLDocument)
    | st.binary(max_size=20)
    | st.datetimes(timezones=st.just(UTC)).map(
        lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000)
    )
)
amf3_values = st.recursive(
    leaves,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(names, children, max_size=4)
        | st.dictionaries(names, children, min_size=1, max_size=4).map(ECMAArray)
        | st.builds(TypedObject, names, st.dictionaries(names, children, max_size=4))
    ),
    max_leaves=20,
)


@given(st.lists(amf3_values, max_size=4))
def test_roundtrip(values: list[AMFValue]) -> None:
    assert decode_amf3(encode_amf3(*values)) == values


@given(st.binary(max_size=200))
def test_random_bytes_only_raise_decode_error(data: bytes) -> None:
    try:
        decode_amf3(data)
    except AMFDecodeError:
        pass


@given(st.lists(amf3_values, min_size=1, max_size=4), st.data())
def test_input_ending_inside_a_value_is_a_decode_error(
    values: list[AMFValue], data: st.DataObject
) -> None:
    """The end of the input is never taken for the end of a value."""
    encoded = encode_amf3(*values)
    last_starts = len(encode_amf3(*values[:-1]))
    assume(len(encoded) - last_starts > 1)
    cut = data.draw(st.integers(last_starts + 1, len(encoded) - 1))
    with pytest.raises(AMFDecodeError):
        decode_amf3(encoded[:cut])
