"""A minimal Trio RTMP client over the project's own sans-IO Connection, for tests.

It publishes and plays exactly like a real encoder at the protocol level, and it
can stop at any point (mid-handshake, mid-chunk) to test what the server does
with broken peers. Interop with third-party clients lives in tests/interop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from protocols import rtmp

if TYPE_CHECKING:
    from collections.abc import Callable

CHUNK = 65536


class RTMPTestClient:
    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.conn = rtmp.Connection(rtmp.CLIENT)
        self.events: list[rtmp.Event] = []

    @classmethod
    async def connect(cls, host: str, port: int) -> RTMPTestClient:
        return cls(await trio.open_tcp_stream(host, port))

    async def flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            await self.stream.send_all(data)

    async def wait_for(self, predicate: Callable[[rtmp.Event], bool]) -> rtmp.Event:
        """Pump the connection until an event matching ``predicate`` arrives."""
        while True:
            await self.flush()
            for index, seen in enumerate(self.events):
                if predicate(seen):
                    del self.events[: index + 1]
                    return seen
            data = await self.stream.receive_some(CHUNK)
            self.conn.receive_data(data)
            while (event := self.conn.next_event()) is not rtmp.NEED_DATA:
                self.events.append(event)
                if isinstance(event, rtmp.ConnectionClosed):
                    raise trio.BrokenResourceError("server closed the connection")

    async def handshake_and_connect(self, app: str = "live") -> None:
        await self.wait_for(lambda e: isinstance(e, rtmp.HandshakeComplete))
        self.conn.send(rtmp.Connect(app=app, tc_url=f"rtmp://127.0.0.1/{app}"))
        await self.wait_for(lambda e: isinstance(e, rtmp.ConnectAccepted | rtmp.ConnectRejected))

    async def create_stream(self) -> int:
        self.conn.send(rtmp.CreateStream())
        created = await self.wait_for(lambda e: isinstance(e, rtmp.StreamCreated))
        assert isinstance(created, rtmp.StreamCreated)
        return created.stream_id

    async def publish(self, key: str) -> int:
        """Publish with ``key``; returns the stream id, or raises if refused."""
        await self.handshake_and_connect()
        stream_id = await self.create_stream()
        self.conn.send(rtmp.Publish(stream_id=stream_id, stream_key=key))
        answer = await self.wait_for(
            lambda e: isinstance(e, rtmp.PublishAccepted | rtmp.PublishRejected)
        )
        if isinstance(answer, rtmp.PublishRejected):
            raise PermissionError(answer.description)
        return stream_id

    async def send_video(self, stream_id: int, timestamp: int, payload: bytes) -> None:
        self.conn.send_media(stream_id, "video", timestamp, payload)
        await self.flush()

    async def aclose(self) -> None:
        await trio.aclose_forcefully(self.stream)
