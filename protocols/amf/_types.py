"""Python values for AMF types, and the errors raised by the codecs.

Mapping (decoding produces exactly these types; encoding accepts them and a few
more, listed in :func:`protocols.amf.encode_amf0`):

=====================  ==========================================  ========================
AMF0 / AMF3 type       Python value                                 notes
=====================  ==========================================  ========================
number / double        ``float``                                    ints encode as numbers
AMF3 integer           ``int``                                      29-bit signed
boolean                ``bool``
string, long string    ``str``                                      long string if > 65535 bytes
object (anonymous)     ``dict[str, AMFValue]``
typed object           :class:`TypedObject`
ECMA array             :class:`ECMAArray` (a ``dict`` subclass)
strict array           ``list[AMFValue]``                           tuples encode as lists
null                   ``None``
undefined              :data:`UNDEFINED`
unsupported            :data:`UNSUPPORTED`
date                   ``datetime`` (timezone-aware, UTC)           naive datetimes are UTC
XML document           :class:`XMLDocument` (a ``str`` subclass)
AMF3 byte array        ``bytes``                                    AMF3 only
AMF3 vectors           ``list``
=====================  ==========================================  ========================
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from datetime import datetime

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "UNDEFINED",
    "UNSUPPORTED",
    "AMFDecodeError",
    "AMFEncodeError",
    "AMFError",
    "AMFValue",
    "ECMAArray",
    "TypedObject",
    "Undefined",
    "Unsupported",
    "XMLDocument",
]

# Real RTMP commands and onMetaData nest two or three levels deep. 64 leaves room for odd
# producers while keeping a hostile "[[[[...]]]]" far away from Python's recursion limit.
DEFAULT_MAX_DEPTH = 64


class AMFError(Exception):
    """Base class of every error raised by :mod:`protocols.amf`."""


class AMFDecodeError(AMFError, ValueError):
    """The bytes are not valid AMF (or exceed a configured bound)."""


class AMFEncodeError(AMFError, ValueError):
    """The value cannot be represented in AMF (unsupported type, cycle, too long)."""


class Undefined(enum.Enum):
    """The AMF ``undefined`` value (distinct from ``null``, which is ``None``)."""

    UNDEFINED = "undefined"

    def __repr__(self) -> str:
        return "UNDEFINED"


class Unsupported(enum.Enum):
    """The AMF0 ``unsupported`` marker (0x0D)."""

    UNSUPPORTED = "unsupported"

    def __repr__(self) -> str:
        return "UNSUPPORTED"


UNDEFINED = Undefined.UNDEFINED
UNSUPPORTED = Unsupported.UNSUPPORTED


class ECMAArray(dict[str, "AMFValue"]):
    """An AMF0 ECMA (associative) array; behaves exactly like ``dict``.

    It exists so that ``onMetaData`` written by ffmpeg (an ECMA array) re-encodes as
    an ECMA array. It compares equal to a ``dict`` with the same items.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"ECMAArray({dict.__repr__(self)})"


class XMLDocument(str):
    """An AMF XML document: its text, marked so it re-encodes as XML."""

    __slots__ = ()


@dataclass(eq=True)
class TypedObject:
    """An object with a registered class name (AMF0 0x10, AMF3 object with traits).

    Attributes:
        class_name: The alias the sender registered, e.g. ``"flex.messaging.io.ArrayCollection"``.
        properties: The members, in wire order.
    """

    class_name: str
    properties: dict[str, AMFValue] = field(default_factory=dict)


AMFValue: TypeAlias = (
    "float | int | bool | str | Undefined | Unsupported | datetime | bytes"
    " | TypedObject | dict[str, AMFValue] | list[AMFValue] | None"
)
