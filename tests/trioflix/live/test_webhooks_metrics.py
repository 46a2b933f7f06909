"""Signed webhooks on live events (publish start can refuse), and live metrics."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import h11
import pytest
import trio

from tests.ports import free_port
from tests.trioflix.live.rtmp_client import RTMPTestClient
from tests.trioflix.live.test_rtmp_robustness import AVC_HEADER, KEYFRAME, rtmp_address

if TYPE_CHECKING:
    from tests.conftest import Server
    from trioflix.config import Settings

SECRET = "hook-secret-" + "s" * 40


@pytest.fixture
def hook_port() -> int:
    return free_port()


@pytest.fixture
def settings(settings: Settings, hook_port: int) -> Settings:
    return settings.replace(
        webhook_urls=(f"http://127.0.0.1:{hook_port}/hook",), webhook_secret=SECRET
    )


@dataclass
class HookReceiver:
    """A tiny HTTP server that records webhook calls and answers with ``status``."""

    status: int = 204
    calls: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    arrived: trio.Event = field(default_factory=trio.Event)

    async def handle(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        headers: dict[str, str] = {}
        body = b""
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await stream.receive_some(65536))
            elif isinstance(event, h11.Request):
                headers = {k.decode().lower(): v.decode() for k, v in event.headers}
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
        self.calls.append((headers, body))
        self.arrived.set()
        self.arrived = trio.Event()
        reply = b"not today" if self.status >= 400 else b""
        await stream.send_all(
            conn.send(
                h11.Response(status_code=self.status, headers=[("content-length", str(len(reply)))])
            )
            + conn.send(h11.Data(data=reply))
            + conn.send(h11.EndOfMessage())
        )
        await stream.aclose()

    def events(self) -> list[str]:
        return [json.loads(body)["event"] for _, body in self.calls]


async def open_flv_viewer(server: Server, channel: str) -> trio.SocketStream:
    """An HTTP-FLV viewer on a raw socket, once the response has started.

    (httpx leaves its inner async generators to the garbage collector when a
    never-ending body is abandoned, which pytest reports as a resource leak.)
    """
    host, port = server.url.removeprefix("http://").split(":")
    stream = await trio.open_tcp_stream(host, int(port))
    await stream.send_all(f"GET /live/{channel}.flv HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    received = b""
    with trio.fail_after(10):
        while b"FLV" not in received:
            received += await stream.receive_some(65536)
    assert received.startswith(b"HTTP/1.1 200")
    return stream


async def start_receiver(nursery: trio.Nursery, port: int) -> HookReceiver:
    receiver = HookReceiver()
    await nursery.start(trio.serve_tcp, receiver.handle, port)
    return receiver


async def wait_for_event(receiver: HookReceiver, name: str) -> dict[str, Any]:
    with trio.fail_after(10):
        while True:
            for _, body in receiver.calls:
                payload: dict[str, Any] = json.loads(body)
                if payload["event"] == name:
                    return payload
            await receiver.arrived.wait()


def verify(headers: dict[str, str], body: bytes) -> bool:
    parts = dict(item.split("=", 1) for item in headers["x-trioflix-signature"].split(","))
    expected = hmac.new(SECRET.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(parts["v1"], expected.hexdigest())


async def test_webhooks_are_signed_and_cover_the_lifecycle(
    server: Server, hook_port: int, nursery: trio.Nursery
) -> None:
    receiver = await start_receiver(nursery, hook_port)
    token, _ = await server.register("alice")
    key = await server.create_key(token)
    client = await RTMPTestClient.connect(*rtmp_address(server))
    stream_id = await client.publish(key)
    await client.send_video(stream_id, 0, AVC_HEADER)
    await client.send_video(stream_id, 0, KEYFRAME)

    start = await wait_for_event(receiver, "publish.start")
    assert start["channel"] == "alice"
    viewer = await open_flv_viewer(server, "alice")
    play = await wait_for_event(receiver, "play.start")
    await viewer.aclose()
    assert play["protocol"] == "http-flv"
    await wait_for_event(receiver, "play.end")
    await client.aclose()
    server.app.trioflix.registry.grace_s = 0
    end = await wait_for_event(receiver, "publish.end")
    assert end["channel"] == "alice"
    assert all(verify(headers, body) for headers, body in receiver.calls)
    # A forged body does not verify.
    headers, body = receiver.calls[0]
    assert not verify(headers, body.replace(b"alice", b"mallo"))


async def test_publish_start_hook_can_refuse(
    server: Server, hook_port: int, nursery: trio.Nursery
) -> None:
    receiver = await start_receiver(nursery, hook_port)
    receiver.status = 403
    token, _ = await server.register("alice")
    key = await server.create_key(token)
    client = await RTMPTestClient.connect(*rtmp_address(server))
    with pytest.raises(PermissionError, match="refused by webhook: not today"):
        await client.publish(key)
    await client.aclose()
    assert server.app.trioflix.registry.get("alice") is None


async def test_unreachable_hook_fails_open(server: Server) -> None:
    """Nobody listens on the hook port: publishing still works (logged)."""
    token, _ = await server.register("alice")
    key = await server.create_key(token)
    client = await RTMPTestClient.connect(*rtmp_address(server))
    await client.publish(key)
    assert server.app.trioflix.registry.get("alice") is not None
    await client.aclose()


async def test_live_metrics(server: Server) -> None:
    token, _ = await server.register("alice")
    key = await server.create_key(token)
    client = await RTMPTestClient.connect(*rtmp_address(server))
    stream_id = await client.publish(key)
    await client.send_video(stream_id, 0, AVC_HEADER)
    await client.send_video(stream_id, 0, KEYFRAME)
    live = server.app.trioflix.registry.get("alice")
    assert live is not None
    with trio.fail_after(5):  # once the server has read it
        while live.stats.video_frames < 1:  # noqa: ASYNC110
            await trio.sleep(0.01)
    viewer = await open_flv_viewer(server, "alice")
    text = (await server.client.get("/metrics")).text
    await viewer.aclose()
    assert "trioflix_live_channels 1.0" in text
    assert 'trioflix_live_publishers{channel="alice"} 1.0' in text
    assert 'trioflix_live_viewers{channel="alice",protocol="http-flv"} 1.0' in text
    assert 'trioflix_live_ingest_bytes_total{channel="alice"}' in text
    sent = [line for line in text.splitlines() if line.startswith("trioflix_live_sent_bytes_total")]
    assert sent and float(sent[0].split()[-1]) > 0
    await client.aclose()
    server.app.trioflix.registry.grace_s = 0
    with trio.fail_after(5):
        while server.app.trioflix.registry.live():  # noqa: ASYNC110
            await trio.sleep(0.02)
    text = (await server.client.get("/metrics")).text
    assert "trioflix_live_channels 0.0" in text
    assert 'channel="alice"' not in text
