"""Connection and message-stream state machines.

Theory of operation
===================

One :class:`Connection` object models one RTMP session from one side, in the role
``CLIENT`` or ``SERVER``. Events are symmetric: both sides run the same tables on
the same events, one side as sender and the other as receiver, so a client and a
server wired together always agree on the state (the ConnectionPair tests check it).

Two machines run side by side:

* the **connection machine** (``TRANSITIONS``): handshake, then ``connect``, then
  the NetConnection is open until the transport closes;
* one **message-stream machine** per stream id allocated by ``createStream``
  (``STREAM_TRANSITIONS``): idle, then publishing or playing, then idle again after
  ``closeStream``; ``deleteStream`` removes it.

Rules:

1. Every event, sent or received, is looked up as ``(state, sender role, event
   type)`` in ``TRANSITIONS``; a missing key is a protocol error. Events that
   concern a message stream (they have ``stream_id``) are additionally looked up
   in ``STREAM_TRANSITIONS`` with the stream's state, except the informational
   ``Command``, ``Status``, ``StreamBegin``, ``StreamEOF`` which only need the
   connection state (``StreamBegin``/``StreamEOF`` are also accepted while
   ``connect`` is pending: some servers send Stream Begin 0 before the result).
2. A missing key on a *sent* event raises ``LocalProtocolError`` from ``send`` and
   changes nothing. On a *received* event it becomes ``RemoteProtocolError`` from
   ``next_event`` and the connection state becomes ``ERROR`` for good.
3. Media and data (``AudioData``, ``VideoData``, ``Metadata``, ``DataMessage``)
   flow from client to server on a ``PUBLISHING`` stream and from server to client
   on a ``PLAYING`` stream. Received media on a stream in any other state (for
   example between ``publish`` and the application's ``PublishAccepted``) is
   dropped silently: the application has not agreed to take it. Audio or video
   for a stream id that ``createStream`` never allocated is a protocol error.
4. Protocol control messages (Set Chunk Size, Abort, Acknowledgement, Window
   Acknowledgement Size, Set Peer Bandwidth) and User Control pings are handled
   inside the connection in every state after the handshake and produce no
   events, except ``PingResponse``, ``StreamBegin`` and ``StreamEOF``.
5. The server answers on its own (no application decision needed):
   ``createStream`` (``_result`` with a new stream id, then ``StreamCreated``),
   ``releaseStream``, ``FCPublish``, ``FCUnpublish`` and ``getStreamLength``
   (``_result``), unknown commands (``_error`` when they carry a transaction id,
   then a ``Command`` event), and pings. ``connect``, ``publish`` and ``play`` wait
   for the application to send the Accepted or Rejected event.
6. Closing (``CloseStream``/``DeleteStream``) a stream that was publishing makes
   the server send ``onStatus NetStream.Unpublish.Success``.
7. ``ConnectionClosed`` (EOF) is accepted in every state except ``ERROR`` and
   leads to ``CLOSED``, where nothing more may be sent or received.

:class:`ConnectionState` applies both tables and is the only code that changes a
connection or stream state: ``StreamCreated`` adds a stream as ``IDLE``,
``DeleteStream`` removes it, and every other change is a table entry. The reader,
the command handlers and ``send`` call :meth:`ConnectionState.process_event` before
they act, so a refused event changes nothing. Only the media fast paths (received
audio/video, ``Connection.send_media``) skip the lookup: they compare the stream's
state with :data:`MEDIA_STATES`, which is read off ``STREAM_TRANSITIONS``.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

from ._errors import LocalProtocolError
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
)

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "MEDIA_STATES",
    "STREAM_TRANSITIONS",
    "TRANSITIONS",
    "ConnectionState",
    "Role",
    "State",
    "StreamState",
]


class Role(enum.Enum):
    CLIENT = "client"
    SERVER = "server"


class State(enum.Enum):
    HANDSHAKE = "handshake"  # C0..C2 in flight
    AWAITING_CONNECT = "awaiting_connect"  # handshake done, no connect yet
    CONNECT_PENDING = "connect_pending"  # connect sent/received, no answer yet
    CONNECTED = "connected"  # NetConnection open
    REJECTED = "rejected"  # connect refused; the server closes next
    CLOSED = "closed"  # transport closed by the peer
    ERROR = "error"  # the peer broke the protocol


class StreamState(enum.Enum):
    IDLE = "idle"
    PUBLISH_PENDING = "publish_pending"
    PUBLISHING = "publishing"
    PLAY_PENDING = "play_pending"
    PLAYING = "playing"


CLIENT = Role.CLIENT
SERVER = Role.SERVER
_S = State
_M = StreamState
_role: Role
_state: State
_stream_state: StreamState
_event: type[Event]

TRANSITIONS: dict[tuple[State, Role, type[Event]], State] = {
    (_S.HANDSHAKE, CLIENT, HandshakeComplete): _S.AWAITING_CONNECT,
    (_S.HANDSHAKE, SERVER, HandshakeComplete): _S.AWAITING_CONNECT,
    (_S.AWAITING_CONNECT, CLIENT, Connect): _S.CONNECT_PENDING,
    (_S.CONNECT_PENDING, SERVER, ConnectAccepted): _S.CONNECTED,
    (_S.CONNECT_PENDING, SERVER, ConnectRejected): _S.REJECTED,
}
for _role in (CLIENT, SERVER):
    for _state in (_S.AWAITING_CONNECT, _S.CONNECT_PENDING, _S.CONNECTED, _S.REJECTED):
        TRANSITIONS[_state, _role, PingRequest] = _state
        TRANSITIONS[_state, _role, PingResponse] = _state
    for _state in (_S.CONNECT_PENDING, _S.CONNECTED):
        TRANSITIONS[_state, _role, Command] = _state
    for _event in (AudioData, VideoData, Metadata, DataMessage, Status):
        TRANSITIONS[_S.CONNECTED, _role, _event] = _S.CONNECTED
    for _state in (_S.CONNECT_PENDING, _S.CONNECTED):
        # Some servers announce Stream Begin 0 before answering connect.
        TRANSITIONS[_state, _role, StreamBegin] = _state
        TRANSITIONS[_state, _role, StreamEOF] = _state
    for _state in State:
        if _state is not _S.ERROR:
            TRANSITIONS[_state, _role, ConnectionClosed] = _S.CLOSED
for _event in (CreateStream, Publish, Play, CloseStream, DeleteStream):
    TRANSITIONS[_S.CONNECTED, CLIENT, _event] = _S.CONNECTED
for _event in (StreamCreated, PublishAccepted, PublishRejected, PlayAccepted, PlayRejected):
    TRANSITIONS[_S.CONNECTED, SERVER, _event] = _S.CONNECTED

# (stream state, sender, event type) -> new stream state. DeleteStream removes the
# stream from every state; it is not listed.
STREAM_TRANSITIONS: dict[tuple[StreamState, Role, type[Event]], StreamState] = {
    (_M.IDLE, CLIENT, Publish): _M.PUBLISH_PENDING,
    (_M.PUBLISH_PENDING, SERVER, PublishAccepted): _M.PUBLISHING,
    (_M.PUBLISH_PENDING, SERVER, PublishRejected): _M.IDLE,
    (_M.IDLE, CLIENT, Play): _M.PLAY_PENDING,
    (_M.PLAY_PENDING, SERVER, PlayAccepted): _M.PLAYING,
    (_M.PLAY_PENDING, SERVER, PlayRejected): _M.IDLE,
}
for _stream_state in StreamState:
    STREAM_TRANSITIONS[_stream_state, CLIENT, CloseStream] = _M.IDLE
for _event in (AudioData, VideoData, Metadata, DataMessage):
    STREAM_TRANSITIONS[_M.PUBLISHING, CLIENT, _event] = _M.PUBLISHING
    STREAM_TRANSITIONS[_M.PLAYING, SERVER, _event] = _M.PLAYING

# Rule 3 for the media fast paths: the stream state in which each sender's audio and
# video flow (the one state where the table maps VideoData from that sender).
MEDIA_STATES: dict[Role, StreamState] = {
    _role: _stream_state
    for (_stream_state, _role, _event) in STREAM_TRANSITIONS
    if _event is VideoData
}

# Events that concern one message stream: checked against STREAM_TRANSITIONS too.
# StreamCreated is not among them: it names a stream that does not exist yet.
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


class ConnectionState:
    """The connection's state and its message streams' states, changed only here.

    Attributes:
        state: The connection machine's state.
        streams: Message stream id -> state, for the streams ``createStream`` made.
            Read-only outside this class: every change goes through
            :meth:`process_event`.
    """

    __slots__ = ("_streams", "state", "streams")

    def __init__(self) -> None:
        self.state = State.HANDSHAKE
        self._streams: dict[int, StreamState] = {}
        self.streams: Mapping[int, StreamState] = self._streams

    def process_event(self, sender: Role, event: Event) -> None:
        """Apply ``event`` from ``sender`` to both machines (rules 1 and 2).

        Raises:
            LocalProtocolError: the tables do not allow the event; nothing changed.
        """
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
        elif isinstance(event, StreamCreated):
            self._streams[event.stream_id] = StreamState.IDLE
        self.state = new_state

    def process_error(self) -> None:
        """The peer broke the protocol: ``ERROR`` for good (rule 2)."""
        self.state = State.ERROR
