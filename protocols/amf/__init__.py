"""AMF0 and AMF3 encoding and decoding (sans-IO, pure functions).

Python value mapping, bounds and error behaviour are documented in
:mod:`protocols.amf._types`; in short: ``dict`` for objects, :class:`ECMAArray`
for ECMA arrays, ``list`` for strict arrays, ``None`` for null, :data:`UNDEFINED`
for undefined, an aware UTC ``datetime`` for dates.
"""

from __future__ import annotations

from ._amf0 import decode_amf0 as decode_amf0
from ._amf0 import encode_amf0 as encode_amf0
from ._amf3 import decode_amf3 as decode_amf3
from ._amf3 import encode_amf3 as encode_amf3
from ._types import DEFAULT_MAX_DEPTH as DEFAULT_MAX_DEPTH
from ._types import UNDEFINED as UNDEFINED
from ._types import UNSUPPORTED as UNSUPPORTED
from ._types import AMFDecodeError as AMFDecodeError
from ._types import AMFEncodeError as AMFEncodeError
from ._types import AMFError as AMFError
from ._types import AMFValue as AMFValue
from ._types import ECMAArray as ECMAArray
from ._types import TypedObject as TypedObject
from ._types import Undefined as Undefined
from ._types import Unsupported as Unsupported
from ._types import XMLDocument as XMLDocument

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
    "decode_amf0",
    "decode_amf3",
    "encode_amf0",
    "encode_amf3",
]
