"""Text no database can store, or that is no text, in chat frames: each gets an error
frame (invalid UTF-8, which RFC 6455 says ends the connection, a 1007 close), and the
connection and the room go on, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pytest
import trio

from .helpers import chat, topup

if TYPE_CHECKING:
    from tests.conftest import Server

NUL = "\x00"
SURROGATE = "\ud800"  # json.dumps writes it as the escape "\ud800": JSON, but no text

# Every string a client frame carries, with U+0000 in it: into a message, a SuperChat,
# a moderation reason, a user name looked up, a blocked term stored.
NUL_FRAMES: list[dict[str, Any]] = [
    {"type": "send", "text": f"hello{NUL}world"},
    {"type": "superchat", "amount": 500, "currency": "USD", "text": f"thanks{NUL}"},
    {"type": "ban", "user": "fan", "reason": f"spam{NUL}"},
    {"type": "timeout", "user": "fan", "seconds": 60, "reason": f"calm{NUL}down"},
    {"type": "ban", "user": f"fan{NUL}"},
    {"type": "unban", "user": f"fan{NUL}"},
    {"type": "moderator", "user": f"fan{NUL}", "add": True},
    {"type": "blocked_terms", "add": [f"bad{NUL}word"]},
    {"type": "blocked_terms", "remove": [f"bad{NUL}word"]},
]


async def test_nul_surrogates_and_overlong_text_get_error_frames(server: Server) -> None:
    owner_token, _ = await server.register("streamer")
    fan, _ = await server.register("fan")
    await topup(server.client, fan, 1000)
    with trio.fail_after(30):
        async with (
            chat(server.url, "streamer", owner_token) as (owner, _),
            chat(server.url, "streamer", fan) as (payer, _),
        ):
            for frame in NUL_FRAMES:
                client = payer if frame["type"] == "superchat" else owner
                answer = await client.request(frame)
                assert answer["type"] == "error", (frame, answer)
                assert answer["code"] == "invalid_frame", (frame, answer)
                assert "NUL" in answer["message"]
            # An escaped unpaired surrogate is valid JSON but no Unicode text.
            surrogates: list[dict[str, Any]] = [
                {"type": "send", "text": f"hi{SURROGATE}"},
                {"type": "ban", "user": "fan", "reason": SURROGATE},
                {"type": "blocked_terms", "add": [SURROGATE]},
            ]
            for frame in surrogates:
                await owner.send(frame)
                answer = await owner.until("error")
                assert answer["code"] == "malformed_frame", (frame, answer)
            too_long: list[tuple[dict[str, Any], str]] = [
                ({"type": "send", "text": "x" * 501}, "message_too_long"),
                ({"type": "ban", "user": "fan", "reason": "x" * 201}, "invalid_frame"),
                ({"type": "blocked_terms", "add": ["x" * 65]}, "invalid_frame"),
                ({"type": "ban", "user": "x" * 65}, "invalid_frame"),
            ]
            for frame, code in too_long:
                assert (await owner.request(frame))["code"] == code, frame
            # Nothing was stored or applied, and both connections still work.
            assert (await owner.request({"type": "blocked_terms", "add": []}))["type"] == "ack"
            message_id = await payer.say("still here")
            assert (await owner.until("message"))["id"] == message_id
            paid = await payer.request({"type": "superchat", "amount": 500, "currency": "USD"})
            assert paid["type"] == "ack"
    bans = await server.client.get(
        "/api/chat/streamer/bans", headers={"Authorization": f"Bearer {owner_token}"}
    )
    assert bans.json() == {"bans": []}


def _masked_text_frame(payload: bytes) -> bytes:
    """A client's websocket text frame (RFC 6455 5.2), masked as a client must."""
    assert len(payload) < 126
    mask = os.urandom(4)
    body = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + mask + body


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("server", "code"),
    # RFC 6455 8.1: a text frame that is not UTF-8 fails the connection, with 1007.
    # Plain hypercorn's websocket drops the TCP connection without a close frame
    # instead (what a client reports as 1006); its wsproto events are its own.
    [("direct", 1007), ("asgi", 1006)],
    indirect=["server"],
)
async def test_invalid_utf8_ends_only_that_connection(server: Server, code: int) -> None:
    """A text frame that is not UTF-8 ends its connection; the room goes on."""
    owner_token, _ = await server.register("streamer")
    fan, _ = await server.register("fan")
    with trio.fail_after(30):
        async with (
            chat(server.url, "streamer", owner_token) as (owner, _),
            chat(server.url, "streamer", fan) as (sender, _),
        ):
            frame = _masked_text_frame(b'{"type": "send", "nonce": "n", "text": "\xff\xfe"}')
            await sender.ws._stream.send_all(frame)  # under the library: it sends only UTF-8
            assert await sender.closed() == code
            await owner.say("still here")
