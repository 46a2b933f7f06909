"""Media packets as they travel from one publisher to many viewers.

A packet is encoded into its FLV tag once, when it arrives, and every HTTP-FLV
and WS-FLV viewer sends those same bytes: the cost of a viewer is a reference,
not a copy.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from protocols import amf, flv

if TYPE_CHECKING:
    from collections.abc import Sequence

    from protocols.amf import AMFValue

__all__ = [
    "Kind",
    "Packet",
    "flv_bytes",
    "flv_stream_header",
    "metadata_packet",
]


class Kind(enum.IntEnum):
    """FLV tag types, which are also the RTMP message types of the same media."""

    AUDIO = 8
    VIDEO = 9
    SCRIPT = 18


@dataclass(frozen=True, slots=True)
class Packet:
    """One audio, video or script-data message on the channel's output timeline.

    Attributes:
        kind: Audio, video or script data (onMetaData).
        timestamp: Milliseconds on the channel's timeline (monotonic across
            publisher reconnects; may exceed 32 bits, wire formats wrap it).
        payload: The FLV tag body, exactly as the publisher sent it.
        keyframe: A video frame a decoder can start from.
        config: A sequence header (AVC/HEVC decoder configuration, AAC AudioSpecificConfig).
        properties: For script data: the ``onMetaData`` properties the payload encodes
            (RTMP players are sent these; FLV viewers the encoded payload).
        generation: Which publisher connection of the session sent it (1, 2, ... after
            reconnects). Consumers that must mark a discontinuity (HLS) watch it change.
    """

    kind: Kind
    timestamp: int
    payload: bytes
    keyframe: bool = False
    config: bool = False
    properties: dict[str, AMFValue] | None = field(default=None, compare=False)
    generation: int = 1
    flv_tag: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        tag = flv.encode_tag_fields(self.kind, self.timestamp & 0xFFFFFFFF, self.payload)
        object.__setattr__(self, "flv_tag", tag)

    @property
    def size(self) -> int:
        return len(self.flv_tag)


def metadata_packet(
    properties: dict[str, AMFValue], timestamp: int = 0, generation: int = 1
) -> Packet:
    """An ``onMetaData`` script-data packet carrying ``properties``."""
    payload = amf.encode_amf0("onMetaData") + amf.encode_amf0(amf.ECMAArray(properties))
    return Packet(
        Kind.SCRIPT, timestamp, payload, config=True, properties=properties, generation=generation
    )


def flv_bytes(packets: Sequence[Packet]) -> bytes:
    """The FLV tags of ``packets``, back to back: what one write to a viewer carries."""
    if len(packets) == 1:
        return packets[0].flv_tag
    return b"".join([packet.flv_tag for packet in packets])


def flv_stream_header(*, has_audio: bool = True, has_video: bool = True) -> bytes:
    """The 9-byte FLV file header plus PreviousTagSize0, which start every FLV stream."""
    return flv.encode_header(has_audio=has_audio, has_video=has_video)
