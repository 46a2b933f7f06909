"""Events: what :meth:`Connection.next_event` returns and :meth:`Connection.send` takes.

Events are symmetric: the ``Publish`` a client sends is the ``Publish`` the server
receives, and the ``PublishAccepted`` the server sends is what the client receives.
Transaction ids, chunk streams and AMF framing are the connection's business and
never appear here, except on the escape hatch :class:`Command`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, TypeAlias, TypeVar

from ._errors import LocalProtocolError

if TYPE_CHECKING:
    from collections.abc import Callable

    from protocols.amf import AMFValue

__all__ = [
    "AudioData",
    "CloseStream",
    "Command",
    "Connect",
    "ConnectAccepted",
    "ConnectRejected",
    "ConnectionClosed",
    "CreateStream",
    "DataMessage",
    "DeleteStream",
    "Event",
    "HandshakeComplete",
    "MediaEvent",
    "Metadata",
    "PingRequest",
    "PingResponse",
    "Play",
    "PlayAccepted",
    "PlayRejected",
    "Publish",
    "PublishAccepted",
    "PublishRejected",
    "Status",
    "StreamBegin",
    "StreamCreated",
    "StreamEOF",
    "VideoData",
]

_U32_MAX = 0xFFFFFFFF


def _check_u32(name: str, value: int) -> None:
    if not 0 <= value <= _U32_MAX:
        raise LocalProtocolError(f"{name} must fit 32 bits unsigned, got {value}")


def _check_stream(stream_id: int) -> None:
    if not 1 <= stream_id <= _U32_MAX:
        raise LocalProtocolError(
            f"stream_id must be a stream allocated by createStream (>= 1), got {stream_id}"
        )


class Event:
    """Base class of every event (never instantiated directly)."""

    __slots__ = ()


# --- connection level ---------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class HandshakeComplete(Event):
    """C0..C2 / S0..S2 done; chunks may flow.

    Attributes:
        digest: True when the Flash-9 digest handshake was used (Flash, librtmp/OBS,
            ffmpeg), False for the plain RTMP 1.0 handshake.
    """

    digest: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Connect(Event):
    """``connect`` command (RTMP spec 7.2.1.1): opens the NetConnection to ``app``.

    Attributes:
        app: Application name, e.g. ``"live"`` for ``rtmp://host/live``.
        tc_url: The ``tcUrl`` property, e.g. ``"rtmp://host:1935/live"``, if sent.
        properties: Every other property of the command object (``flashVer``,
            ``objectEncoding``, ``fourCcList`` for enhanced RTMP, ...).
        arguments: Optional user arguments after the command object.
    """

    app: str
    tc_url: str | None = None
    properties: dict[str, AMFValue] = field(default_factory=dict)
    arguments: tuple[AMFValue, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectAccepted(Event):
    """``_result`` for ``connect`` with ``NetConnection.Connect.Success``."""

    description: str = "Connection succeeded."


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectRejected(Event):
    """``_error`` for ``connect`` (the server closes the connection afterwards)."""

    code: str = "NetConnection.Connect.Rejected"
    description: str = "Connection rejected."


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateStream(Event):
    """``createStream`` command; the server answers by itself (see StreamCreated)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamCreated(Event):
    """A message stream was allocated by ``createStream`` (emitted on both sides)."""

    stream_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionClosed(Event):
    """The peer closed its side of the transport (``receive_data(b"")``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PingRequest(Event):
    """User Control Ping Request (RTMP 7.1.7, event 6). Answered automatically when
    received, so never returned by ``next_event``; send it to measure round trips.

    Attributes:
        timestamp: Sender's clock in ms (any 32-bit value; echoed back).
    """

    timestamp: int

    def __post_init__(self) -> None:
        _check_u32("timestamp", self.timestamp)


@dataclass(frozen=True, slots=True, kw_only=True)
class PingResponse(Event):
    """User Control Ping Response (event 7): echoes a PingRequest's timestamp."""

    timestamp: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Command(Event):
    """Any other command message (type 20 or 17), e.g. ``FCPublish`` or ``onBWDone``.

    Received: commands the connection does not handle itself (it already replied
    ``_error`` when ``transaction_id`` was non-zero), and ``_result``/``_error``
    replies to Commands you sent. Sent: written as-is, AMF0, on ``stream_id``.
    """

    name: str
    transaction_id: float = 0.0
    command_object: AMFValue = None
    arguments: tuple[AMFValue, ...] = ()
    stream_id: int = 0


# --- message stream level -------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Publish(Event):
    """``publish`` command (RTMP 7.2.2.6): the client wants to send media.

    Attributes:
        stream_id: Message stream it arrived on (allocated by ``createStream``).
        stream_key: The ``publishingName``: what OBS calls the stream key. Any query
            string (``key?token=...``) is kept verbatim.
        publish_type: ``"live"``, ``"record"`` or ``"append"``.
    """

    stream_id: int
    stream_key: str
    publish_type: str = "live"

    def __post_init__(self) -> None:
        _check_stream(self.stream_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishAccepted(Event):
    """``onStatus NetStream.Publish.Start``: media may flow from the client."""

    stream_id: int
    description: str = "Publishing."

    def __post_init__(self) -> None:
        _check_stream(self.stream_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishRejected(Event):
    """``onStatus`` error for ``publish`` (default ``NetStream.Publish.BadName``)."""

    stream_id: int
    code: str = "NetStream.Publish.BadName"
    description: str = "Publishing refused."

    def __post_init__(self) -> None:
        _check_stream(self.stream_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class Play(Event):
    """``play`` command (RTMP 7.2.2.1): the client wants media.

    Attributes:
        stream_name: Name to play (a channel name for trioflix).
        start: Negative for live: -2 live or recorded, -1 live only (-2000 and
            -1000 from most clients); >= 0 into a recording. -2 if not sent.
        duration: Negative (-1 if not sent): until the end; how long to play
            otherwise.

    Both as the client sent them: in milliseconds from every client in use (Flash
    Player, librtmp, ffmpeg), though the specification's text says seconds.
        reset: Whether to flush any previous playlist.
    """

    stream_id: int
    stream_name: str
    start: float = -2.0
    duration: float = -1.0
    reset: bool = True

    def __post_init__(self) -> None:
        _check_stream(self.stream_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlayAccepted(Event):
    """``onStatus NetStream.Play.Start`` (preceded on the wire by Stream Begin,
    ``NetStream.Play.Reset`` and ``|RtmpSampleAccess``): media will flow to the client."""

    stream_id: int
    description: str = "Playing."

    def __post_init__(self) -> None:
        _check_stream(self.stream_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlayRejected(Event):
    """``onStatus`` error for ``play`` (default ``NetStream.Play.StreamNotFound``)."""

    stream_id: int
    code: str = "NetStream.Play.StreamNotFound"
    description: str = "Stream not found."

    def __post_init__(self) -> None:
        _check_stream(self.stream_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class CloseStream(Event):
    """``closeStream``: stop publishing/playing; the stream id stays allocated."""

    stream_id: int

    def __post_init__(self) -> None:
        _check_stream(self.stream_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteStream(Event):
    """``deleteStream`` (RTMP 7.2.2.3): stop and free the message stream."""

    stream_id: int

    def __post_init__(self) -> None:
        _check_stream(self.stream_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class Status(Event):
    """An ``onStatus`` not covered by a more specific event (e.g.
    ``NetStream.Unpublish.Success``, ``NetStream.Play.Reset``, ``...UnpublishNotify``)."""

    stream_id: int
    code: str
    level: Literal["status", "warning", "error"] | str = "status"
    description: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamBegin(Event):
    """User Control Stream Begin (event 0): the stream is ready for media."""

    stream_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamEOF(Event):
    """User Control Stream EOF (event 1): no more media on this stream."""

    stream_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class AudioData(Event):
    """Audio message (type 8).

    Attributes:
        stream_id: Message stream of the publisher (or player).
        timestamp: Milliseconds, 32-bit as on the wire, extended timestamp applied.
        payload: The raw FLV AUDIODATA tag body (e.g. AAC: 0xAF, packet type, data).
    """

    stream_id: int
    timestamp: int
    payload: bytes

    def __post_init__(self) -> None:
        _check_u32("timestamp", self.timestamp)


@dataclass(frozen=True, slots=True, kw_only=True)
class VideoData(Event):
    """Video message (type 9). ``payload`` is the raw FLV VIDEODATA tag body,
    including the enhanced-RTMP extended header when present."""

    stream_id: int
    timestamp: int
    payload: bytes

    def __post_init__(self) -> None:
        _check_u32("timestamp", self.timestamp)


@dataclass(frozen=True, slots=True, kw_only=True)
class Metadata(Event):
    """``onMetaData``, sent by publishers as ``@setDataFrame("onMetaData", {...})``.

    Attributes:
        metadata: The properties (``width``, ``videocodecid``, ...): a dict, or an
            ECMAArray (a dict subclass) as ffmpeg and OBS send it.
    """

    stream_id: int
    metadata: dict[str, AMFValue]
    timestamp: int = 0

    def __post_init__(self) -> None:
        _check_u32("timestamp", self.timestamp)


@dataclass(frozen=True, slots=True, kw_only=True)
class DataMessage(Event):
    """Any other data message (type 18/15), e.g. ``onTextData`` or ``|RtmpSampleAccess``."""

    stream_id: int
    name: str
    arguments: tuple[AMFValue, ...] = ()
    timestamp: int = 0

    def __post_init__(self) -> None:
        _check_u32("timestamp", self.timestamp)


MediaEvent: TypeAlias = AudioData | VideoData | Metadata


# Media events built by the connection for every message a publisher sends: the chunk
# reader's timestamps are 32-bit by construction, so the slots are filled directly,
# skipping the dataclass __init__ and its __post_init__ check (several times the cost).
_MediaT = TypeVar("_MediaT", VideoData, AudioData)


def _direct_builder(cls: type[_MediaT]) -> Callable[[int, int, bytes], _MediaT]:
    new = object.__new__
    set_stream_id, set_timestamp, set_payload = (
        cls.__dict__[name].__set__ for name in ("stream_id", "timestamp", "payload")
    )

    def build(stream_id: int, timestamp: int, payload: bytes) -> _MediaT:
        event: _MediaT = new(cls)
        set_stream_id(event, stream_id)
        set_timestamp(event, timestamp)
        set_payload(event, payload)
        return event

    return build


#: ``VideoData(stream_id=..., timestamp=..., payload=...)`` for a received message.
received_video = _direct_builder(VideoData)
#: ``AudioData(stream_id=..., timestamp=..., payload=...)`` for a received message.
received_audio = _direct_builder(AudioData)
