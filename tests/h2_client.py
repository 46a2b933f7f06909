"""A bare HTTP/2 client (prior knowledge, h2c) for tests that need to see frames.

httpx hides interim responses and stream resets, and sends a request's whole
content before it reads the answer; this one does what the test says, frame by
frame, and records every response of a stream (interim ones first) and how
each stream ended. It uses the ``h2`` library, as hypercorn does on the other
side, so it is an independent implementation of the client side only.
"""

from __future__ import annotations

from collections import defaultdict
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import h2.config
import h2.connection
import h2.errors
import h2.events
import trio
from hyperframe.frame import DataFrame

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

__all__ = ["STOP_SENDING", "H2Client", "open_h2"]

RECEIVE_BYTES = 65536
#: The resets that end a request the server answered early: NO_ERROR (RFC 9113 8.1),
#: or STREAM_CLOSED when the server's answer to a DATA frame that crossed its NO_ERROR
#: reset went out first (hypercorn takes its bytes, then its send lock, per write).
STOP_SENDING = (h2.errors.ErrorCodes.NO_ERROR, h2.errors.ErrorCodes.STREAM_CLOSED)


class H2Client:
    """One HTTP/2 connection. Streams are named by their id.

    Attributes:
        responses: Per stream, each response as ``(status, headers)``, interim first.
        ended: Streams whose response has ended (END_STREAM).
        resets: Streams the server reset, with the error code of its first reset.
    """

    def __init__(self, stream: trio.SocketStream, authority: str) -> None:
        self._stream = stream
        self._authority = authority
        config = h2.config.H2Configuration(client_side=True, header_encoding=None)
        self._connection = h2.connection.H2Connection(config=config)
        self.responses: defaultdict[int, list[tuple[int, dict[str, str]]]] = defaultdict(list)
        self.ended: set[int] = set()
        self.resets: dict[int, h2.errors.ErrorCodes | int] = {}

    async def _flush(self) -> None:
        await self._stream.send_all(self._connection.data_to_send())

    async def start(self) -> None:
        """Send the connection preface."""
        self._connection.initiate_connection()
        await self._flush()

    async def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        content: bytes = b"",
        *,
        end: bool = True,
    ) -> int:
        """Start a request with ``content`` (which must fit the flow-control window);
        ``end=False`` leaves the request open. Returns its stream id."""
        stream_id = self._connection.get_next_available_stream_id()
        fields = [
            (":method", method),
            (":scheme", "http"),
            (":authority", self._authority),
            (":path", path),
            *((name.lower(), value) for name, value in headers.items()),
        ]
        self._connection.send_headers(stream_id, fields, end_stream=end and not content)
        if content:
            self._connection.send_data(stream_id, content, end_stream=end)
        await self._flush()
        return stream_id

    async def send_in_flight(self, stream_id: int, content: bytes) -> None:
        """Send ``content`` as a DATA frame whatever this side's state says: what a client
        had on its way when the server answered (or reset) the stream."""
        frame = DataFrame(stream_id)
        frame.data = content
        await self._stream.send_all(frame.serialize())

    async def wait_done(self, stream_id: int) -> None:
        """Read until the stream's response has ended or the stream was reset.

        Raises:
            trio.BrokenResourceError: The server closed the connection first.
        """
        while stream_id not in self.ended and stream_id not in self.resets:
            data = await self._stream.receive_some(RECEIVE_BYTES)
            if not data:
                raise trio.BrokenResourceError("the server closed the connection")
            for event in self._connection.receive_data(data):
                self._record(event)
            await self._flush()

    def _record(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.InformationalResponseReceived | h2.events.ResponseReceived):
            fields = {
                bytes(name).decode("latin-1"): bytes(value).decode("latin-1")
                for name, value in event.headers or []
            }
            status = int(fields.pop(":status"))
            self.responses[event.stream_id].append((status, fields))
        elif isinstance(event, h2.events.DataReceived):
            self._connection.acknowledge_received_data(
                event.flow_controlled_length or 0, event.stream_id
            )
        elif isinstance(event, h2.events.StreamEnded):
            self.ended.add(event.stream_id)
        elif isinstance(event, h2.events.StreamReset):
            # The first: DATA that crossed it on the way gets STREAM_CLOSED resets after.
            self.resets.setdefault(event.stream_id, event.error_code or h2.errors.ErrorCodes(0))
        elif isinstance(event, h2.events.ConnectionTerminated):
            raise trio.BrokenResourceError(f"the server ended the connection: {event}")


@asynccontextmanager
async def open_h2(host: str, port: int) -> AsyncIterator[H2Client]:
    """An :class:`H2Client` connected to ``host:port``, preface sent."""
    async with await trio.open_tcp_stream(host, port) as stream:
        client = H2Client(stream, f"{host}:{port}")
        await client.start()
        yield client
