"""``trioflix serve`` declines permessage-deflate: the chat goes on uncompressed."""

from __future__ import annotations

import base64
import os
from typing import TYPE_CHECKING

import h11
import pytest
import trio

if TYPE_CHECKING:
    from tests.conftest import Server


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_direct_websocket_declines_permessage_deflate(server: Server) -> None:
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    conn = h11.Connection(h11.CLIENT)
    request = h11.Request(
        method="GET",
        target="/ws/chat/alice",
        headers=[
            ("Host", host),
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", base64.b64encode(os.urandom(16)).decode()),
            ("Sec-WebSocket-Version", "13"),
            # What browsers offer.
            ("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits"),
        ],
    )
    await server.register("alice")
    with trio.fail_after(10):
        async with await trio.open_tcp_stream(host, int(port)) as stream:
            await stream.send_all(conn.send(request))
            while (event := conn.next_event()) is h11.NEED_DATA:
                conn.receive_data(await stream.receive_some())
            assert isinstance(event, h11.InformationalResponse)
            assert event.status_code == 101
            assert not [v for name, v in event.headers if name == b"sec-websocket-extensions"]
            # The welcome frame: FIN and a text opcode, RSV1 (compressed) clear.
            frame = conn.trailing_data[0]
            while not frame:
                frame = await stream.receive_some()
            assert frame[0] == 0x81
