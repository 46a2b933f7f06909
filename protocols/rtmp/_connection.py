"""The sans-IO RTMP connection: bytes in, events out; events in, bytes out.

:class:`Connection` only coordinates, as h11's does: :mod:`._readers` turns the
received bytes into events, :mod:`._writers` turns sent events into bytes, and
:mod:`._state` holds every connection and stream state and the rules that change
them.
"""

from __future__ import annotations

import enum
import os
from typing import TYPE_CHECKING, Literal

from . import _messages as m
from ._buffer import ReceiveBuffer
from ._chunks import MAX_CHUNK_SIZE
from ._errors import LocalProtocolError, RemoteProtocolError
from ._events import (
    ConnectAccepted,
    ConnectionClosed,
    ConnectRejected,
    Event,
    Metadata,
    PlayAccepted,
    PlayRejected,
    PublishAccepted,
    PublishRejected,
    StreamEOF,
)
from ._handshake import ClientHandshake
from ._readers import Reader
from ._state import MEDIA_STATES, ConnectionState, Role, State, StreamState
from ._writers import CSID_AUDIO, CSID_VIDEO, WRITERS, Writer

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


class Sentinel(enum.Enum):
    NEED_DATA = "NEED_DATA"

    def __repr__(self) -> str:
        return self.value


NEED_DATA = Sentinel.NEED_DATA


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

    Attributes:
        role: Which side this connection is.
        bytes_received: Bytes given to :meth:`receive_data` so far.
        bytes_sent: Bytes returned by :meth:`data_to_send` so far.

    Error handling:
        A peer that breaks the protocol makes :meth:`next_event` raise
        :class:`RemoteProtocolError` (then and forever after; ``state`` is ``ERROR``).
        Misuse by the caller raises :class:`LocalProtocolError` from :meth:`send`
        without queuing anything.

    Resource handling:
        Memory is bounded by ``max_partial_chunk_streams * max_message_size`` plus
        the unread input and unsent output, both of which the caller controls.
    """

    __slots__ = (
        "_buffer",
        "_chunk_writer",
        "_cstate",
        "_eof",
        "_last_ack",
        "_media_state",
        "_out",
        "_peer",
        "_reader",
        "_writer",
        "bytes_received",
        "bytes_sent",
        "role",
    )

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
        self._peer = Role.SERVER if role is Role.CLIENT else Role.CLIENT
        self.bytes_received = 0
        self.bytes_sent = 0
        self._cstate = ConnectionState()
        self._buffer = ReceiveBuffer()
        self._eof = False
        self._last_ack = 0  # bytes_received when we last acknowledged
        self._writer = Writer(role, chunk_size=chunk_size, window_ack_size=window_ack_size)
        # send_media writes straight to these: no event, no table lookup (see MEDIA_STATES).
        self._out = self._writer.out
        self._chunk_writer = self._writer.chunks
        self._media_state = MEDIA_STATES[role]
        client_handshake = None
        if role is Role.CLIENT:
            client_handshake = ClientHandshake(random_bytes, digest=digest_handshake)
            self._out += client_handshake.c0c1
        self._reader = Reader(
            role,
            self._cstate,
            self._writer,
            self._buffer,
            random_bytes=random_bytes,
            client_handshake=client_handshake,
            max_message_size=max_message_size,
            max_partial_chunk_streams=max_partial_chunk_streams,
            max_chunk_streams=max_chunk_streams,
            max_streams=max_streams,
        )

    # --- public API ---------------------------------------------------------------------

    @property
    def streams(self) -> dict[int, StreamState]:
        """A copy of the message streams and their states."""
        return dict(self._cstate.streams)

    @property
    def state(self) -> State:
        """The connection state (``ERROR`` once the peer broke the protocol)."""
        return self._cstate.state

    @property
    def peer_acknowledged(self) -> int:
        """Sequence number of the peer's last Acknowledgement (0: none yet)."""
        return self._reader.peer_acknowledged

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
        window = self._reader.ack_window
        if window and self.bytes_received - self._last_ack >= window:
            # RTMP 5.4.3: the sequence number is the bytes received so far (mod 2**32).
            self._last_ack = self.bytes_received
            self._writer.control(m.ACKNOWLEDGEMENT, m.u32(self.bytes_received))

    def next_event(self) -> Event | Literal[Sentinel.NEED_DATA]:
        """Parse the next event from the buffered bytes.

        Returns:
            An event, or :data:`NEED_DATA` when more bytes are needed.
            :class:`ConnectionClosed` after EOF (and again on every later call).

        Raises:
            RemoteProtocolError: the peer violated the protocol (see class docs).
        """
        if self._cstate.state is State.ERROR:
            raise RemoteProtocolError("peer already violated the protocol")
        try:
            event = self._reader.read()
            if event is None:
                if not self._eof:
                    return NEED_DATA
                if self._buffer:
                    raise LocalProtocolError(
                        f"peer closed the connection with {len(self._buffer)} bytes"
                        " of an incomplete chunk or handshake pending"
                    )
                event = ConnectionClosed()
                self._cstate.process_event(self._peer, event)
            return event
        except LocalProtocolError as exc:
            self._cstate.process_error()
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
        write = WRITERS.get(type(event))
        if write is None:
            raise LocalProtocolError(f"{type(event).__name__} cannot be sent; it is automatic")
        self._cstate.process_event(self.role, event)
        write(self._writer, event)

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
        streams = self._cstate.streams
        if self._cstate.state is not State.CONNECTED or (
            streams.get(stream_id) is not self._media_state
        ):
            raise LocalProtocolError(
                f"cannot send {kind} on stream {stream_id} in state {self.state.name}"
                f"/{streams.get(stream_id)}"
            )
        if not 0 <= timestamp <= 0xFFFFFFFF:
            raise LocalProtocolError(f"timestamp must fit 32 bits unsigned, got {timestamp}")
        if kind == "audio":
            self._chunk_writer.write(self._out, CSID_AUDIO, m.AUDIO, stream_id, timestamp, payload)
        else:
            self._chunk_writer.write(self._out, CSID_VIDEO, m.VIDEO, stream_id, timestamp, payload)

    def send_metadata(
        self, stream_id: int, metadata: dict[str, AMFValue], timestamp: int = 0
    ) -> None:
        """Queue ``onMetaData`` (server) or ``@setDataFrame`` (client) on ``stream_id``."""
        self.send(Metadata(stream_id=stream_id, metadata=metadata, timestamp=timestamp))

    def send_stream_eof(self, stream_id: int) -> None:
        """Queue User Control Stream EOF: the source of a played stream ended."""
        self.send(StreamEOF(stream_id=stream_id))
