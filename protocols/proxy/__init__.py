"""The PROXY protocol, version 1 (the text header), sans-IO: bytes in, the client out.

A proxy that passes a TCP connection on (nginx's ``stream`` block with
``proxy_protocol on;``, HAProxy's ``send-proxy``) first writes one line saying
whom it took the connection from::

    PROXY TCP4 198.51.100.7 10.0.0.1 51234 1935\\r\\n

then the client's bytes, untouched. Whoever reads it must trust the peer that
wrote it: that is the caller's decision (anyone can write the line).
"""

from __future__ import annotations

from ._v1 import V1_MAX_BYTES as V1_MAX_BYTES
from ._v1 import V1_SIGNATURE as V1_SIGNATURE
from ._v1 import ProxyHeader as ProxyHeader
from ._v1 import ProxyProtocolError as ProxyProtocolError
from ._v1 import parse_v1 as parse_v1
