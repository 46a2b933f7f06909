"""FU-A fragments (RFC 6184 5.8) recut to one size."""

from __future__ import annotations

__all__ = ["even_fragments"]

FU_A = 28
_TYPE = 0x1F
_START = 0x80
_END = 0x40


def even_fragments(payloads: list[bytes]) -> list[bytes]:
    """``payloads``, a frame's RTP payloads in order, with each NAL unit's FU-A
    fragments cut again: as many or fewer, each as long as the longest was, but
    the last, and the same bytes in the same order. Other payloads (single NAL
    units, STAP-A) are left as they are, and so are the fragments of a unit whose
    start or end is not in ``payloads``."""
    evened: list[bytes] = []
    unit: list[bytes] = []  # the fragments of the NAL unit being read
    for payload in payloads:
        if len(payload) <= 2 or payload[0] & _TYPE != FU_A:
            evened += unit
            evened.append(payload)
            unit = []
            continue
        if payload[1] & _START:
            evened += unit
            unit = [payload]
        elif unit:
            unit.append(payload)
        else:  # its unit's start is not here
            evened.append(payload)
            continue
        if payload[1] & _END:
            evened += _recut(unit)
            unit = []
    return evened + unit


def _recut(fragments: list[bytes]) -> list[bytes]:
    indicator, nal_type = fragments[0][0], fragments[0][1] & _TYPE
    data = b"".join(fragment[2:] for fragment in fragments)
    size = -(-len(data) // len(fragments))  # the longest: rounded up
    last = (len(data) - 1) // size
    return [
        bytes(
            (
                indicator,
                nal_type | (_START if index == 0 else 0) | (_END if index == last else 0),
            )
        )
        + data[index * size : (index + 1) * size]
        for index in range(last + 1)
    ]
