"""Reading an HTTP/1.1 response off a raw socket with h11, for tests that choose
what goes on which connection (pipelining, chunked bodies, trailers, targets
exactly as written) where httpx would choose for them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import h11

if TYPE_CHECKING:
    import trio

__all__ = ["read_response"]

RECEIVE_BYTES = 65536


async def read_response(
    conn: h11.Connection, stream: trio.SocketStream
) -> tuple[int, dict[str, str], bytes]:
    """The next response on ``stream``, read through ``conn`` (a client's h11
    connection that has sent, or been told of, the request it answers): its status,
    headers (h11 lower-cases the names) and body.

    Raises:
        h11.RemoteProtocolError: The server broke HTTP/1.1, or closed mid-response.
    """
    status, headers, body = 0, {}, bytearray()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await stream.receive_some(RECEIVE_BYTES))
        elif isinstance(event, h11.Response):
            status = event.status_code
            headers = {k.decode(): v.decode() for k, v in event.headers}
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            return status, headers, bytes(body)
