"""Command messages (RTMP 7.2) -> events, with the answers the connection gives itself.

The server turns the client's NetConnection and NetStream commands into events
and answers ``createStream``, the FMLE preamble and unknown commands on its own
(rule 5 in :mod:`._state`). The client turns the server's ``_result``, ``_error``
and ``onStatus`` into the events of the request they answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from ._errors import LocalProtocolError
from ._events import (
    CloseStream,
    Command,
    Connect,
    ConnectAccepted,
    ConnectRejected,
    CreateStream,
    DeleteStream,
    Event,
    Play,
    PlayAccepted,
    PlayRejected,
    Publish,
    PublishAccepted,
    PublishRejected,
    Status,
    StreamCreated,
)
from ._state import ConnectionState, Role, State, StreamState

if TYPE_CHECKING:
    from collections.abc import Callable

    from protocols.amf import AMFValue

    from ._writers import Writer

__all__ = ["CommandReader"]

# Commands the server answers by itself with a plain ``_result``.
_SIMPLE_COMMANDS = frozenset(("releaseStream", "FCPublish", "FCUnpublish", "getStreamLength"))


def _str_field(info: dict[str, AMFValue], key: str, default: str = "") -> str:
    value = info.get(key, default)
    return value if isinstance(value, str) else default


def _first_dict(args: list[AMFValue]) -> dict[str, AMFValue]:
    return args[0] if args and isinstance(args[0], dict) else {}


class CommandReader:
    """Reads the command messages of one side of a session.

    Args:
        role: Which side we are.
        cstate: The connection's state machines; every event is processed there.
        writer: Where the automatic answers go.
        max_streams: Server: most message streams ``createStream`` will allocate.
    """

    __slots__ = ("_cstate", "_max_streams", "_next_stream_id", "_peer", "_role", "_writer")

    def __init__(
        self, role: Role, cstate: ConnectionState, writer: Writer, *, max_streams: int
    ) -> None:
        self._role = role
        self._peer = Role.SERVER if role is Role.CLIENT else Role.CLIENT
        self._cstate = cstate
        self._writer = writer
        self._max_streams = max_streams
        self._next_stream_id = 1

    def read(
        self,
        stream_id: int,
        name: str,
        transaction_id: float,
        command_object: AMFValue,
        args: list[AMFValue],
    ) -> Event | None:
        """One decoded command message -> its event, or None if it needs none.

        Raises:
            LocalProtocolError: the command breaks the protocol.
        """
        if name in ("_result", "_error"):
            kind = self._writer.pending.pop(transaction_id, None)
            if kind == "connect":
                return self._connect_reply(name, args)
            if kind == "createStream" and name == "_result" and args:
                return self._stream_created(args[0])
        elif name == "onStatus":
            return self._status(stream_id, _first_dict(args))
        elif self._role is Role.SERVER:
            handler = self._server_commands.get(name)
            if handler is not None:
                return handler(self, stream_id, transaction_id, command_object, args)
            if name in _SIMPLE_COMMANDS:
                self._require_connected(name)
                if transaction_id:
                    result: AMFValue = 0.0 if name == "getStreamLength" else None
                    self._writer.command(stream_id, "_result", transaction_id, None, result)
                return None
        event = Command(
            name=name,
            transaction_id=transaction_id,
            command_object=command_object,
            arguments=tuple(args),
            stream_id=stream_id,
        )
        self._cstate.process_event(self._peer, event)
        if transaction_id and name not in ("_result", "_error"):
            self._writer.command(
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
        if self._cstate.state is not State.CONNECTED:
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
        self._cstate.process_event(self._peer, event)
        self._writer.connect_transaction_id = transaction_id
        self._writer.object_encoding = obj.get("objectEncoding", 0.0)
        return event

    def _on_create_stream(
        self, stream_id: int, transaction_id: float, obj: AMFValue, args: list[AMFValue]
    ) -> Event:
        self._cstate.process_event(self._peer, CreateStream())
        if len(self._cstate.streams) >= self._max_streams:
            raise LocalProtocolError(f"more than max_streams={self._max_streams} streams")
        event = StreamCreated(stream_id=self._next_stream_id)
        self._cstate.process_event(self._role, event)
        self._next_stream_id += 1
        self._writer.command(0, "_result", transaction_id, None, float(event.stream_id))
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
        self._cstate.process_event(self._peer, event)
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
        self._cstate.process_event(self._peer, event)
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
        state = self._cstate.streams.get(stream_id)
        if state is None:
            return None  # clients close streams that never existed; nothing to undo
        event = event_type(stream_id=stream_id)
        self._cstate.process_event(self._peer, event)
        if state is StreamState.PUBLISHING:  # rule 6
            self._writer.on_status(
                stream_id, "status", "NetStream.Unpublish.Success", "Stopped publishing."
            )
        return event

    _server_commands: ClassVar[
        dict[str, Callable[[CommandReader, int, float, AMFValue, list[AMFValue]], Event | None]]
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
        self._cstate.process_event(self._peer, event)
        return event

    def _stream_created(self, value: AMFValue) -> Event:
        if not isinstance(value, float) or not value.is_integer() or not 1 <= value <= 0xFFFFFFFF:
            raise LocalProtocolError(f"createStream result is not a stream id: {value!r}")
        event = StreamCreated(stream_id=int(value))
        self._cstate.process_event(self._peer, event)
        return event

    def _status(self, stream_id: int, info: dict[str, AMFValue]) -> Event:
        code = _str_field(info, "code")
        level = _str_field(info, "level", "status")
        description = _str_field(info, "description")
        state = self._cstate.streams.get(stream_id) if self._role is Role.CLIENT else None
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
        self._cstate.process_event(self._peer, event)
        return event
