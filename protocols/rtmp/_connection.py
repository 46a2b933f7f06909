"""The sans-IO RTMP connection: bytes in, events out; events in, bytes out."""

from __future__ import annotations

import enum
import os
from collections import deque
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from protocols.amf import encode_amf0

from . import _messages as m
from ._buffer import ReceiveBuffer
from ._chunks import DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE, ChunkReader, ChunkWriter
from ._errors import LocalProtocolError, RemoteProtocolError
from ._events import (
    AudioData,
    CloseStream,
    Command,
    Connect,
    ConnectAccepted,
    ConnectionClosed,
    ConnectRejected,
    CreateStream,
    DataMessage,
    DeleteStream,
    Event,
    HandshakeComplete,
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
    StreamCreated,
    StreamEOF,
    VideoData,
    received_audio,
    received_video,
)
from ._handshake import HANDSHAKE_SIZE, ClientHandshake, check_version, server_reply
from ._state import STREAM_TRANSITIONS, TRANSITIONS, Role, State, StreamState

if TYPE_CHECKING:
    from collections.abc import Callable

    from protocols.amf import AMFValue

__all__ = [
    "DEFAULT_MAX_MESSAGE_SIZE",
    "NEED_DATA",
    "Connection",
    "Sentinel",
]

# The wire format caps a message at 2**24 - 1 bytes; keyframes of 1080p60 streams
# stay well under 2 MiB, so 16 MiB only exists to bound hostile input.
DEFAULT_MAX_MESSAGE_SIZE = 16 * 1024 * 1024
# Real clients interleave audio, video and data: 3 partial messages at most.
DEFAULT_MAX_PARTIAL_CHUNK_STREAMS = 16
# Chunk stream ids can go to 65599; each known one costs ~200 bytes of state.
DEFAULT_MAX_CHUNK_STREAMS = 256
# One publish or one play per connection is the norm; a few spare for retries.
DEFAULT_MAX_STREAMS = 16
# ffmpeg's default window; acknowledgements every 2.5 MB are ~1/s at 20 Mbit/s.
DEFAULT_WINDOW_ACK_SIZE = 2_500_000
# Large chunks mean fewer headers to write and parse; 4096 is what ffmpeg and
# nginx-rtmp use and every player accepts.
DEFAULT_CHUNK_SIZE_OUT = 4096

# Chunk stream ids used for what we send (any ids work; these match common practice).
CSID_CONTROL = 2  # RTMP 5.4: protocol control messages MUST use chunk stream 2
CSID_COMMAND = 3
CSID_AUDIO = 4
CSID_STREAM_COMMAND = 5
CSID_VIDEO = 6

_STREAM_EVENTS: frozenset[type[Event]] = frozenset(
    (
        Publish,
        PublishAccepted,
        PublishRejected,
        Play,
        PlayAccepted,
        PlayRejected,
        CloseStream,
        DeleteStream,
        AudioData,
        VideoData,
        Metadata,
        DataMessage,
    )
)
# Commands the server answers by itself with a plain ``_result``.
_SIMPLE_COMMANDS = frozenset(("releaseStream", "FCPublish", "FCUnpublish", "getStreamLength"))

_FMS_PROPERTIES: dict[str, AMFValue] = {"fmsVer": "FMS/3,0,1,123", "capabilities": 31.0}


class Sentinel(enum.Enum):
    NEED_DATA = "NEED_DATA"

    def __repr__(self) -> str:
        return self.value


NEED_DATA = Sentinel.NEED_DATA


def _str_field(info: dict[str, AMFValue], key: str, default: str = "") -> str:
    value = info.get(key, default)
    return value if isinstance(value, str) else default


def _first_dict(args: list[AMFValue]) -> dict[str, AMFValue]:
    return args[0] if args and isinstance(args[0], dict) else {}


class Connection:
    """One side of an RTMP session (modelled on h11.Connection).

    Feed bytes from the socket to :meth:`receive_data`, then call :meth:`next_event`
    until it returns :data:`NEED_DATA`. Answer with :meth:`send` (or the ``accept_*``
    and ``send_*`` shortcuts). After every batch, write :meth:`data_to_send` to the
    socket: the connection also queues replies of its own (handshake, chunk size,
    acknowledgements, ping responses, ``createStream`` results).

    Args:
        role: ``Role.SERVER`` to accept publishers and players, ``Role.CLIENT`` to
            publish or play (tests, load generators).
        random_bytes: Source of handshake randomness; inject a deterministic one to
            replay a session byte for byte.
        digest_handshake: Client only: send the Flash-9 digest handshake (as ffmpeg
            and OBS do) rather than the plain one.
        chunk_size: Chunk size announced to the peer and used for what we send.
        window_ack_size: Server: acknowledgement window announced to the client and
            given as Set Peer Bandwidth.
        max_message_size: Largest message accepted from the peer, in bytes.
        max_partial_chunk_streams: Largest number of partly received messages at once.
        max_chunk_streams: Largest number of distinct chunk stream ids from the peer.
        max_streams: Server: most message streams ``createStream`` will allocate.

    Error handling:
        A peer that breaks the protocol makes :meth:`next_event` raise
        :class:`RemoteProtocolError` (then and forever after; ``state`` is ``ERROR``).
        Misuse by the caller raises :class:`LocalProtocolError` from :meth:`send`
        without queuing anything.

    Resource handling:
        Memory is bounded by ``max_partial_chunk_streams * max_message_size`` plus
        the unread input and unsent output, both of which the caller controls.
    """

    def __init__(
        self,
        role: Role,
        *,
        random_bytes: Callable[[int], bytes] = os.urandom,
        digest_handshake: bool = True,
        chunk_size: int = DEFAULT_CHUNK_SIZE_OUT,
        window_ack_size: int = DEFAULT_WINDOW_ACK_SIZE,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        max_partial_chunk_streams: int = DEFAULT_MAX_PARTIAL_CHUNK_STREAMS,
        max_chunk_streams: int = DEFAULT_MAX_CHUNK_STREAMS,
        max_streams: int = DEFAULT_MAX_STREAMS,
    ) -> None:
        if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
            raise ValueError(f"chunk_size must be in 1..{MAX_CHUNK_SIZE}, got {chunk_size}")
        self.role = role
        self.state = State.HANDSHAKE
        self._peer = Role.SERVER if role is Role.CLIENT else Role.CLIENT
        self._random_bytes = random_bytes
        self._chunk_size = chunk_size
        self._window_ack_size = window_ack_size
        self._max_streams = max_streams
        self._buffer = ReceiveBuffer()
        self._out = bytearray()
        self._events: deque[Event] = deque()
        self._eof = False
        self._reader = ChunkReader(
            max_message_size=max_message_size,
            max_partial_chunk_streams=max_partial_chunk_streams,
            max_chunk_streams=max_chunk_streams,
        )
        self._writer = ChunkWriter()
        self._streams: dict[int, StreamState] = {}
        self._next_stream_id = 1
        self._next_transaction_id = 1
        self._pending: dict[float, str] = {}  # our transaction id -> command name
        self._connect_transaction_id = 0.0
        self._object_encoding: AMFValue = 0.0
        self._handshake_replied = False
        self._client_handshake: ClientHandshake | None = None
        self._ack_window = 0  # the peer's Window Acknowledgement Size; 0 = not announced
        self._last_ack = 0
        self._window_sent = 0
        # Received media is delivered only on streams in this state (rule 3).
        self._media_in_state = (
            StreamState.PUBLISHING if role is Role.SERVER else StreamState.PLAYING
        )
        self._media_out_state = (
            StreamState.PLAYING if role is Role.SERVER else StreamState.PUBLISHING
        )
        self.bytes_received = 0
        self.bytes_sent = 0
        self.peer_acknowledged = 0
        if role is Role.CLIENT:
            self._client_handshake = ClientHandshake(random_bytes, digest=digest_handshake)
            self._out += self._client_handshake.c0c1

    # --- public API ---------------------------------------------------------------------

    @property
    def streams(self) -> dict[int, StreamState]:
        """A copy of the message streams and their states."""
        return dict(self._streams)

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Buffer bytes from the peer. ``b""`` means the peer closed (EOF).

        Queues an Acknowledgement once the peer's window is crossed.

        Raises:
            RuntimeError: data after EOF.
        """
        if self._eof:
            if data:
                raise RuntimeError("received data after EOF")
            return
        if not data:
            self._eof = True
            return
        self._buffer.append(data)
        self.bytes_received += len(data)
        if self._ack_window and self.bytes_received - self._last_ack >= self._ack_window:
            # RTMP 5.4.3: the sequence number is the bytes received so far (mod 2**32).
            self._last_ack = self.bytes_received
            self._control(m.ACKNOWLEDGEMENT, m.u32(self.bytes_received))

    def next_event(self) -> Event | Literal[Sentinel.NEED_DATA]:
        """Parse the next event from the buffered bytes.

        Returns:
            An event, or :data:`NEED_DATA` when more bytes are needed.
            :class:`ConnectionClosed` after EOF (and again on every later call).

        Raises:
            RemoteProtocolError: the peer violated the protocol (see class docs).
        """
        if self.state is State.ERROR:
            raise RemoteProtocolError("peer already violated the protocol")
        try:
            if self._events:
                return self._events.popleft()
            event = self._read_event()
            if event is None:
                if not self._eof:
                    return NEED_DATA
                if self._buffer:
                    raise LocalProtocolError(
                        f"peer closed the connection with {len(self._buffer)} bytes"
                        " of an incomplete chunk or handshake pending"
                    )
                event = ConnectionClosed()
                self._process(self._peer, event)
            return event
        except LocalProtocolError as exc:
            self.state = State.ERROR
            raise RemoteProtocolError(str(exc), status_hint=exc.status_hint) from exc

    @property
    def bytes_to_send(self) -> int:
        """How many bytes :meth:`data_to_send` would return now (0: nothing queued)."""
        return len(self._out)

    def data_to_send(self) -> bytes:
        """Drain and return the bytes queued for the peer (possibly ``b""``)."""
        out = bytes(self._out)
        self._out.clear()
        self.bytes_sent += len(out)
        return out

    def send(self, event: Event) -> None:
        """Queue ``event`` for the peer (see the events for what each role may send).

        Raises:
            LocalProtocolError: the event is not allowed in the current state or for
                this role; nothing was queued and the state is unchanged.
        """
        handler = self._senders.get(type(event))
        if handler is None:
            raise LocalProtocolError(f"{type(event).__name__} cannot be sent; it is automatic")
        self._process(self.role, event)
        handler(self, event)

    # Shortcuts for the server's decisions.

    def accept_connect(self, description: str = "Connection succeeded.") -> None:
        """Answer ``connect`` with NetConnection.Connect.Success (and window/chunk settings)."""
        self.send(ConnectAccepted(description=description))

    def reject_connect(
        self,
        code: str = "NetConnection.Connect.Rejected",
        description: str = "Connection rejected.",
    ) -> None:
        """Answer ``connect`` with an ``_error``; close the transport afterwards."""
        self.send(ConnectRejected(code=code, description=description))

    def accept_publish(self, stream_id: int, description: str = "Publishing.") -> None:
        """Answer ``publish`` with NetStream.Publish.Start; media will follow."""
        self.send(PublishAccepted(stream_id=stream_id, description=description))

    def reject_publish(
        self,
        stream_id: int,
        code: str = "NetStream.Publish.BadName",
        description: str = "Publishing refused.",
    ) -> None:
        """Answer ``publish`` with an error status (bad key, already live, ...)."""
        self.send(PublishRejected(stream_id=stream_id, code=code, description=description))

    def accept_play(self, stream_id: int, description: str = "Playing.") -> None:
        """Answer ``play``: Stream Begin, NetStream.Play.Reset, NetStream.Play.Start."""
        self.send(PlayAccepted(stream_id=stream_id, description=description))

    def reject_play(
        self,
        stream_id: int,
        code: str = "NetStream.Play.StreamNotFound",
        description: str = "Stream not found.",
    ) -> None:
        """Answer ``play`` with an error status."""
        self.send(PlayRejected(stream_id=stream_id, code=code, description=description))

    def send_media(
        self, stream_id: int, kind: Literal["audio", "video"], timestamp: int, payload: bytes
    ) -> None:
        """Queue one audio or video message (an FLV tag body) on ``stream_id``.

        The fast path for fan-out: no event object is built. Same rules as sending
        ``AudioData``/``VideoData``.
        """
        if self.state is not State.CONNECTED or (
            self._streams.get(stream_id) is not self._media_out_state
        ):
            raise LocalProtocolError(
                f"cannot send {kind} on stream {stream_id} in state {self.state.name}"
                f"/{self._streams.get(stream_id)}"
            )
        if not 0 <= timestamp <= 0xFFFFFFFF:
            raise LocalProtocolError(f"timestamp must fit 32 bits unsigned, got {timestamp}")
        if kind == "audio":
            self._writer.write(self._out, CSID_AUDIO, m.AUDIO, stream_id, timestamp, payload)
        else:
            self._writer.write(self._out, CSID_VIDEO, m.VIDEO, stream_id, timestamp, payload)

    def send_metadata(
        self, stream_id: int, metadata: dict[str, AMFValue], timestamp: int = 0
    ) -> None:
        """Queue ``onMetaData`` (server) or ``@setDataFrame`` (client) on ``stream_id``."""
        self.send(Metadata(stream_id=stream_id, metadata=metadata, timestamp=timestamp))

    def send_stream_eof(self, stream_id: int) -> None:
        """Queue User Control Stream EOF: the source of a played stream ended."""
        self.send(StreamEOF(stream_id=stream_id))

    # --- state machine ----------------------------------------------------------------

    def _process(self, sender: Role, event: Event) -> None:
        event_type = type(event)
        new_state = TRANSITIONS.get((self.state, sender, event_type))
        if new_state is None:
            raise LocalProtocolError(
                f"{event_type.__name__} from the {sender.value} is not allowed"
                f" in connection state {self.state.name}"
            )
        if event_type in _STREAM_EVENTS:
            stream_id: int = event.stream_id  # type: ignore[attr-defined]
            stream_state = self._streams.get(stream_id)
            if stream_state is None:
                raise LocalProtocolError(
                    f"{event_type.__name__} on message stream {stream_id}, which does not exist"
                )
            if event_type is DeleteStream:
                del self._streams[stream_id]
            else:
                new_stream_state = STREAM_TRANSITIONS.get((stream_state, sender, event_type))
                if new_stream_state is None:
                    raise LocalProtocolError(
                        f"{event_type.__name__} from the {sender.value} is not allowed"
                        f" on stream {stream_id} in state {stream_state.name}"
                    )
                self._streams[stream_id] = new_stream_state
        self.state = new_state

    # --- reading ------------------------------------------------------------------------

    def _read_event(self) -> Event | None:
        buffer = self._buffer
        while True:
            if self.state is State.HANDSHAKE:
                return self._read_handshake()
            if self.state is State.CLOSED:
                return None
            pos, message = self._reader.read(buffer.data, buffer.start)
            buffer.consume(pos - buffer.start)
            if message is None:
                return None
            event = self._handle_message(*message)
            if event is not None:
                return event
            if self._events:
                return self._events.popleft()

    def _read_handshake(self) -> Event | None:
        buffer = self._buffer
        if self._client_handshake is not None:
            if len(buffer) < 1 + 2 * HANDSHAKE_SIZE:
                return None
            c2, digest = self._client_handshake.reply(buffer.take(1 + 2 * HANDSHAKE_SIZE))
            self._out += c2
        elif not self._handshake_replied:
            if buffer:
                check_version(buffer.data[buffer.start], "C0")  # fail fast on HTTP etc.
            if len(buffer) < 1 + HANDSHAKE_SIZE:
                return None
            reply, self._digest = server_reply(buffer.take(1 + HANDSHAKE_SIZE), self._random_bytes)
            self._out += reply
            self._handshake_replied = True
            return self._read_handshake()
        else:
            if len(buffer) < HANDSHAKE_SIZE:
                return None
            buffer.consume(HANDSHAKE_SIZE)  # C2 content is not checked, as in FMS/nginx
            digest = self._digest
        event = HandshakeComplete(digest=digest)
        self._process(self.role, event)
        return event

    def _handle_message(
        self, type_id: int, stream_id: int, timestamp: int, payload: bytes
    ) -> Event | None:
        if type_id == m.VIDEO or type_id == m.AUDIO:
            # Equivalent to the table lookup: streams exist only while CONNECTED.
            stream_state = self._streams.get(stream_id)
            if stream_state is not self._media_in_state:
                if stream_state is None:
                    raise LocalProtocolError(f"media for unknown message stream {stream_id}")
                return None
            if type_id == m.VIDEO:
                return received_video(stream_id, timestamp, payload)
            return received_audio(stream_id, timestamp, payload)
        if type_id == m.AMF0_COMMAND or type_id == m.AMF3_COMMAND:
            return self._handle_command(stream_id, *m.decode_command(type_id, payload))
        if type_id == m.AMF0_DATA or type_id == m.AMF3_DATA:
            return self._handle_data(stream_id, timestamp, type_id, payload)
        if type_id == m.SET_CHUNK_SIZE:
            size = m.read_u32(payload, "Set Chunk Size")
            if not 1 <= size <= MAX_CHUNK_SIZE:  # 5.4.1: top bit MUST be 0, size >= 1
                raise LocalProtocolError(f"invalid Set Chunk Size {size}")
            self._reader.chunk_size = size
        elif type_id == m.ABORT:
            self._reader.abort(m.read_u32(payload, "Abort"))
        elif type_id == m.ACKNOWLEDGEMENT:
            self.peer_acknowledged = m.read_u32(payload, "Acknowledgement")
        elif type_id == m.WINDOW_ACK_SIZE:
            self._ack_window = m.read_u32(payload, "Window Acknowledgement Size")
        elif type_id == m.SET_PEER_BANDWIDTH:
            size = m.read_u32(payload, "Set Peer Bandwidth")
            if size != self._window_sent:  # 5.4.5: answer with our Window Ack Size
                self._send_window(size)
        elif type_id == m.USER_CONTROL:
            return self._handle_user_control(*m.read_user_control(payload))
        elif type_id == m.AGGREGATE:
            for sub_type, sub_timestamp, body in m.split_aggregate(timestamp, payload):
                if sub_type in (m.AUDIO, m.VIDEO, m.AMF0_DATA):
                    event = self._handle_message(sub_type, stream_id, sub_timestamp, body)
                    if event is not None:
                        self._events.append(event)
        # Anything else (shared objects 16/19, unknown types) is ignored.
        return None

    def _handle_user_control(self, event_type: int, value: int) -> Event | None:
        event: Event
        if event_type == m.UC_PING_REQUEST:  # 7.1.7: answer with the same timestamp
            self._control(m.USER_CONTROL, m.user_control(m.UC_PING_RESPONSE, value))
            return None
        if event_type == m.UC_PING_RESPONSE:
            event = PingResponse(timestamp=value)
        elif event_type == m.UC_STREAM_BEGIN:
            event = StreamBegin(stream_id=value)
        elif event_type == m.UC_STREAM_EOF:
            event = StreamEOF(stream_id=value)
        else:
            return None  # Set Buffer Length, Stream Dry, Stream Is Recorded: nothing to do
        self._process(self._peer, event)
        return event

    def _handle_data(
        self, stream_id: int, timestamp: int, type_id: int, payload: bytes
    ) -> Event | None:
        if self._streams.get(stream_id) is not self._media_in_state:
            m.decode_data(type_id, payload)  # still reject garbage
            return None
        name, values = m.decode_data(type_id, payload)
        if name == "@setDataFrame" and values and values[0] == "onMetaData":
            name, values = "onMetaData", values[1:]
        event: Event
        if name == "onMetaData" and values and isinstance(values[0], dict):
            event = Metadata(stream_id=stream_id, metadata=values[0], timestamp=timestamp)
        else:
            event = DataMessage(
                stream_id=stream_id, name=name, arguments=tuple(values), timestamp=timestamp
            )
        self._process(self._peer, event)
        return event

    def _handle_command(
        self,
        stream_id: int,
        name: str,
        transaction_id: float,
        command_object: AMFValue,
        args: list[AMFValue],
    ) -> Event | None:
        if name in ("_result", "_error"):
            kind = self._pending.pop(transaction_id, None)
            if kind == "connect":
                return self._connect_reply(name, args)
            if kind == "createStream" and name == "_result" and args:
                return self._stream_created(args[0])
        elif name == "onStatus":
            return self._status(stream_id, _first_dict(args))
        elif self.role is Role.SERVER:
            handler = self._server_commands.get(name)
            if handler is not None:
                return handler(self, stream_id, transaction_id, command_object, args)
            if name in _SIMPLE_COMMANDS:
                self._require_connected(name)
                if transaction_id:
                    result: AMFValue = 0.0 if name == "getStreamLength" else None
                    self._command(stream_id, "_result", transaction_id, None, result)
                return None
        event = Command(
            name=name,
            transaction_id=transaction_id,
            command_object=command_object,
            arguments=tuple(args),
            stream_id=stream_id,
        )
        self._process(self._peer, event)
        if transaction_id and name not in ("_result", "_error"):
            self._command(
                stream_id,
                "_error",
                transaction_id,
                None,
                {
                    "level": "error",
                    "code": "NetConnection.Call.Failed",
                    "description": f"Method not found ({name}).",
                },
            )
        return event

    def _require_connected(self, name: str) -> None:
        if self.state is not State.CONNECTED:
            raise LocalProtocolError(f"{name} before the NetConnection is connected")

    # Server-side handlers of client commands.

    def _on_connect(
        self, stream_id: int, transaction_id: float, obj: AMFValue, args: list[AMFValue]
    ) -> Event:
        if not isinstance(obj, dict):
            raise LocalProtocolError("connect without a command object")
        app = obj.get("app", "")
        tc_url = obj.get("tcUrl")
        if not isinstance(app, str) or not (tc_url is None or isinstance(tc_url, str)):
            raise LocalProtocolError(f"connect with a non-string app or tcUrl: {app!r}, {tc_url!r}")
        properties = {k: v for k, v in obj.items() if k not in ("app", "tcUrl")}
        event = Connect(app=app, tc_url=tc_url, properties=properties, arguments=tuple(args))
        self._process(self._peer, event)
        self._connect_transaction_id = transaction_id
        self._object_encoding = obj.get("objectEncoding", 0.0)
        return event

    def _on_create_stream(
        self, stream_id: int, transaction_id: float, obj: AMFValue, args: list[AMFValue]
    ) -> Event:
        self._process(self._peer, CreateStream())
        if len(self._streams) >= self._max_streams:
            raise LocalProtocolError(f"more than max_streams={self._max_streams} streams")
        new_id = self._next_stream_id
        self._next_stream_id += 1
        event = StreamCreated(stream_id=new_id)
        self._process(self.role, event)
        self._streams[new_id] = StreamState.IDLE
        self._command(0, "_result", transaction_id, None, float(new_id))
        return event

    def _on_publish(
        self, stream_id: int, transaction_id: float, obj: AMFValue, args: list[AMFValue]
    ) -> Event:
        key = args[0] if args else None
        if not isinstance(key, str):
            raise LocalProtocolError(
                f"publish without a stream name: {key!r}", status_hint="NetStream.Publish.BadName"
            )
        publish_type = args[1] if len(args) > 1 and isinstance(args[1], str) else "live"
        event = Publish(stream_id=stream_id, stream_key=key, publish_type=publish_type)
        self._process(self._peer, event)
        return event

    def _on_play(
        self, stream_id: int, transaction_id: float, obj: AMFValue, args: list[AMFValue]
    ) -> Event:
        name = args[0] if args else None
        if not isinstance(name, str):
            raise LocalProtocolError(
                f"play without a stream name: {name!r}", status_hint="NetStream.Play.StreamNotFound"
            )
        start = args[1] if len(args) > 1 and isinstance(args[1], float) else -2.0
        duration = args[2] if len(args) > 2 and isinstance(args[2], float) else -1.0
        reset = args[3] if len(args) > 3 and isinstance(args[3], bool) else True
        event = Play(
            stream_id=stream_id, stream_name=name, start=start, duration=duration, reset=reset
        )
        self._process(self._peer, event)
        return event

    def _on_close_stream(
        self, stream_id: int, transaction_id: float, obj: AMFValue, args: list[AMFValue]
    ) -> Event | None:
        return self._end_stream(CloseStream, stream_id)

    def _on_delete_stream(
        self, stream_id: int, transaction_id: float, obj: AMFValue, args: list[AMFValue]
    ) -> Event | None:
        target = args[0] if args else None
        if not isinstance(target, float) or not target.is_integer():
            raise LocalProtocolError(f"deleteStream without a stream id: {target!r}")
        return self._end_stream(DeleteStream, int(target))

    def _end_stream(
        self, event_type: type[CloseStream | DeleteStream], stream_id: int
    ) -> Event | None:
        self._require_connected(event_type.__name__)
        state = self._streams.get(stream_id)
        if state is None:
            return None  # clients close streams that never existed; nothing to undo
        event = event_type(stream_id=stream_id)
        self._process(self._peer, event)
        if state is StreamState.PUBLISHING:
            self._on_status(
                stream_id, "status", "NetStream.Unpublish.Success", "Stopped publishing."
            )
        return event

    _server_commands: ClassVar[
        dict[str, Callable[[Connection, int, float, AMFValue, list[AMFValue]], Event | None]]
    ] = {
        "connect": _on_connect,
        "createStream": _on_create_stream,
        "publish": _on_publish,
        "play": _on_play,
        "closeStream": _on_close_stream,
        "deleteStream": _on_delete_stream,
    }

    # Client-side handlers of server replies.

    def _connect_reply(self, name: str, args: list[AMFValue]) -> Event:
        info = _first_dict(args)
        event: Event
        if name == "_result":
            event = ConnectAccepted(description=_str_field(info, "description"))
        else:
            event = ConnectRejected(
                code=_str_field(info, "code", "NetConnection.Connect.Rejected"),
                description=_str_field(info, "description"),
            )
        self._process(self._peer, event)
        return event

    def _stream_created(self, value: AMFValue) -> Event:
        if not isinstance(value, float) or not value.is_integer() or not 1 <= value <= 0xFFFFFFFF:
            raise LocalProtocolError(f"createStream result is not a stream id: {value!r}")
        event = StreamCreated(stream_id=int(value))
        self._process(self._peer, event)
        self._streams[event.stream_id] = StreamState.IDLE
        return event

    def _status(self, stream_id: int, info: dict[str, AMFValue]) -> Event:
        code = _str_field(info, "code")
        level = _str_field(info, "level", "status")
        description = _str_field(info, "description")
        state = self._streams.get(stream_id) if self.role is Role.CLIENT else None
        event: Event
        if state is StreamState.PUBLISH_PENDING and code == "NetStream.Publish.Start":
            event = PublishAccepted(stream_id=stream_id, description=description)
        elif state is StreamState.PUBLISH_PENDING and level == "error":
            event = PublishRejected(stream_id=stream_id, code=code, description=description)
        elif state is StreamState.PLAY_PENDING and code == "NetStream.Play.Start":
            event = PlayAccepted(stream_id=stream_id, description=description)
        elif state is StreamState.PLAY_PENDING and level == "error":
            event = PlayRejected(stream_id=stream_id, code=code, description=description)
        else:
            event = Status(stream_id=stream_id, code=code, level=level, description=description)
        self._process(self._peer, event)
        return event

    # --- writing ------------------------------------------------------------------------

    def _control(self, type_id: int, payload: bytes) -> None:
        self._writer.write(self._out, CSID_CONTROL, type_id, 0, 0, payload)

    def _send_window(self, size: int) -> None:
        self._window_sent = size
        self._control(m.WINDOW_ACK_SIZE, m.u32(size))

    def _set_chunk_size(self) -> None:
        if self._chunk_size != DEFAULT_CHUNK_SIZE:
            self._control(m.SET_CHUNK_SIZE, m.u32(self._chunk_size))
            self._writer.chunk_size = self._chunk_size

    def _command(
        self, stream_id: int, name: str, transaction_id: float, obj: object, *args: object
    ) -> None:
        csid = CSID_COMMAND if stream_id == 0 else CSID_STREAM_COMMAND
        payload = m.command(name, transaction_id, obj, *args)
        self._writer.write(self._out, csid, m.AMF0_COMMAND, stream_id, 0, payload)

    def _request(self, stream_id: int, name: str, *args: object) -> None:
        transaction_id = float(self._next_transaction_id)
        self._next_transaction_id += 1
        self._pending[transaction_id] = name
        self._command(stream_id, name, transaction_id, None, *args)

    def _on_status(self, stream_id: int, level: str, code: str, description: str) -> None:
        info = {"level": level, "code": code, "description": description}
        self._command(stream_id, "onStatus", 0.0, None, info)

    def _data(self, stream_id: int, timestamp: int, *values: object) -> None:
        payload = encode_amf0(*values)
        self._writer.write(
            self._out, CSID_STREAM_COMMAND, m.AMF0_DATA, stream_id, timestamp, payload
        )

    def _send_connect(self, event: Connect) -> None:
        self._set_chunk_size()
        obj: dict[str, object] = {"app": event.app}
        if event.tc_url is not None:
            obj["tcUrl"] = event.tc_url
        obj.update(event.properties)
        transaction_id = float(self._next_transaction_id)
        self._next_transaction_id += 1
        self._pending[transaction_id] = "connect"
        self._command(0, "connect", transaction_id, obj, *event.arguments)

    def _send_connect_accepted(self, event: ConnectAccepted) -> None:
        self._send_window(self._window_ack_size)
        self._control(m.SET_PEER_BANDWIDTH, m.peer_bandwidth(self._window_ack_size, 2))
        self._set_chunk_size()
        info = {
            "level": "status",
            "code": "NetConnection.Connect.Success",
            "description": event.description,
            "objectEncoding": self._object_encoding,
        }
        self._command(0, "_result", self._connect_transaction_id, _FMS_PROPERTIES, info)

    def _send_connect_rejected(self, event: ConnectRejected) -> None:
        info = {"level": "error", "code": event.code, "description": event.description}
        self._command(0, "_error", self._connect_transaction_id, None, info)

    def _send_create_stream(self, event: CreateStream) -> None:
        self._request(0, "createStream")

    def _send_publish(self, event: Publish) -> None:
        self._command(event.stream_id, "publish", 0.0, None, event.stream_key, event.publish_type)

    def _send_publish_accepted(self, event: PublishAccepted) -> None:
        self._control(m.USER_CONTROL, m.user_control(m.UC_STREAM_BEGIN, event.stream_id))
        self._on_status(event.stream_id, "status", "NetStream.Publish.Start", event.description)

    def _send_publish_rejected(self, event: PublishRejected) -> None:
        self._on_status(event.stream_id, "error", event.code, event.description)

    def _send_play(self, event: Play) -> None:
        self._command(
            event.stream_id,
            "play",
            0.0,
            None,
            event.stream_name,
            event.start,
            event.duration,
            event.reset,
        )

    def _send_play_accepted(self, event: PlayAccepted) -> None:
        sid = event.stream_id
        self._control(m.USER_CONTROL, m.user_control(m.UC_STREAM_BEGIN, sid))
        self._on_status(sid, "status", "NetStream.Play.Reset", "Playing and resetting.")
        self._on_status(sid, "status", "NetStream.Play.Start", event.description)
        self._data(sid, 0, "|RtmpSampleAccess", True, True)

    def _send_play_rejected(self, event: PlayRejected) -> None:
        self._on_status(event.stream_id, "error", event.code, event.description)

    def _send_close_stream(self, event: CloseStream) -> None:
        self._command(event.stream_id, "closeStream", 0.0, None)

    def _send_delete_stream(self, event: DeleteStream) -> None:
        self._command(0, "deleteStream", 0.0, None, float(event.stream_id))

    def _send_status(self, event: Status) -> None:
        self._on_status(event.stream_id, event.level, event.code, event.description)

    def _send_stream_begin(self, event: StreamBegin) -> None:
        self._control(m.USER_CONTROL, m.user_control(m.UC_STREAM_BEGIN, event.stream_id))

    def _send_stream_eof(self, event: StreamEOF) -> None:
        self._control(m.USER_CONTROL, m.user_control(m.UC_STREAM_EOF, event.stream_id))

    def _send_ping_request(self, event: PingRequest) -> None:
        self._control(m.USER_CONTROL, m.user_control(m.UC_PING_REQUEST, event.timestamp))

    def _send_ping_response(self, event: PingResponse) -> None:
        self._control(m.USER_CONTROL, m.user_control(m.UC_PING_RESPONSE, event.timestamp))

    def _send_audio(self, event: AudioData) -> None:
        self._writer.write(
            self._out, CSID_AUDIO, m.AUDIO, event.stream_id, event.timestamp, event.payload
        )

    def _send_video(self, event: VideoData) -> None:
        self._writer.write(
            self._out, CSID_VIDEO, m.VIDEO, event.stream_id, event.timestamp, event.payload
        )

    def _send_metadata(self, event: Metadata) -> None:
        if self.role is Role.CLIENT:  # publishers ask the server to store it: 7.1.2
            self._data(
                event.stream_id, event.timestamp, "@setDataFrame", "onMetaData", event.metadata
            )
        else:
            self._data(event.stream_id, event.timestamp, "onMetaData", event.metadata)

    def _send_data_message(self, event: DataMessage) -> None:
        self._data(event.stream_id, event.timestamp, event.name, *event.arguments)

    def _send_command(self, event: Command) -> None:
        self._command(
            event.stream_id,
            event.name,
            event.transaction_id,
            event.command_object,
            *event.arguments,
        )

    _senders: ClassVar[dict[type[Event], Callable[[Connection, Any], None]]] = {
        Connect: _send_connect,
        ConnectAccepted: _send_connect_accepted,
        ConnectRejected: _send_connect_rejected,
        CreateStream: _send_create_stream,
        Publish: _send_publish,
        PublishAccepted: _send_publish_accepted,
        PublishRejected: _send_publish_rejected,
        Play: _send_play,
        PlayAccepted: _send_play_accepted,
        PlayRejected: _send_play_rejected,
        CloseStream: _send_close_stream,
        DeleteStream: _send_delete_stream,
        Status: _send_status,
        StreamBegin: _send_stream_begin,
        StreamEOF: _send_stream_eof,
        PingRequest: _send_ping_request,
        PingResponse: _send_ping_response,
        AudioData: _send_audio,
        VideoData: _send_video,
        Metadata: _send_metadata,
        DataMessage: _send_data_message,
        Command: _send_command,
    }
