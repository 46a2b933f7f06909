"""The websocket as users meet it: several real clients in one room on a served instance."""

from __future__ import annotations

import logging
import struct
from typing import TYPE_CHECKING

import pytest
import trio
from trio_websocket import ConnectionClosed

from trioflix.chat import limits

from .helpers import chat, close_code

if TYPE_CHECKING:
    from tests.conftest import Server

# Both transports: ``trioflix serve``'s direct websocket and plain hypercorn's ASGI one.
pytestmark = pytest.mark.parametrize("server", ["direct", "asgi"], indirect=True)


async def reader_that_stops(server: Server) -> trio.socket.SocketType:
    """A read-only client of alice's room that reads its welcome and then nothing, with a
    4 KiB receive buffer: what the server writes to it soon waits."""
    host, port = server.url.removeprefix("http://").split(":")
    sock = trio.socket.socket()
    sock.setsockopt(trio.socket.SOL_SOCKET, trio.socket.SO_RCVBUF, 4096)
    await sock.connect((host, int(port)))
    stream = trio.SocketStream(sock)
    await stream.send_all(
        b"GET /ws/chat/alice HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n"
    )
    received = b""
    with trio.fail_after(10):
        while b"welcome" not in received:
            received += await stream.receive_some(4096)
    return sock


@pytest.fixture
def tight_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """A short outgoing queue and no sender limit, so a slow reader overflows quickly.

    Requested before ``server``: the services read the limits when they start.
    """
    monkeypatch.setattr(
        limits,
        "DEFAULT_LIMITS",
        limits.ChatLimits(outgoing_queue=16, moderator_burst=10_000, frames_burst=10_000),
    )


async def test_messages_reach_everyone_in_order(server: Server) -> None:
    alice, _ = await server.register("alice")
    bob, _ = await server.register("bob")
    with trio.fail_after(20):
        async with (
            chat(server.url, "alice", alice) as (owner, welcome),
            chat(server.url, "alice", bob) as (viewer, bob_welcome),
            chat(server.url, "alice") as (anonymous, anon_welcome),
        ):
            assert welcome["role"] == "owner" and bob_welcome["role"] == "user"
            assert anon_welcome["role"] == "viewer" and anon_welcome["user"] is None
            assert welcome["history"] == [] and welcome["settings"]["slow_mode_s"] == 0
            first = await owner.say("hello :fire: world")
            second = await viewer.say("hi alice")
            assert second > first
            for client in (owner, viewer, anonymous):
                one = await client.until("message")
                two = await client.until("message")
                assert [one["id"], two["id"]] == [first, second]
                assert one["user"]["name"] == "alice" and one["user"]["role"] == "owner"
                assert one["segments"] == [
                    {"type": "text", "text": "hello "},
                    {"type": "emote", "code": "fire", "emoji": "\U0001f525"},
                    {"type": "text", "text": " world"},
                ]
                assert two["text"] == "hi alice" and two["user"]["role"] == "user"
            refused = await anonymous.request({"type": "send", "text": "let me in"})
            assert refused["type"] == "error" and refused["code"] == "read_only"


async def test_unknown_channel_and_bad_token_are_refused_with_codes(server: Server) -> None:
    await server.register("alice")
    with trio.fail_after(10):
        async with chat(server.url, "nobody") as (client, error):
            assert error == {
                "type": "error",
                "code": "no_such_channel",
                "message": "there is no channel 'nobody'",
            }
            assert await client.closed() == 4404
        async with chat(server.url, "alice", "not-a-token") as (client, error):
            assert error["code"] == "invalid_token"
            assert await client.closed() == 4401
        async with chat(server.url, "alice", since="-5") as (client, error):
            assert error["code"] == "invalid_since"
            assert await client.closed() == 1008


async def test_history_and_resume(server: Server) -> None:
    alice, _ = await server.register("alice")
    with trio.fail_after(20):
        async with chat(server.url, "alice", alice) as (owner, _):
            ids = [await owner.say(f"message {i}") for i in range(5)]
        async with chat(server.url, "alice") as (_, welcome):
            assert [m["id"] for m in welcome["history"]] == ids
            assert welcome["resumed"] is False and welcome["truncated"] is False
        async with chat(server.url, "alice", since=ids[1]) as (_, welcome):
            assert [m["text"] for m in welcome["history"]] == [
                "message 2",
                "message 3",
                "message 4",
            ]
            assert welcome["resumed"] is True and welcome["truncated"] is False
        async with chat(server.url, "alice", since=ids[0] - 10) as (_, welcome):
            assert welcome["truncated"] is True  # ids before the first retained one are gone
    rest = await server.client.get(f"/api/chat/alice/messages?since={ids[3]}")
    assert [m["id"] for m in rest.json()["messages"]] == [ids[4]]


async def test_slow_consumer_is_dropped_without_slowing_the_room(
    tight_limits: None, server: Server
) -> None:
    alice, _ = await server.register("alice")
    text = "x" * 450
    with trio.fail_after(60):
        async with (
            chat(server.url, "alice", alice) as (sender, _),
            chat(server.url, "alice") as (fast, _),
            chat(server.url, "alice", receive_buffer=4096, message_queue_size=1) as (slow, _),
        ):
            room = server.app.trioflix.chat.rooms["alice"]
            assert len(room.members) == 3
            received: list[int] = []

            async def read_fast() -> None:
                while len(received) < 300:
                    frame = await fast.until("message")
                    received.append(frame["id"])

            async with trio.open_nursery() as nursery:
                nursery.start_soon(read_fast)
                sent = [await sender.say(text) for _ in range(300)]
            assert received == sent  # the fast client got everything, in order
            assert len(room.members) == 2  # the slow one was dropped at once
            got = 0
            code = None
            try:
                while True:
                    if (await slow.recv())["type"] == "message":
                        got += 1
            except ConnectionClosed as closed:
                code = close_code(closed)
            assert code == 4408
            assert got < 300


async def test_the_served_chat_drops_a_member_past_256_waiting_frames(server: Server) -> None:
    """docs/chat-protocol.md: close 4408 when more than 256 frames wait for a client."""
    await server.register("alice")
    frame = '{"pad":"' + "x" * 65536 + '"}'
    with trio.fail_after(20):
        sock = await reader_that_stops(server)
        with sock:
            room = server.app.trioflix.chat.rooms["alice"]
            (member,) = room.members
            # No checkpoint from here on: the member's writer does not run. Under the
            # front door the fan-out writes to the socket itself until it is full (its
            # buffers hold some megabytes at most); from then on frames wait. Each
            # event is flushed at once, as the hub's writer would at its next turn.
            seq = 0
            while member.inbox.statistics().current_buffer_used < 256:
                seq += 1
                room.fan_out(seq, frame)
                room.flush()
                assert member.close_code is None, seq
                assert seq < 1000, "the socket took more than its buffers can hold"
            assert member in room.members
            room.fan_out(seq + 1, frame)
            room.flush()
            assert member not in room.members and member.close_code == 4408


async def test_a_client_that_resets_mid_write_is_removed_quietly(
    tight_limits: None, server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    alice, _ = await server.register("alice")
    sock = await reader_that_stops(server)
    with trio.fail_after(30):
        async with chat(server.url, "alice", alice) as (sender, _):
            room = server.app.trioflix.chat.rooms["alice"]
            assert len(room.members) == 2
            for _ in range(12):  # more than the socket buffers hold, less than the queue
                await sender.say("x" * 450)
            sock.setsockopt(trio.socket.SOL_SOCKET, trio.socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()  # RST while the server is writing to it
            await sender.say("still here")
            while len(room.members) > 1:  # noqa: ASYNC110 - the room has no event for this
                await trio.sleep(0.02)
            assert (await sender.until("message"))["id"]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
