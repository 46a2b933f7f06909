"""AMF3 (Adobe AMF 3 specification, 2013): the values Flash-era clients embed in
RTMP messages 15 and 17 and behind the AMF0 ``avmplus-object`` marker (0x11).

Decoding covers every AMF3 type except externalizable objects and dictionaries,
which need application-registered classes to interpret. References (string,
object and traits tables) are honoured; a reference to an object that is still
being decoded (a cycle) is rejected rather than building a self-containing value.

The encoder is deliberately simple: strings and objects are always written inline
(never as references), dicts become anonymous dynamic objects.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ._reader import Reader, datetime_to_ms, ms_to_datetime
from ._types import (
    DEFAULT_MAX_DEPTH,
    UNDEFINED,
    AMFDecodeError,
    AMFEncodeError,
    AMFValue,
    ECMAArray,
    TypedObject,
    XMLDocument,
)

__all__ = ["decode_amf3", "decode_amf3_value", "encode_amf3"]

_UNDEFINED = 0x00
_NULL = 0x01
_FALSE = 0x02
_TRUE = 0x03
_INTEGER = 0x04
_DOUBLE = 0x05
_STRING = 0x06
_XML_DOC = 0x07
_DATE = 0x08
_ARRAY = 0x09
_OBJECT = 0x0A
_XML = 0x0B
_BYTE_ARRAY = 0x0C
_VECTOR_INT = 0x0D
_VECTOR_UINT = 0x0E
_VECTOR_DOUBLE = 0x0F
_VECTOR_OBJECT = 0x10
_DICTIONARY = 0x11

# AMF3 1.3.1: U29 integers hold 29 bits; the "integer" type is signed over those bits.
_INT29_MIN = -(1 << 28)
_INT29_MAX = (1 << 28) - 1
_U29_MAX = (1 << 29) - 1

_F64 = struct.Struct(">d")

# Placeholder in the object table while a complex value is being decoded.
_IN_PROGRESS = object()


class _Traits:
    __slots__ = ("class_name", "dynamic", "sealed")

    def __init__(self, class_name: str, dynamic: bool, sealed: list[str]) -> None:
        self.class_name = class_name
        self.dynamic = dynamic
        self.sealed = sealed


class _Decoder:
    __slots__ = ("objects", "r", "strings", "traits")

    def __init__(self, r: Reader) -> None:
        self.r = r
        self.strings: list[str] = []
        self.objects: list[object] = []
        self.traits: list[_Traits] = []

    def u29(self) -> int:
        r = self.r
        value = 0
        for _ in range(3):
            byte = r.u8("AMF3 U29 integer")
            if not byte & 0x80:
                return (value << 7) | byte
            value = (value << 7) | (byte & 0x7F)
        return (value << 8) | r.u8("AMF3 U29 integer")

    def string(self) -> str:
        header = self.u29()
        if not header & 1:
            return self._string_ref(header >> 1)
        length = header >> 1
        if length == 0:
            return ""  # AMF3 1.3.2: the empty string is never sent by reference
        text = self.r.utf8(length, "AMF3 string")
        self.strings.append(text)
        return text

    def _string_ref(self, index: int) -> str:
        if index >= len(self.strings):
            raise AMFDecodeError(f"AMF3 string reference {index} out of range")
        return self.strings[index]

    def _object_ref(self, index: int) -> AMFValue:
        if index >= len(self.objects):
            raise AMFDecodeError(f"AMF3 object reference {index} out of range")
        target = self.objects[index]
        if target is _IN_PROGRESS:
            raise AMFDecodeError(f"AMF3 object reference {index} is cyclic (not supported)")
        return target  # type: ignore[return-value]

    def value(self) -> AMFValue:
        r = self.r
        marker = r.u8("AMF3 type marker")
        if marker == _UNDEFINED:
            return UNDEFINED
        if marker == _NULL:
            return None
        if marker == _FALSE:
            return False
        if marker == _TRUE:
            return True
        if marker == _INTEGER:
            n = self.u29()
            return n - (1 << 29) if n > _INT29_MAX else n
        if marker == _DOUBLE:
            return r.f64("AMF3 double")
        if marker == _STRING:
            return self.string()
        if marker in (_XML_DOC, _XML, _DATE, _BYTE_ARRAY):
            return self._simple_object(marker)
        if marker == _ARRAY:
            return self._array()
        if marker == _OBJECT:
            return self._object()
        if _VECTOR_INT <= marker <= _VECTOR_OBJECT:
            return self._vector(marker)
        if marker == _DICTIONARY:
            raise AMFDecodeError("AMF3 dictionary (0x11) is not supported")
        raise AMFDecodeError(f"unknown AMF3 type marker 0x{marker:02x}")

    def _simple_object(self, marker: int) -> AMFValue:
        header = self.u29()
        if not header & 1:
            return self._object_ref(header >> 1)
        value: AMFValue
        if marker == _DATE:
            value = ms_to_datetime(self.r.f64("AMF3 date"))
        elif marker == _BYTE_ARRAY:
            value = self.r.take(header >> 1, "AMF3 byte array")
        else:
            value = XMLDocument(self.r.utf8(header >> 1, "AMF3 XML"))
        self.objects.append(value)
        return value

    def _array(self) -> AMFValue:
        header = self.u29()
        if not header & 1:
            return self._object_ref(header >> 1)
        dense_count = header >> 1
        index = len(self.objects)
        self.objects.append(_IN_PROGRESS)
        self.r.enter()
        assoc = ECMAArray()
        while key := self.string():
            assoc[key] = self.value()
        dense = [self.value() for _ in range(min(dense_count, self.r.remaining()))]
        if len(dense) < dense_count:
            raise AMFDecodeError(f"truncated AMF3 array: {dense_count} dense elements announced")
        self.r.leave()
        result: AMFValue
        if assoc:
            for i, item in enumerate(dense):
                assoc[str(i)] = item
            result = assoc
        else:
            result = dense
        self.objects[index] = result
        return result

    def _read_traits(self, header: int) -> _Traits:
        if not header & 2:
            index = header >> 2
            if index >= len(self.traits):
                raise AMFDecodeError(f"AMF3 traits reference {index} out of range")
            return self.traits[index]
        if header & 4:
            raise AMFDecodeError("AMF3 externalizable objects are not supported")
        sealed_count = header >> 4
        class_name = self.string()
        sealed = [self.string() for _ in range(min(sealed_count, self.r.remaining()))]
        if len(sealed) < sealed_count:
            raise AMFDecodeError(f"truncated AMF3 traits: {sealed_count} members announced")
        if "" in sealed:
            # The empty string ends a dynamic member list; as a sealed name it could not
            # be told apart from that end, and encode_amf3 refuses it.
            raise AMFDecodeError("AMF3 sealed member names must not be empty")
        traits = _Traits(class_name, bool(header & 8), sealed)
        self.traits.append(traits)
        return traits

    def _object(self) -> AMFValue:
        header = self.u29()
        if not header & 1:
            return self._object_ref(header >> 1)
        traits = self._read_traits(header)
        index = len(self.objects)
        self.objects.append(_IN_PROGRESS)
        self.r.enter()
        props: dict[str, AMFValue] = {}
        for name in traits.sealed:
            props[name] = self.value()
        if traits.dynamic:
            while key := self.string():
                props[key] = self.value()
        self.r.leave()
        result: AMFValue = TypedObject(traits.class_name, props) if traits.class_name else props
        self.objects[index] = result
        return result

    def _vector(self, marker: int) -> AMFValue:
        header = self.u29()
        if not header & 1:
            return self._object_ref(header >> 1)
        count = header >> 1
        self.r.u8("AMF3 vector fixed flag")
        r = self.r
        items: list[AMFValue]
        if marker == _VECTOR_OBJECT:
            self.string()  # element type name, e.g. "String"; Python lists are untyped
            index = len(self.objects)
            self.objects.append(_IN_PROGRESS)
            r.enter()
            items = [self.value() for _ in range(min(count, r.remaining()))]
            if len(items) < count:
                raise AMFDecodeError(f"truncated AMF3 vector: {count} elements announced")
            r.leave()
            self.objects[index] = items
            return items
        fmt = {_VECTOR_INT: "i", _VECTOR_UINT: "I", _VECTOR_DOUBLE: "d"}[marker]
        size = struct.calcsize(fmt)
        raw = r.take(count * size, "AMF3 vector")
        items = list(struct.unpack(f">{count}{fmt}", raw))
        self.objects.append(items)
        return items


def decode_amf3_value(r: Reader) -> AMFValue:
    """Decode one AMF3 value at ``r`` with fresh reference tables (AMF0 0x11 switch)."""
    return _Decoder(r).value()


def decode_amf3(
    data: bytes | bytearray | memoryview, *, max_depth: int = DEFAULT_MAX_DEPTH
) -> list[AMFValue]:
    """Decode a sequence of AMF3 values sharing one set of reference tables.

    Args:
        data: The encoded values, back to back.
        max_depth: Deepest nesting of arrays/objects accepted.

    Returns:
        The values, in order.

    Raises:
        AMFDecodeError: malformed or truncated input, unsupported type, a cyclic
            reference, or nesting deeper than ``max_depth``.
    """
    r = Reader(bytes(data), max_depth)
    decoder = _Decoder(r)
    values: list[AMFValue] = []
    while r.remaining():
        values.append(decoder.value())
    return values


class _Encoder:
    __slots__ = ("active", "out")

    def __init__(self) -> None:
        self.out = bytearray()
        self.active: set[int] = set()

    def u29(self, n: int) -> None:
        if n < 0x80:
            self.out.append(n)
        elif n < 0x4000:
            self.out += bytes(((n >> 7) | 0x80, n & 0x7F))
        elif n < 0x200000:
            self.out += bytes(((n >> 14) | 0x80, ((n >> 7) & 0x7F) | 0x80, n & 0x7F))
        elif n <= _U29_MAX:
            self.out += bytes(
                ((n >> 22) | 0x80, ((n >> 15) & 0x7F) | 0x80, ((n >> 8) & 0x7F) | 0x80, n & 0xFF)
            )
        else:  # pragma: no cover - needs a 256 MiB string or array to reach
            raise AMFEncodeError(f"length {n} does not fit an AMF3 U29")

    def string(self, text: str) -> None:
        raw = text.encode("utf-8")
        self.u29((len(raw) << 1) | 1)
        self.out += raw

    def value(self, value: object) -> None:
        out = self.out
        if value is None:
            out.append(_NULL)
        elif value is UNDEFINED:
            out.append(_UNDEFINED)
        elif isinstance(value, bool):
            out.append(_TRUE if value else _FALSE)
        elif isinstance(value, int) and _INT29_MIN <= value <= _INT29_MAX:
            out.append(_INTEGER)
            self.u29(value & _U29_MAX)
        elif isinstance(value, int | float):
            try:
                number = float(value)
            except OverflowError:
                raise AMFEncodeError(f"integer {value} does not fit an AMF3 double") from None
            out.append(_DOUBLE)
            out += _F64.pack(number)
        elif isinstance(value, XMLDocument):
            out.append(_XML_DOC)
            self.string(value)
        elif isinstance(value, str):
            out.append(_STRING)
            self.string(value)
        elif isinstance(value, datetime):
            out.append(_DATE)
            out.append(0x01)
            out += _F64.pack(datetime_to_ms(value))
        elif isinstance(value, bytes | bytearray | memoryview):
            raw = bytes(value)
            out.append(_BYTE_ARRAY)
            self.u29((len(raw) << 1) | 1)
            out += raw
        else:
            self._complex(value)

    def _complex(self, value: object) -> None:
        if id(value) in self.active:
            raise AMFEncodeError("cannot encode a value that contains itself")
        self.active.add(id(value))
        out = self.out
        if isinstance(value, ECMAArray):
            out.append(_ARRAY)
            out.append(0x01)  # no dense part
            self._members(value)
        elif isinstance(value, TypedObject | Mapping):
            class_name, props = (
                (value.class_name, value.properties)
                if isinstance(value, TypedObject)
                else ("", value)
            )
            out.append(_OBJECT)
            out.append(0x0B)  # inline object, inline traits, dynamic, 0 sealed members
            self.string(class_name)
            self._members(props)
        elif isinstance(value, list | tuple):
            out.append(_ARRAY)
            self.u29((len(value) << 1) | 1)
            out.append(0x01)  # no associative part
            for item in value:
                self.value(item)
        else:
            raise AMFEncodeError(f"cannot encode {type(value).__name__} as AMF3")
        self.active.discard(id(value))

    def _members(self, props: Mapping[Any, object]) -> None:
        for key, item in props.items():
            if not isinstance(key, str) or not key:
                raise AMFEncodeError(f"AMF3 member names must be non-empty str, got {key!r}")
            self.string(key)
            self.value(item)
        self.out.append(0x01)


def encode_amf3(*values: object) -> bytes:
    """Encode values as AMF3, back to back (no references are emitted).

    Raises:
        AMFEncodeError: a value of an unsupported type, a non-string or empty member
            name, or a value that contains itself.
    """
    encoder = _Encoder()
    for value in values:
        encoder.value(value)
    return bytes(encoder.out)
