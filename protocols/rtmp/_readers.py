"""Readers: the peer's bytes -> events (handshake, then chunk-stream messages).

The chunk layer (:mod:`._chunks`) yields whole messages; :class:`Reader` turns each
into at most one event, handles protocol control messages itself (rule 4 in
:mod:`._state`) and hands commands to :class:`._commands.CommandReader`.

Audio and video are most of what a publisher sends, so they take the shortest
path: a state comparison against :data:`._state.MEDIA_STATES` instead of the
table lookup (equivalent, since streams exist only while ``CONNECTED``) and an
event built without the dataclass ``__init__``.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from . import _messages as m
from ._chunks import MAX_CHUNK_SIZE, ChunkReader
from ._commands import CommandReader
from ._errors import LocalProtocolError
from ._events import (
    DataMessage,
    Event,
    HandshakeComplete,
    Metadata,
    PingResponse,
    StreamBegin,
    StreamEOF,
    received_audio,
    received_video,
)
from ._handshake import HANDSHAKE_SIZE, check_version, server_reply
from ._state import MEDIA_STATES, ConnectionState, Role, State

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._buffer import ReceiveBuffer
    from ._handshake import ClientHandshake
    from ._writers import Writer

__all__ = ["Reader"]


class Reader:
    """Reads what the peer sends, answering what the protocol answers by itself.

    Args:
        role: Which side we are.
        cstate: The connection's state machines; every event is processed there.
        writer: Where automatic replies go (handshake, pings, window, commands).
        buffer: The received bytes; the reader consumes what it parses.
        random_bytes: Server: randomness for S1.
        client_handshake: Client: the handshake whose C0/C1 were already sent.
        max_message_size: Largest message accepted from the peer, in bytes.
        max_partial_chunk_streams: Largest number of partly received messages.
        max_chunk_streams: Largest number of distinct chunk stream ids.
        max_streams: Server: most message streams ``createStream`` will allocate.

    Attributes:
        ack_window: The peer's Window Acknowledgement Size (0: not announced).
        peer_acknowledged: Sequence number of the peer's last Acknowledgement.
    """

    __slots__ = (
        "_buffer",
        "_chunks",
        "_client_handshake",
        "_commands",
        "_cstate",
        "_digest",
        "_events",
        "_handshake_replied",
        "_media_state",
        "_peer",
        "_random_bytes",
        "_role",
        "_streams",
        "_writer",
        "ack_window",
        "peer_acknowledged",
    )

    def __init__(
        self,
        role: Role,
        cstate: ConnectionState,
        writer: Writer,
        buffer: ReceiveBuffer,
        *,
        random_bytes: Callable[[int], bytes],
        client_handshake: ClientHandshake | None,
        max_message_size: int,
        max_partial_chunk_streams: int,
        max_chunk_streams: int,
        max_streams: int,
    ) -> None:
        self._role = role
        self._peer = Role.SERVER if role is Role.CLIENT else Role.CLIENT
        self._cstate = cstate
        self._streams = cstate.streams
        self._writer = writer
        self._buffer = buffer
        self._random_bytes = random_bytes
        self._client_handshake = client_handshake
        self._handshake_replied = False  # server: S0..S2 queued, waiting for C2
        self._digest = False  # server: whether C1 used the digest handshake
        self._chunks = ChunkReader(
            max_message_size=max_message_size,
            max_partial_chunk_streams=max_partial_chunk_streams,
            max_chunk_streams=max_chunk_streams,
        )
        self._commands = CommandReader(role, cstate, writer, max_streams=max_streams)
        # Events beyond the one returned: the media inside an aggregate message.
        self._events: deque[Event] = deque()
        self._media_state = MEDIA_STATES[self._peer]
        self.ack_window = 0
        self.peer_acknowledged = 0

    def read(self) -> Event | None:
        """The next event from the buffered bytes, or None if more bytes are needed.

        Raises:
            LocalProtocolError: the peer broke the protocol.
        """
        if self._events:
            return self._events.popleft()
        buffer = self._buffer
        cstate = self._cstate
        while True:
            if cstate.state is State.HANDSHAKE:
                return self._read_handshake()
            if cstate.state is State.CLOSED:
                return None
            pos, message = self._chunks.read(buffer.data, buffer.start)
            buffer.consume(pos - buffer.start)
            if message is None:
                return None
            event = self._read_message(*message)
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
            self._writer.out += c2
        elif not self._handshake_replied:
            if buffer:
                check_version(buffer.data[buffer.start], "C0")  # fail fast on HTTP etc.
            if len(buffer) < 1 + HANDSHAKE_SIZE:
                return None
            reply, self._digest = server_reply(buffer.take(1 + HANDSHAKE_SIZE), self._random_bytes)
            self._writer.out += reply
            self._handshake_replied = True
            return self._read_handshake()
        else:
            if len(buffer) < HANDSHAKE_SIZE:
                return None
            buffer.consume(HANDSHAKE_SIZE)  # C2 content is not checked, as in FMS/nginx
            digest = self._digest
        event = HandshakeComplete(digest=digest)
        self._cstate.process_event(self._role, event)
        return event

    def _read_message(
        self, type_id: int, stream_id: int, timestamp: int, payload: bytes
    ) -> Event | None:
        if type_id == m.VIDEO or type_id == m.AUDIO:
            stream_state = self._streams.get(stream_id)
            if stream_state is not self._media_state:
                if stream_state is None:
                    raise LocalProtocolError(f"media for unknown message stream {stream_id}")
                return None  # rule 3: not accepted (yet); drop it
            if type_id == m.VIDEO:
                return received_video(stream_id, timestamp, payload)
            return received_audio(stream_id, timestamp, payload)
        if type_id == m.AMF0_COMMAND or type_id == m.AMF3_COMMAND:
            return self._commands.read(stream_id, *m.decode_command(type_id, payload))
        if type_id == m.AMF0_DATA or type_id == m.AMF3_DATA:
            return self._read_data(stream_id, timestamp, type_id, payload)
        if type_id == m.SET_CHUNK_SIZE:
            size = m.read_u32(payload, "Set Chunk Size")
            if not 1 <= size <= MAX_CHUNK_SIZE:  # 5.4.1: top bit MUST be 0, size >= 1
                raise LocalProtocolError(f"invalid Set Chunk Size {size}")
            self._chunks.chunk_size = size
        elif type_id == m.ABORT:
            self._chunks.abort(m.read_u32(payload, "Abort"))
        elif type_id == m.ACKNOWLEDGEMENT:
            self.peer_acknowledged = m.read_u32(payload, "Acknowledgement")
        elif type_id == m.WINDOW_ACK_SIZE:
            self.ack_window = m.read_u32(payload, "Window Acknowledgement Size")
        elif type_id == m.SET_PEER_BANDWIDTH:
            size = m.read_u32(payload, "Set Peer Bandwidth")
            if size != self._writer.window_sent:  # 5.4.5: answer with our Window Ack Size
                self._writer.window(size)
        elif type_id == m.USER_CONTROL:
            return self._read_user_control(*m.read_user_control(payload))
        elif type_id == m.AGGREGATE:
            for sub_type, sub_timestamp, body in m.split_aggregate(timestamp, payload):
                if sub_type in (m.AUDIO, m.VIDEO, m.AMF0_DATA):
                    event = self._read_message(sub_type, stream_id, sub_timestamp, body)
                    if event is not None:
                        self._events.append(event)
        # Anything else (shared objects 16/19, unknown types) is ignored.
        return None

    def _read_user_control(self, event_type: int, value: int) -> Event | None:
        event: Event
        if event_type == m.UC_PING_REQUEST:  # 7.1.7: answer with the same timestamp
            self._writer.user_control(m.UC_PING_RESPONSE, value)
            return None
        if event_type == m.UC_PING_RESPONSE:
            event = PingResponse(timestamp=value)
        elif event_type == m.UC_STREAM_BEGIN:
            event = StreamBegin(stream_id=value)
        elif event_type == m.UC_STREAM_EOF:
            event = StreamEOF(stream_id=value)
        else:
            return None  # Set Buffer Length, Stream Dry, Stream Is Recorded: nothing to do
        self._cstate.process_event(self._peer, event)
        return event

    def _read_data(
        self, stream_id: int, timestamp: int, type_id: int, payload: bytes
    ) -> Event | None:
        if self._streams.get(stream_id) is not self._media_state:
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
        self._cstate.process_event(self._peer, event)
        return event
