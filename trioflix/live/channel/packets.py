"""Media packets as they travel from one publisher to many viewers.

A packet's FLV tag header and trailer are encoded once, on first use, and every
HTTP-FLV and WS-FLV viewer sends them around the same body: the cost of a viewer
is a reference, not a copy. The body is copied only where the tags of a write
are joined, never into a whole tag kept with the packet: a channel's GOP cache
keeps its packets for up to a GOP, and whole tags would keep every frame twice
(docs/benchmarks.md, "Footprint").
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Final

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


# An FLV tag's header and PreviousTagSize trailer around the body.
_TAG_OVERHEAD = 11 + 4


class Kind(enum.IntEnum):
    """FLV tag types, which are also the RTMP message types of the same media."""

    AUDIO = 8
    VIDEO = 9
    SCRIPT = 18


class Packet:
    """One audio, video or script-data message on the channel's output timeline.

    Immutable by contract (the attributes are ``Final``): one packet object is shared
    by every viewer. A plain ``__slots__`` class, not a frozen dataclass, because one is
    built for every message of every publisher and a frozen dataclass's ``__init__``
    costs several times as much.

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

    __slots__ = (
        "_flv_parts",
        "config",
        "generation",
        "keyframe",
        "kind",
        "payload",
        "properties",
        "timestamp",
    )

    def __init__(
        self,
        kind: Kind,
        timestamp: int,
        payload: bytes,
        keyframe: bool = False,
        config: bool = False,
        properties: dict[str, AMFValue] | None = None,
        generation: int = 1,
    ) -> None:
        self.kind: Final = kind
        self.timestamp: Final = timestamp
        self.payload: Final = payload
        self.keyframe: Final = keyframe
        self.config: Final = config
        self.properties: Final = properties
        self.generation: Final = generation
        self._flv_parts: tuple[bytes, bytes, bytes] | None = None

    @property
    def flv_parts(self) -> tuple[bytes, bytes, bytes]:
        """The FLV tag in three pieces: header, body (:attr:`payload` itself) and
        PreviousTagSize. Encoded on first use and then shared: only FLV viewers and
        the recorder need them, so a publisher without them never pays for it."""
        parts = self._flv_parts
        if parts is None:
            header, trailer = flv.encode_tag_envelope(
                self.kind, self.timestamp & 0xFFFFFFFF, len(self.payload)
            )
            parts = self._flv_parts = (header, self.payload, trailer)
        return parts

    @property
    def flv_tag(self) -> bytes:
        """The whole FLV tag, joined anew at each call (a copy of the body): for a
        consumer that writes one packet at a time (the ladder's input)."""
        return b"".join(self.flv_parts)

    @property
    def size(self) -> int:
        """``len(self.flv_tag)``, without encoding it."""
        return len(self.payload) + _TAG_OVERHEAD

    def _key(self) -> tuple[object, ...]:
        return (
            self.kind,
            self.timestamp,
            self.payload,
            self.keyframe,
            self.config,
            self.generation,
        )

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Packet)
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (
            f"Packet(kind={self.kind!r}, timestamp={self.timestamp!r}, payload={self.payload!r},"
            f" keyframe={self.keyframe!r}, config={self.config!r},"
            f" properties={self.properties!r}, generation={self.generation!r})"
        )


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
    return b"".join([part for packet in packets for part in packet.flv_parts])


def flv_stream_header(*, has_audio: bool = True, has_video: bool = True) -> bytes:
    """The 9-byte FLV file header plus PreviousTagSize0, which start every FLV stream."""
    return flv.encode_header(has_audio=has_audio, has_video=has_video)
