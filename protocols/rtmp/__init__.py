"""Sans-IO RTMP (handshake, chunk stream, messages, NetConnection/NetStream commands).

Modelled on h11: :class:`Connection` turns received bytes into :mod:`events
<protocols.rtmp._events>` and sent events into bytes, and never touches a socket,
a clock or a thread. See :mod:`protocols.rtmp._state` for the theory of operation.
"""

from __future__ import annotations

from ._connection import DEFAULT_MAX_MESSAGE_SIZE as DEFAULT_MAX_MESSAGE_SIZE
from ._connection import NEED_DATA as NEED_DATA
from ._connection import Connection as Connection
from ._connection import Sentinel as Sentinel
from ._errors import LocalProtocolError as LocalProtocolError
from ._errors import RemoteProtocolError as RemoteProtocolError
from ._errors import RTMPError as RTMPError
from ._events import AudioData as AudioData
from ._events import CloseStream as CloseStream
from ._events import Command as Command
from ._events import Connect as Connect
from ._events import ConnectAccepted as ConnectAccepted
from ._events import ConnectionClosed as ConnectionClosed
from ._events import ConnectRejected as ConnectRejected
from ._events import CreateStream as CreateStream
from ._events import DataMessage as DataMessage
from ._events import DeleteStream as DeleteStream
from ._events import Event as Event
from ._events import HandshakeComplete as HandshakeComplete
from ._events import MediaEvent as MediaEvent
from ._events import Metadata as Metadata
from ._events import PingRequest as PingRequest
from ._events import PingResponse as PingResponse
from ._events import Play as Play
from ._events import PlayAccepted as PlayAccepted
from ._events import PlayRejected as PlayRejected
from ._events import Publish as Publish
from ._events import PublishAccepted as PublishAccepted
from ._events import PublishRejected as PublishRejected
from ._events import Status as Status
from ._events import StreamBegin as StreamBegin
from ._events import StreamCreated as StreamCreated
from ._events import StreamEOF as StreamEOF
from ._events import VideoData as VideoData
from ._state import STREAM_TRANSITIONS as STREAM_TRANSITIONS
from ._state import TRANSITIONS as TRANSITIONS
from ._state import Role as Role
from ._state import State as State
from ._state import StreamState as StreamState

CLIENT = Role.CLIENT
SERVER = Role.SERVER

__all__ = [
    "CLIENT",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "NEED_DATA",
    "SERVER",
    "STREAM_TRANSITIONS",
    "TRANSITIONS",
    "AudioData",
    "CloseStream",
    "Command",
    "Connect",
    "ConnectAccepted",
    "ConnectRejected",
    "Connection",
    "ConnectionClosed",
    "CreateStream",
    "DataMessage",
    "DeleteStream",
    "Event",
    "HandshakeComplete",
    "LocalProtocolError",
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
    "RTMPError",
    "RemoteProtocolError",
    "Role",
    "Sentinel",
    "State",
    "Status",
    "StreamBegin",
    "StreamCreated",
    "StreamEOF",
    "StreamState",
    "VideoData",
]
