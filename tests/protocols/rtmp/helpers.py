"""ConnectionPair and friends: a client and a server Connection wired together."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from protocols import rtmp

if TYPE_CHECKING:
    from collections.abc import Callable


def seeded_random(seed: int) -> Callable[[int], bytes]:
    """Deterministic ``random_bytes`` so handshakes replay byte for byte."""
    rng = random.Random(seed)
    return rng.randbytes


def get_all_events(conn: rtmp.Connection) -> list[rtmp.Event]:
    events: list[rtmp.Event] = []
    while True:
        event = conn.next_event()
        if event is rtmp.NEED_DATA:
            return events
        events.append(event)
        if isinstance(event, rtmp.ConnectionClosed):
            return events


class ConnectionPair:
    """A client and a server with in-memory transport, in the style of h11's test helpers.

    ``client_to_server`` records every byte the client sent, for replay tests.
    """

    def __init__(self, *, digest: bool = True, **server_options: Any) -> None:
        self.client = rtmp.Connection(
            rtmp.CLIENT, random_bytes=seeded_random(1), digest_handshake=digest
        )
        self.server = rtmp.Connection(
            rtmp.SERVER,
            random_bytes=seeded_random(2),
            **server_options,
        )
        self.client_to_server = bytearray()
        self.server_to_client = bytearray()

    def transfer(self) -> tuple[list[rtmp.Event], list[rtmp.Event]]:
        """Move bytes both ways until quiet; return (events the server got, client got)."""
        server_events: list[rtmp.Event] = []
        client_events: list[rtmp.Event] = []
        while True:
            c2s = self.client.data_to_send()
            s2c = self.server.data_to_send()
            if not c2s and not s2c:
                return server_events, client_events
            if c2s:
                self.client_to_server += c2s
                self.server.receive_data(c2s)
                server_events += get_all_events(self.server)
            if s2c:
                self.server_to_client += s2c
                self.client.receive_data(s2c)
                client_events += get_all_events(self.client)

    def handshake(self) -> None:
        server_events, client_events = self.transfer()
        assert len(server_events) == 1
        assert isinstance(server_events[0], rtmp.HandshakeComplete)
        assert client_events == server_events

    def connect(self, app: str = "live") -> None:
        self.handshake()
        connect = rtmp.Connect(
            app=app,
            tc_url=f"rtmp://127.0.0.1:1935/{app}",
            properties={"flashVer": "FMLE/3.0", "type": "nonprivate"},
        )
        self.client.send(connect)
        server_events, client_events = self.transfer()
        assert server_events == [connect]
        assert client_events == []
        self.server.accept_connect()
        server_events, client_events = self.transfer()
        assert server_events == []
        assert client_events == [rtmp.ConnectAccepted()]

    def create_stream(self) -> int:
        self.client.send(rtmp.CreateStream())
        server_events, client_events = self.transfer()
        assert len(server_events) == 1
        assert isinstance(server_events[0], rtmp.StreamCreated)
        assert client_events == server_events
        return server_events[0].stream_id

    def start_publishing(self, key: str = "abc123") -> int:
        self.connect()
        for name in ("releaseStream", "FCPublish"):
            self.client.send(rtmp.Command(name=name, transaction_id=0.0, arguments=(key,)))
        stream_id = self.create_stream()
        publish = rtmp.Publish(stream_id=stream_id, stream_key=key)
        self.client.send(publish)
        assert self.transfer() == ([publish], [])
        self.server.accept_publish(stream_id)
        assert self.transfer() == (
            [],
            [rtmp.StreamBegin(stream_id=stream_id), rtmp.PublishAccepted(stream_id=stream_id)],
        )
        return stream_id


def feed_to_the_end(conn: rtmp.Connection, data: bytes) -> rtmp.Event | rtmp.RemoteProtocolError:
    """Feed ``data`` and then the end of input, accepting every connect, publish and play.

    Whatever the bytes, the end of input ends the connection: the last thing
    returned is :class:`rtmp.ConnectionClosed` (the state is then ``CLOSED``) or the
    :class:`rtmp.RemoteProtocolError` that failed it (the state is then ``ERROR``).
    Anything else, such as ``NEED_DATA`` after the end, fails the test.
    """
    for piece in (data, b""):
        conn.receive_data(piece)
        try:
            while (event := conn.next_event()) is not rtmp.NEED_DATA:
                if isinstance(event, rtmp.ConnectionClosed):
                    assert conn.state is rtmp.State.CLOSED
                    return event
                if isinstance(event, rtmp.Connect):
                    conn.accept_connect()
                elif isinstance(event, rtmp.Publish):
                    conn.accept_publish(event.stream_id)
                elif isinstance(event, rtmp.Play):
                    conn.accept_play(event.stream_id)
        except rtmp.RemoteProtocolError as exc:
            assert conn.state is rtmp.State.ERROR
            return exc
    raise AssertionError("the end of input neither closed the connection nor failed it")
