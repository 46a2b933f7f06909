"""Trickle ICE fragments (``application/trickle-ice-sdpfrag``, RFC 8840 9), sans-IO.

A WHEP viewer or WHIP encoder that offers before it has gathered every candidate
sends the rest in a ``PATCH`` of its session (RFC 9725 4.3.1), a body such as::

    a=ice-ufrag:EsAw
    a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1
    m=audio 9 UDP/TLS/RTP/SAVPF 111
    a=mid:0
    a=candidate:1 1 UDP 2130706431 198.51.100.1 39132 typ host
    a=end-of-candidates

:func:`parse_fragment` reads one into a :class:`Fragment`; :func:`format_fragment`
writes one, as a client does.
"""

from __future__ import annotations

from ._fragment import MAX_CANDIDATES as MAX_CANDIDATES
from ._fragment import Candidate as Candidate
from ._fragment import Fragment as Fragment
from ._fragment import SdpFragError as SdpFragError
from ._fragment import format_fragment as format_fragment
from ._fragment import parse_fragment as parse_fragment
