"""AMF0 (Adobe Action Message Format 0 specification, 2006): the encoding of RTMP
command (type 20) and data (type 18) messages and of FLV script tags.

Every AMF0 type is decoded: number, boolean, string, object, null, undefined,
reference, ECMA array, object end (inside objects), strict array, date, long string,
unsupported, XML document, typed object, and the avmplus marker (0x11) that switches
one value to AMF3. The reserved ``movieclip`` and ``recordset`` markers are errors.

References (0x07) point into the table of complex values (object, typed object, ECMA
array, strict array) in the order their decoding started; the decoder returns the
same Python object again, so shared structure is preserved (and re-encoded as a
reference). A reference to a value still being decoded would make a cycle and is
rejected.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ._amf3 import decode_amf3_value
from ._reader import Reader, datetime_to_ms, ms_to_datetime
from ._types import (
    DEFAULT_MAX_DEPTH,
    UNDEFINED,
    UNSUPPORTED,
    AMFDecodeError,
    AMFEncodeError,
    AMFValue,
    ECMAArray,
    TypedObject,
    XMLDocument,
)

__all__ = ["decode_amf0", "encode_amf0"]

NUMBER = 0x00
BOOLEAN = 0x01
STRING = 0x02
OBJECT = 0x03
MOVIECLIP = 0x04
NULL = 0x05
UNDEFINED_MARKER = 0x06
REFERENCE = 0x07
ECMA_ARRAY = 0x08
OBJECT_END = 0x09
STRICT_ARRAY = 0x0A
DATE = 0x0B
LONG_STRING = 0x0C
UNSUPPORTED_MARKER = 0x0D
RECORDSET = 0x0E
XML_DOCUMENT = 0x0F
TYPED_OBJECT = 0x10
AVMPLUS_OBJECT = 0x11

_U16_MAX = 0xFFFF
_U32_MAX = 0xFFFFFFFF

_NUMBER = struct.Struct(">Bd")
_DATE = struct.Struct(">Bdh")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")

_IN_PROGRESS = object()


class _Decoder:
    __slots__ = ("r", "refs")

    def __init__(self, r: Reader) -> None:
        self.r = r
        self.refs: list[object] = []

    def value(self) -> AMFValue:
        r = self.r
        marker = r.u8("AMF0 type marker")
        if marker == NUMBER:
            return r.f64("AMF0 number")
        if marker == BOOLEAN:
            return r.u8("AMF0 boolean") != 0
        if marker == STRING:
            return r.utf8(r.u16("AMF0 string length"), "AMF0 string")
        if marker == NULL:
            return None
        if marker == UNDEFINED_MARKER:
            return UNDEFINED
        if marker == LONG_STRING:
            return r.utf8(r.u32("AMF0 long string length"), "AMF0 long string")
        if marker in (OBJECT, ECMA_ARRAY, TYPED_OBJECT, STRICT_ARRAY):
            return self._complex(marker)
        if marker == REFERENCE:
            index = r.u16("AMF0 reference")
            if index >= len(self.refs):
                raise AMFDecodeError(f"AMF0 reference {index} out of range")
            target = self.refs[index]
            if target is _IN_PROGRESS:
                raise AMFDecodeError(f"AMF0 reference {index} is cyclic (not supported)")
            return target  # type: ignore[return-value]
        if marker == DATE:
            ms = r.f64("AMF0 date")
            r.s16("AMF0 date time zone")  # AMF0 2.13: reserved, SHOULD be 0; ignored
            return ms_to_datetime(ms)
        if marker == UNSUPPORTED_MARKER:
            return UNSUPPORTED
        if marker == XML_DOCUMENT:
            return XMLDocument(r.utf8(r.u32("AMF0 XML length"), "AMF0 XML document"))
        if marker == AVMPLUS_OBJECT:
            return decode_amf3_value(r)
        if marker == OBJECT_END:
            raise AMFDecodeError("AMF0 object-end marker outside an object")
        raise AMFDecodeError(f"unknown or reserved AMF0 type marker 0x{marker:02x}")

    def _complex(self, marker: int) -> AMFValue:
        r = self.r
        index = len(self.refs)
        self.refs.append(_IN_PROGRESS)
        r.enter()
        result: AMFValue
        if marker == STRICT_ARRAY:
            count = r.u32("AMF0 strict array length")
            # Each element takes at least one byte: never trust the count for allocation.
            items = [self.value() for _ in range(min(count, r.remaining()))]
            if len(items) < count:
                raise AMFDecodeError(f"truncated AMF0 strict array: {count} elements announced")
            result = items
        elif marker == OBJECT:
            result = self._properties({})
        elif marker == ECMA_ARRAY:
            r.u32("AMF0 ECMA array count")  # a hint only; producers disagree, the end marker rules
            result = self._properties(ECMAArray())
        else:
            class_name = r.utf8(r.u16("AMF0 class name length"), "AMF0 class name")
            result = TypedObject(class_name, self._properties({}))
        r.leave()
        self.refs[index] = result
        return result

    def _properties(self, props: dict[str, AMFValue]) -> dict[str, AMFValue]:
        r = self.r
        while True:
            key = r.utf8(r.u16("AMF0 property name length"), "AMF0 property name")
            if not key and r.pos < len(r.data) and r.data[r.pos] == OBJECT_END:
                r.pos += 1
                return props
            props[key] = self.value()


def decode_amf0(
    data: bytes | bytearray | memoryview, *, max_depth: int = DEFAULT_MAX_DEPTH
) -> list[AMFValue]:
    """Decode a sequence of AMF0 values, such as an RTMP command message body.

    Args:
        data: The encoded values, back to back.
        max_depth: Deepest nesting of objects/arrays accepted (hostile input cannot
            exhaust the stack; memory use is linear in ``len(data)``).

    Returns:
        The values, in order (see :mod:`protocols.amf` for the Python types).

    Raises:
        AMFDecodeError: malformed or truncated input, a reserved marker, invalid
            UTF-8, a cyclic reference, or nesting deeper than ``max_depth``.
    """
    r = Reader(bytes(data), max_depth)
    decoder = _Decoder(r)
    values: list[AMFValue] = []
    while r.remaining():
        values.append(decoder.value())
    return values


class _Encoder:
    __slots__ = ("active", "out", "refs")

    def __init__(self) -> None:
        self.out = bytearray()
        self.refs: dict[int, int] = {}
        self.active: set[int] = set()

    def string_body(self, raw: bytes) -> None:
        if len(raw) > _U16_MAX:
            raise AMFEncodeError(
                f"AMF0 property or class name longer than 65535 bytes ({len(raw)})"
            )
        self.out += _U16.pack(len(raw))
        self.out += raw

    def value(self, value: object) -> None:
        out = self.out
        if value is None:
            out.append(NULL)
        elif value is UNDEFINED:
            out.append(UNDEFINED_MARKER)
        elif value is UNSUPPORTED:
            out.append(UNSUPPORTED_MARKER)
        elif isinstance(value, bool):
            out += bytes((BOOLEAN, value))
        elif isinstance(value, int | float):
            try:
                out += _NUMBER.pack(NUMBER, float(value))
            except OverflowError:
                raise AMFEncodeError(f"integer {value} does not fit an AMF0 number") from None
        elif isinstance(value, str):
            raw = value.encode("utf-8")
            if isinstance(value, XMLDocument) or len(raw) > _U16_MAX:
                if len(raw) > _U32_MAX:  # pragma: no cover - needs a 4 GiB string to reach
                    raise AMFEncodeError("string longer than 4 GiB")
                out.append(XML_DOCUMENT if isinstance(value, XMLDocument) else LONG_STRING)
                out += _U32.pack(len(raw))
                out += raw
            else:
                out.append(STRING)
                self.string_body(raw)
        elif isinstance(value, datetime):
            out += _DATE.pack(DATE, datetime_to_ms(value), 0)
        else:
            self._complex(value)

    def _complex(self, value: object) -> None:
        key = id(value)
        if key in self.active:
            raise AMFEncodeError("cannot encode a value that contains itself")
        index = self.refs.get(key)
        if index is not None:
            self.out.append(REFERENCE)
            self.out += _U16.pack(index)
            return
        out = self.out
        if isinstance(value, ECMAArray):
            out.append(ECMA_ARRAY)
            out += _U32.pack(len(value))
        elif isinstance(value, TypedObject):
            out.append(TYPED_OBJECT)
            self.string_body(value.class_name.encode("utf-8"))
        elif isinstance(value, Mapping):
            out.append(OBJECT)
        elif isinstance(value, list | tuple):
            out.append(STRICT_ARRAY)
            out += _U32.pack(len(value))
        else:
            raise AMFEncodeError(f"cannot encode {type(value).__name__} as AMF0")
        if len(self.refs) <= _U16_MAX:  # AMF0 references are 16-bit: later repeats go inline
            self.refs[key] = len(self.refs)
        self.active.add(key)
        if isinstance(value, list | tuple):
            for item in value:
                self.value(item)
        else:
            props = value.properties if isinstance(value, TypedObject) else value
            self._properties(props)
        self.active.discard(key)

    def _properties(self, props: Mapping[Any, object]) -> None:
        for name, item in props.items():
            if not isinstance(name, str):
                raise AMFEncodeError(f"AMF0 property names must be str, got {name!r}")
            self.string_body(name.encode("utf-8"))
            self.value(item)
        self.out += b"\x00\x00\x09"


def encode_amf0(*values: object) -> bytes:
    """Encode values as AMF0, back to back (e.g. ``encode_amf0("_result", 1.0, None, {...})``).

    Accepts the types listed in :mod:`protocols.amf` plus ``int`` (as a number),
    ``tuple`` (as a strict array) and any ``Mapping`` (as an anonymous object).
    Strings longer than 65535 UTF-8 bytes become long strings. A container that
    appears twice (the same Python object) is written once and then referenced.

    Raises:
        AMFEncodeError: an unsupported type, a non-``str`` property name, a name
            longer than 65535 bytes, an integer beyond a double's range, or a
            value that contains itself.
    """
    encoder = _Encoder()
    for value in values:
        encoder.value(value)
    return bytes(encoder.out)
