"""A chat client as a user's browser would be: a real websocket, JSON frames."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import socket
import struct
import zlib
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import trio
from trio_websocket import ConnectionClosed, wrap_client_stream

from tests.api import auth as auth  # the tests import it from here

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from trio_websocket import WebSocketConnection

_nonces = itertools.count(1)


def provider_signature(secret: str, body: bytes, timestamp: int) -> str:
    """``Trioflix-Signature`` as a payment provider computes it, from docs/api.md alone:
    ``t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" keyed with the secret>``."""
    signed = str(timestamp).encode("ascii") + b"." + body
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def png(width: int, height: int) -> bytes:
    """A real (grey) PNG image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


class ChatClient:
    """Reads server frames one JSON object at a time (a websocket frame may carry several)."""

    def __init__(self, ws: WebSocketConnection) -> None:
        self.ws = ws
        self._pending: list[dict[str, Any]] = []
        self.frames = 0  # websocket frames received

    async def recv(self) -> dict[str, Any]:
        while not self._pending:
            text = await self.ws.get_message()
            assert isinstance(text, str)
            self.frames += 1
            self._pending = [json.loads(line) for line in text.split("\n")]
        return self._pending.pop(0)

    async def until(self, kind: str) -> dict[str, Any]:
        """The next frame of type ``kind``, skipping others (viewer counts...)."""
        while True:
            frame = await self.recv()
            if frame["type"] == kind:
                return frame

    async def send(self, frame: dict[str, Any]) -> str:
        """Send a frame with a fresh nonce; returns the nonce."""
        nonce = frame.get("nonce") or f"n{next(_nonces)}"
        await self.ws.send_message(json.dumps({**frame, "nonce": nonce}))
        return str(nonce)

    async def reply(self, nonce: str) -> dict[str, Any]:
        """The ack or error answering ``nonce``; room traffic read meanwhile stays for recv()."""
        seen: list[dict[str, Any]] = []
        try:
            while True:
                frame = await self.recv()
                if frame["type"] in ("ack", "error") and frame.get("nonce") == nonce:
                    return frame
                seen.append(frame)
        finally:
            self._pending[:0] = seen

    async def request(self, frame: dict[str, Any]) -> dict[str, Any]:
        return await self.reply(await self.send(frame))

    async def say(self, text: str) -> int:
        """Send a message; returns its id (fails the test on an error frame)."""
        answer = await self.request({"type": "send", "text": text})
        assert answer["type"] == "ack", answer
        return int(answer["id"])

    async def closed(self) -> int:
        """Read until the server closes; returns the close code."""
        try:
            while True:
                await self.recv()
        except ConnectionClosed as exc:
            return close_code(exc)


def close_code(closed: ConnectionClosed) -> int:
    assert closed.reason is not None
    return int(closed.reason.code)


@asynccontextmanager
async def chat(
    base_url: str,
    channel: str,
    token: str | None = None,
    since: int | str | None = None,
    *,
    receive_buffer: int | None = None,
    message_queue_size: int = 64,
) -> AsyncIterator[tuple[ChatClient, dict[str, Any]]]:
    """Connect to ``channel``; yields the client and its welcome frame.

    The TCP stream is ours and closed here: trio-websocket's client leaves the socket
    open when the server is the side that closes. ``receive_buffer`` shrinks the
    socket's receive buffer (SO_RCVBUF), to make a slow reader quickly.
    """
    query = {k: v for k, v in (("token", token), ("since", since)) if v is not None}
    host, _, port = base_url.removeprefix("http://").rpartition(":")
    resource = f"/ws/chat/{channel}" + ("?" + urlencode(query) if query else "")
    sock = trio.socket.socket()
    if receive_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    await sock.connect((host, int(port)))
    async with trio.SocketStream(sock) as stream, trio.open_nursery() as nursery:
        ws = await wrap_client_stream(
            nursery, stream, host, resource, message_queue_size=message_queue_size
        )
        try:
            client = ChatClient(ws)
            with trio.fail_after(10):
                welcome = await client.recv()
            yield client, welcome
        finally:
            await ws.aclose()


async def topup(client: Any, token: str, amount: int, currency: str = "USD") -> None:
    response = await client.post(
        "/api/wallet/topups", json={"amount": amount, "currency": currency}, headers=auth(token)
    )
    assert response.status_code == 201, response.text
