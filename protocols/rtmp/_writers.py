"""Writers: events we send, and the replies the connection sends by itself, as chunks.

Every event :meth:`Connection.send` accepts has one function in :data:`WRITERS`
that appends its message(s) to :attr:`Writer.out`. The state machine has already
accepted the event when a writer runs, so writers only serialise. The reader uses
the same :class:`Writer` methods for the automatic replies (acknowledgements, ping
responses, ``_result``/``_error``, ``onStatus``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from protocols.amf import encode_amf0

from . import _messages as m
from ._chunks import DEFAULT_CHUNK_SIZE, ChunkWriter
from ._events import (
    AudioData,
    CloseStream,
    Command,
    Connect,
    ConnectAccepted,
    ConnectRejected,
    CreateStream,
    DataMessage,
    DeleteStream,
    Metadata,
    PingRequest,
    PingResponse,
    Play,
    PlayAccepted,
    PlayRejected,
    Publish,
    PublishAccepted,
    PublishRejected,
    Status,
    StreamBegin,
    StreamEOF,
    VideoData,
)
from ._state import Role

if TYPE_CHECKING:
    from collections.abc import Callable

    from protocols.amf import AMFValue

    from ._events import Event

__all__ = ["CSID_AUDIO", "CSID_VIDEO", "WRITERS", "Writer"]

# Chunk stream ids used for what we send (any ids work; these match common practice).
CSID_CONTROL = 2  # RTMP 5.4: protocol control messages MUST use chunk stream 2
CSID_COMMAND = 3
CSID_AUDIO = 4
CSID_STREAM_COMMAND = 5
CSID_VIDEO = 6

# The command object of the answer to connect: what Flash Media Server 3 announces,
# which every client accepts.
_FMS_PROPERTIES: dict[str, AMFValue] = {"fmsVer": "FMS/3,0,1,123", "capabilities": 31.0}


class Writer:
    """Our side of the session: the outgoing bytes and what answers must refer to.

    Attributes:
        role: Which side we are.
        chunk_size: Chunk size we announce and then use for what we send.
        window_ack_size: Server: the acknowledgement window we announce.
        out: Bytes queued for the peer; ``Connection.data_to_send`` drains it.
        chunks: Chunk-stream multiplexer for everything appended to ``out``.
        window_sent: The Window Acknowledgement Size we last announced (0: none).
        pending: Our transaction id -> command name, until the peer answers it.
        connect_transaction_id: Transaction id of the peer's ``connect``, which the
            answer to it must carry.
        object_encoding: The peer's ``objectEncoding``, echoed in that answer.
    """

    __slots__ = (
        "_next_transaction_id",
        "chunk_size",
        "chunks",
        "connect_transaction_id",
        "object_encoding",
        "out",
        "pending",
        "role",
        "window_ack_size",
        "window_sent",
    )

    def __init__(self, role: Role, *, chunk_size: int, window_ack_size: int) -> None:
        self.role = role
        self.chunk_size = chunk_size
        self.window_ack_size = window_ack_size
        self._next_transaction_id = 1
        self.out = bytearray()
        self.chunks = ChunkWriter()
        self.window_sent = 0
        self.pending: dict[float, str] = {}
        self.connect_transaction_id = 0.0
        self.object_encoding: AMFValue = 0.0

    def control(self, type_id: int, payload: bytes) -> None:
        """Queue a protocol control or User Control message (RTMP 5.4, 7.1.7)."""
        self.chunks.write(self.out, CSID_CONTROL, type_id, 0, 0, payload)

    def user_control(self, kind: int, value: int) -> None:
        """Queue a User Control message: event type ``kind`` with its 32-bit value."""
        self.control(m.USER_CONTROL, m.user_control(kind, value))

    def window(self, size: int) -> None:
        """Queue Window Acknowledgement Size ``size`` and remember it."""
        self.window_sent = size
        self.control(m.WINDOW_ACK_SIZE, m.u32(size))

    def command(
        self, stream_id: int, name: str, transaction_id: float, obj: object, *args: object
    ) -> None:
        """Queue an AMF0 command message."""
        csid = CSID_COMMAND if stream_id == 0 else CSID_STREAM_COMMAND
        payload = m.command(name, transaction_id, obj, *args)
        self.chunks.write(self.out, csid, m.AMF0_COMMAND, stream_id, 0, payload)

    def on_status(self, stream_id: int, level: str, code: str, description: str) -> None:
        """Queue ``onStatus`` with an info object on ``stream_id``."""
        info = {"level": level, "code": code, "description": description}
        self.command(stream_id, "onStatus", 0.0, None, info)

    def request(self, stream_id: int, name: str, obj: object, *args: object) -> None:
        """Queue a command the peer must answer, under a fresh transaction id.

        The id goes into :attr:`pending` so the reader can tell which command a
        ``_result`` or ``_error`` answers.
        """
        transaction_id = float(self._next_transaction_id)
        self._next_transaction_id += 1
        self.pending[transaction_id] = name
        self.command(stream_id, name, transaction_id, obj, *args)

    def data(self, stream_id: int, timestamp: int, *values: object) -> None:
        """Queue an AMF0 data message."""
        payload = encode_amf0(*values)
        self.chunks.write(self.out, CSID_STREAM_COMMAND, m.AMF0_DATA, stream_id, timestamp, payload)

    def set_chunk_size(self) -> None:
        """Announce :attr:`chunk_size` (if not the default) and switch to it."""
        if self.chunk_size != DEFAULT_CHUNK_SIZE:
            self.control(m.SET_CHUNK_SIZE, m.u32(self.chunk_size))
            self.chunks.chunk_size = self.chunk_size


def _write_connect(w: Writer, event: Connect) -> None:
    w.set_chunk_size()
    obj: dict[str, object] = {"app": event.app}
    if event.tc_url is not None:
        obj["tcUrl"] = event.tc_url
    obj.update(event.properties)
    w.request(0, "connect", obj, *event.arguments)


def _write_connect_accepted(w: Writer, event: ConnectAccepted) -> None:
    w.window(w.window_ack_size)
    w.control(m.SET_PEER_BANDWIDTH, m.peer_bandwidth(w.window_ack_size, 2))
    w.set_chunk_size()
    info = {
        "level": "status",
        "code": "NetConnection.Connect.Success",
        "description": event.description,
        "objectEncoding": w.object_encoding,
    }
    w.command(0, "_result", w.connect_transaction_id, _FMS_PROPERTIES, info)


def _write_connect_rejected(w: Writer, event: ConnectRejected) -> None:
    info = {"level": "error", "code": event.code, "description": event.description}
    w.command(0, "_error", w.connect_transaction_id, None, info)


def _write_create_stream(w: Writer, event: CreateStream) -> None:
    w.request(0, "createStream", None)


def _write_publish(w: Writer, event: Publish) -> None:
    w.command(event.stream_id, "publish", 0.0, None, event.stream_key, event.publish_type)


def _write_publish_accepted(w: Writer, event: PublishAccepted) -> None:
    w.user_control(m.UC_STREAM_BEGIN, event.stream_id)
    w.on_status(event.stream_id, "status", "NetStream.Publish.Start", event.description)


def _write_play(w: Writer, event: Play) -> None:
    args = (event.stream_name, event.start, event.duration, event.reset)
    w.command(event.stream_id, "play", 0.0, None, *args)


def _write_play_accepted(w: Writer, event: PlayAccepted) -> None:
    sid = event.stream_id
    w.user_control(m.UC_STREAM_BEGIN, sid)
    w.on_status(sid, "status", "NetStream.Play.Reset", "Playing and resetting.")
    w.on_status(sid, "status", "NetStream.Play.Start", event.description)
    w.data(sid, 0, "|RtmpSampleAccess", True, True)


def _write_rejected(w: Writer, event: PublishRejected | PlayRejected) -> None:
    w.on_status(event.stream_id, "error", event.code, event.description)


def _write_close_stream(w: Writer, event: CloseStream) -> None:
    w.command(event.stream_id, "closeStream", 0.0, None)


def _write_delete_stream(w: Writer, event: DeleteStream) -> None:
    w.command(0, "deleteStream", 0.0, None, float(event.stream_id))


def _write_status(w: Writer, event: Status) -> None:
    w.on_status(event.stream_id, event.level, event.code, event.description)


def _write_stream_begin(w: Writer, event: StreamBegin) -> None:
    w.user_control(m.UC_STREAM_BEGIN, event.stream_id)


def _write_stream_eof(w: Writer, event: StreamEOF) -> None:
    w.user_control(m.UC_STREAM_EOF, event.stream_id)


def _write_ping_request(w: Writer, event: PingRequest) -> None:
    w.user_control(m.UC_PING_REQUEST, event.timestamp)


def _write_ping_response(w: Writer, event: PingResponse) -> None:
    w.user_control(m.UC_PING_RESPONSE, event.timestamp)


def _write_audio(w: Writer, event: AudioData) -> None:
    w.chunks.write(w.out, CSID_AUDIO, m.AUDIO, event.stream_id, event.timestamp, event.payload)


def _write_video(w: Writer, event: VideoData) -> None:
    w.chunks.write(w.out, CSID_VIDEO, m.VIDEO, event.stream_id, event.timestamp, event.payload)


def _write_metadata(w: Writer, event: Metadata) -> None:
    if w.role is Role.CLIENT:  # publishers ask the server to store it: 7.1.2
        w.data(event.stream_id, event.timestamp, "@setDataFrame", "onMetaData", event.metadata)
    else:
        w.data(event.stream_id, event.timestamp, "onMetaData", event.metadata)


def _write_data_message(w: Writer, event: DataMessage) -> None:
    w.data(event.stream_id, event.timestamp, event.name, *event.arguments)


def _write_command(w: Writer, event: Command) -> None:
    obj = event.command_object
    w.command(event.stream_id, event.name, event.transaction_id, obj, *event.arguments)


# Event type -> writer; an event type missing here is one ``send`` refuses.
WRITERS: dict[type[Event], Callable[[Writer, Any], None]] = {
    Connect: _write_connect,
    ConnectAccepted: _write_connect_accepted,
    ConnectRejected: _write_connect_rejected,
    CreateStream: _write_create_stream,
    Publish: _write_publish,
    PublishAccepted: _write_publish_accepted,
    PublishRejected: _write_rejected,
    Play: _write_play,
    PlayAccepted: _write_play_accepted,
    PlayRejected: _write_rejected,
    CloseStream: _write_close_stream,
    DeleteStream: _write_delete_stream,
    Status: _write_status,
    StreamBegin: _write_stream_begin,
    StreamEOF: _write_stream_eof,
    PingRequest: _write_ping_request,
    PingResponse: _write_ping_response,
    AudioData: _write_audio,
    VideoData: _write_video,
    Metadata: _write_metadata,
    DataMessage: _write_data_message,
    Command: _write_command,
}
