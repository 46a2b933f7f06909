"""A server websocket on a Trio stream: wsproto parses, Trio writes, nothing in between.

It offers what Quart's ``websocket`` offers the routes (``accept``, ``receive``,
``send``, ``close``), so the chat session and WS-FLV run unchanged on it.

Sending is the hot path (a chat message goes to every member of a room), so it
skips wsproto's per-connection state: a server frame is unmasked, and without
extensions its bytes depend on the payload alone. :func:`text_frame` encodes a
text payload once and hands the same bytes to every connection that sends it,
and :meth:`DirectWebsocket.send_nowait` lets the task that fans a message out
write it to the socket itself, without waking the connection's own task.
That is why this websocket never negotiates permessage-deflate: a compressed
frame would have to be made once per connection.
"""

from __future__ import annotations

import functools
import os
from collections import deque
from typing import TYPE_CHECKING, NoReturn

import trio
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    TextMessage,
)
from wsproto.frame_protocol import FrameProtocol

if TYPE_CHECKING:
    from wsproto import WSConnection
    from wsproto.events import Event

__all__ = ["DirectWebsocket", "text_frame"]

RECEIVE_BYTES = 64 * 1024
MESSAGE_TOO_BIG = 1009  # RFC 6455 7.4.1

# Stateless for whole messages (fin=True): shared by every connection.
_ENCODER = FrameProtocol(client=False, extensions=[])


@functools.lru_cache(maxsize=64)
def text_frame(text: str) -> bytes:
    """The bytes of an unmasked, unfragmented text frame carrying ``text``.

    Cached: when a room fans a message out, the first member's send encodes it
    and the others find it here (a string keeps its hash once computed).
    """
    return bytes(_ENCODER.send_data(text, fin=True))


def binary_frame(data: bytes) -> bytes:
    return bytes(_ENCODER.send_data(data, fin=True))


class DirectWebsocket:
    """One accepted-or-pending websocket on ``stream``, whose handshake ``conn`` has parsed.

    ``on_disconnect`` is called when the peer closes or goes away; the route
    passes the cancel scope of the connection's work, so that a task waiting in
    :meth:`receive` (or anywhere else) stops the way it would under Quart.
    Messages larger than ``max_message_bytes`` close the connection (1009).
    """

    def __init__(
        self,
        stream: trio.SocketStream,
        conn: WSConnection,
        remote_addr: str | None,
        *,
        max_message_bytes: int,
    ) -> None:
        self.remote_addr = remote_addr
        self.on_disconnect: trio.CancelScope | None = None
        self._stream = stream
        self._conn = conn
        self._max_message_bytes = max_message_bytes
        self._events: deque[Event] = deque()
        self._parts: list[str | bytes] = []
        self._size = 0
        self._send_lock = trio.Lock()
        self._accepted = False
        self._socket = stream.socket
        self._unsent: memoryview | None = None  # the rest of a frame whose write was cancelled
        self._failed = False  # the connection broke: nothing more can be sent

    async def accept(self) -> None:
        if not self._accepted:
            self._accepted = True
            await self._send(self._conn.send(AcceptConnection(extensions=[])))

    async def send(self, data: str | bytes) -> None:
        await self._send(text_frame(data) if isinstance(data, str) else binary_frame(data))

    def send_nowait(self, text: str) -> bool:
        """Start sending the text frame ``text`` from the calling task, without waiting.

        The chat fan-out calls this for every member whose writer is idle, so that a
        delivery costs one ``send`` system call and no task switch.

        Returns:
            ``False``, having sent nothing, while another send is under way or part
            of an earlier frame waits; ``True`` when the frame is taken: written
            whole, or in part with the rest kept for :meth:`flush` (:attr:`backlogged`).

        Raises:
            trio.BrokenResourceError: the connection failed.
        """
        if self._failed:
            raise trio.BrokenResourceError("the websocket's connection failed")
        if self._unsent is not None or self._send_lock.locked():
            return False
        data = text_frame(text)
        try:
            # The socket is non-blocking (trio's); closed, fileno() is -1: EBADF.
            sent = os.write(self._socket.fileno(), data)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            self._failed = True
            raise trio.BrokenResourceError(f"socket connection broken: {exc}") from exc
        if sent < len(data):
            self._unsent = memoryview(data)[sent:]
        return True

    @property
    def backlogged(self) -> bool:
        """Part of a frame waits to be written (by :meth:`flush` or the next send)."""
        return self._unsent is not None

    async def flush(self) -> None:
        """Write what :meth:`send_nowait` (or a cancelled send) left unsent."""
        await self._send(b"")

    async def receive(self) -> str | bytes:
        """The next whole message; pings are answered on the way."""
        while True:
            while self._events:
                event = self._events.popleft()
                if isinstance(event, TextMessage | BytesMessage):
                    part = event.data
                    self._parts.append(bytes(part) if isinstance(part, bytearray) else part)
                    self._size += len(event.data)
                    if self._size > self._max_message_bytes:
                        await self._send(
                            self._conn.send(CloseConnection(MESSAGE_TOO_BIG, "message too big"))
                        )
                        await self._gone()
                    if event.message_finished:
                        return self._take_message()
                elif isinstance(event, Ping):
                    await self._send(self._conn.send(event.response()))
                elif isinstance(event, CloseConnection):
                    await self._answer_close(event)
                    await self._gone()
            await self._read()

    async def close(self, code: int, reason: str = "") -> None:
        """Say goodbye with ``code`` and wait for the peer's answer (the caller bounds the wait).

        Before :meth:`accept`, this refuses the handshake with 403, as hypercorn does.
        """
        if self._failed:
            return
        if not self._accepted:
            self._accepted = True
            await self._send(self._conn.send(RejectConnection(status_code=403)))
            return
        if self._conn.state is not ConnectionState.OPEN:
            return
        await self._send(self._conn.send(CloseConnection(code=code, reason=reason)))
        while data := await self._stream.receive_some(RECEIVE_BYTES):
            self._conn.receive_data(bytes(data))
            if any(isinstance(event, CloseConnection) for event in self._conn.events()):
                return

    def _take_message(self) -> str | bytes:
        parts = self._parts
        self._parts = []
        self._size = 0
        if len(parts) == 1:
            return parts[0]
        if isinstance(parts[0], str):
            return "".join(part for part in parts if isinstance(part, str))
        return b"".join(part for part in parts if isinstance(part, bytes))

    async def _read(self) -> None:
        try:
            data = await self._stream.receive_some(RECEIVE_BYTES)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            data = b""
        if not data:
            await self._gone()
        self._conn.receive_data(bytes(data))
        self._events.extend(self._conn.events())

    async def _answer_close(self, event: CloseConnection) -> None:
        state = self._conn.state
        if state is ConnectionState.REMOTE_CLOSING:
            reply = event.response()
        elif state is ConnectionState.OPEN:
            # wsproto reports a malformed frame as a CloseConnection it made up: send it.
            reply = CloseConnection(code=event.code, reason=event.reason)
        else:
            return
        try:
            await self._send(self._conn.send(reply))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    async def _gone(self) -> NoReturn:
        """The peer left: stop the connection's work (raises ``Cancelled`` here)."""
        if self.on_disconnect is not None:
            self.on_disconnect.cancel()
        await trio.lowlevel.checkpoint()
        raise trio.BrokenResourceError("the websocket peer went away")

    async def _send(self, data: bytes) -> None:
        if self._failed:
            raise trio.BrokenResourceError("the websocket's connection failed")
        # The uncontended case (nearly always: only pongs and closes compete with the
        # writer) takes the lock without the extra scheduling point of ``async with``.
        lock = self._send_lock
        try:
            lock.acquire_nowait()
        except trio.WouldBlock:
            await lock.acquire()
        try:
            if self._unsent is not None:
                await self._write(self._unsent)
            await self._write(data)
        finally:
            lock.release()

    async def _write(self, data: bytes | memoryview) -> None:
        """Send all of ``data``. A cancelled write keeps what it did not send in
        ``_unsent``, and the next send finishes that frame first: the peer never
        sees a torn frame, so a member dropped while its socket was full still gets
        its close code once it reads again."""
        view = memoryview(data)
        socket = self._socket
        try:
            while view:
                self._unsent = view
                view = view[await socket.send(view) :]
        except OSError:
            self._failed = True
            await self._gone()
        self._unsent = None
