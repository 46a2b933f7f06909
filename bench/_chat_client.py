"""Load clients for ``bench/chat.py``: many websockets in one Trio process.

The parent drives this process with one JSON command per line on stdin and reads
one JSON answer per line on stdout (see :func:`main`). The same code speaks to
trioflix (``/ws/chat/{channel}``, JSON lines) and to socket.io (the Engine.IO
websocket transport, ``/socket.io/?EIO=4&transport=websocket``: ``0`` open,
``40`` connect, ``42[...]`` events, ``2``/``3`` ping/pong).

The client is deliberately minimal so that it costs less than the servers it
measures: RFC 6455 framing by hand (servers send unmasked, unfragmented text
frames; continuation, ping and close are handled), no JSON parsing on the hot
path. A benchmark message carries ``zq<phase>.<seq>.<send time in ns>zq`` in its
text; receivers find the first such marker on each line and put the latency
(``CLOCK_MONOTONIC`` is system-wide on Linux, so sender and receiver clocks agree)
in a histogram with 1 % wide buckets.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import trio

MARK = b"zq"
HIST_SCALE = 100.0  # bucket = int(ln(latency_us) * 100): 1 % wide buckets
CONNECT_TIMEOUT_S = 15.0  # one websocket handshake plus welcome; slower means the server is stuck
CONNECTS_AT_ONCE = 64  # like browsers arriving together, without a SYN flood on the backlog
RECV_BYTES = 65536
ETHERNET_MSS = 1460  # bytes: a 1500-byte MTU less IPv4 and TCP headers
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 1.3


def bucket_value(bucket: int) -> float:
    """The latency in ms that a histogram bucket stands for."""
    return math.exp(bucket / HIST_SCALE) / 1000.0


@dataclass
class Stats:
    """Everything the receivers of this process saw during the current phase."""

    phase: int = -1
    received: int = 0
    stale: int = 0  # markers of an earlier phase (arrived after its drain)
    payload_bytes: int = 0  # websocket payload bytes of this phase
    first_ns: int = 0
    last_ns: int = 0
    hist: dict[int, int] = field(default_factory=dict)
    acks: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    closed: dict[str, int] = field(default_factory=dict)

    def reset(self, phase: int) -> None:
        self.phase = phase
        self.received = self.stale = self.payload_bytes = self.first_ns = self.last_ns = (
            self.acks
        ) = 0
        self.hist = {}
        self.errors = {}

    def line(self, line: bytes, now: int) -> None:
        i = line.find(MARK)
        if i < 0:
            if b'"type":"ack"' in line or line.startswith(b"43"):
                self.acks += 1
            elif b'"type":"error"' in line:
                code = str(json.loads(line).get("code"))
                self.errors[code] = self.errors.get(code, 0) + 1
            return
        j = line.find(MARK, i + 2)
        phase, _, sent = line[i + 2 : j].split(b".")
        if int(phase) != self.phase:
            self.stale += 1
            return
        self.received += 1
        if not self.first_ns:
            self.first_ns = now
        self.last_ns = now
        latency_us = (now - int(sent)) / 1000.0
        key = int(math.log(latency_us) * HIST_SCALE) if latency_us > 1.0 else 0
        self.hist[key] = self.hist.get(key, 0) + 1


class Websocket:
    """One client websocket over a Trio socket stream; text frames only."""

    def __init__(self, stream: trio.SocketStream, kind: str, stats: Stats) -> None:
        self.stream = stream
        self.kind = kind
        self.stats = stats
        self.buffer = bytearray()
        self.fragments = bytearray()
        self.close_code: int | None = None
        # A sender's reader answers pings (socket.io's "2", websocket pings) while its
        # sending task may be blocked in a write: one frame at a time on the socket.
        self._send_lock = trio.Lock()

    @classmethod
    async def connect(
        cls, host: str, port: int, resource: str, kind: str, stats: Stats, rcvbuf: int | None
    ) -> Websocket:
        sock = trio.socket.socket()
        if rcvbuf is not None:
            # A slow reader: the kernel holds little for it. An Ethernet-sized MSS as well:
            # loopback's 64 KiB MSS lets the server's send buffer grow to megabytes.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, ETHERNET_MSS)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await sock.connect((host, port))
        stream = trio.SocketStream(sock)
        key = base64.b64encode(os.urandom(16))
        request = (
            f"GET {resource} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key.decode()}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        )
        await stream.send_all(request.encode())
        ws = cls(stream, kind, stats)
        while b"\r\n\r\n" not in ws.buffer:
            data = await stream.receive_some(RECV_BYTES)
            if not data:
                raise ConnectionError("closed during the handshake")
            ws.buffer += data
        head, _, rest = bytes(ws.buffer).partition(b"\r\n\r\n")
        accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest())
        if not head.startswith(b"HTTP/1.1 101") or accept not in head:
            raise ConnectionError(f"handshake refused: {head[:200]!r}")
        ws.buffer = bytearray(rest)
        return ws

    async def send_text(self, text: str) -> None:
        payload = text.encode()
        n = len(payload)
        if n < 126:
            header = bytes((0x81, 0x80 | n))
        elif n < 65536:
            header = bytes((0x81, 0x80 | 126)) + n.to_bytes(2, "big")
        else:
            header = bytes((0x81, 0x80 | 127)) + n.to_bytes(8, "big")
        mask = os.urandom(4)  # RFC 6455 5.3: client frames are masked
        repeated = (mask * (n // 4 + 1))[:n]
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(
            n, "big"
        )
        async with self._send_lock:
            await self.stream.send_all(header + mask + masked)

    async def next_messages(self) -> list[bytes]:
        """Read once from the socket; returns the complete text messages (maybe none).

        Raises:
            EOFError: the server closed (``close_code`` is set when it sent one).
        """
        data = await self.stream.receive_some(RECV_BYTES)
        if not data:
            raise EOFError
        self.buffer += data
        return await self.parse()

    async def parse(self) -> list[bytes]:
        """The complete messages in the buffer (answers pings on the way)."""
        buf = self.buffer
        n = len(buf)
        pos = 0
        out: list[bytes] = []
        while n - pos >= 2:
            b0 = buf[pos]
            length = buf[pos + 1] & 0x7F
            head = 2
            if length == 126:
                if n - pos < 4:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                head = 4
            elif length == 127:
                if n - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                head = 10
            end = pos + head + length
            if end > n:
                break
            payload = bytes(buf[pos + head : end])
            pos = end
            opcode = b0 & 0x0F
            if opcode in (0, 1):
                if not b0 & 0x80:  # not final: keep the fragment
                    self.fragments += payload
                    continue
                if self.fragments:
                    payload = bytes(self.fragments) + payload
                    self.fragments.clear()
                out.append(payload)
            elif opcode == 8:
                self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                del buf[:pos]
                raise EOFError
            elif opcode == 9:
                await self._send_control(0xA, payload)
        del buf[:pos]
        return out

    async def _send_control(self, opcode: int, payload: bytes) -> None:
        mask = b"\x00\x00\x00\x00"  # a zero mask leaves the payload as it is
        async with self._send_lock:
            await self.stream.send_all(bytes((0x80 | opcode, 0x80 | len(payload))) + mask + payload)


class Client:
    """A receiver or sender: connects, joins, then reads until the end of the run."""

    def __init__(self, ws: Websocket) -> None:
        self.ws = ws

    async def join(self) -> list[bytes]:
        """Wait for the welcome (trioflix) or the namespace connect (socket.io).

        Returns the messages that arrived after it in the same read.
        """
        ws = self.ws
        messages = await ws.parse()  # the first frames may have come with the 101 response
        while True:
            for i, message in enumerate(messages):
                if ws.kind == "trioflix":
                    if message.startswith(b'{"type":"welcome"'):
                        return messages[i + 1 :]
                    raise ConnectionError(f"refused: {message[:200]!r}")
                if message.startswith(b"0{"):
                    await ws.send_text("40")
                elif message.startswith(b"40"):
                    return messages[i + 1 :]
                elif message.startswith(b"44"):
                    raise ConnectionError(f"refused: {message[:200]!r}")
            messages = await ws.next_messages()

    async def read_forever(self, messages: list[bytes]) -> None:
        ws = self.ws
        stats = ws.stats
        socketio = ws.kind == "socketio"
        try:
            while True:
                now = time.monotonic_ns()
                for message in messages:
                    stats.payload_bytes += len(message)
                    if socketio:
                        if message == b"2":  # Engine.IO ping: answer or be dropped
                            await ws.send_text("3")
                        else:
                            stats.line(message, now)
                    else:
                        for line in message.split(b"\n"):
                            stats.line(line, now)
                messages = await ws.next_messages()
        except (EOFError, trio.BrokenResourceError, OSError):
            code = str(ws.close_code or "eof")
            stats.closed[code] = stats.closed.get(code, 0) + 1
            await ws.stream.aclose()


class Worker:
    def __init__(self, nursery: trio.Nursery) -> None:
        self.nursery = nursery
        self.stats = Stats()
        self.clients: list[Client] = []
        self.senders: list[Client] = []

    async def connect(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Open ``count`` connections; they read until the process ends unless ``slow``."""
        limiter = trio.CapacityLimiter(CONNECTS_AT_ONCE)
        ok = 0
        failures: list[str] = []
        tokens: list[str | None] = cmd.get("tokens") or [None] * int(cmd["count"])
        rcvbuf = cmd.get("rcvbuf")
        slow = bool(cmd.get("slow"))
        sender = cmd.get("role") == "sender"

        async def one(token: str | None) -> None:
            nonlocal ok
            resource = cmd["resource"]
            if token is not None:
                resource += ("&" if "?" in resource else "?") + "token=" + token
            async with limiter:
                try:
                    with trio.fail_after(CONNECT_TIMEOUT_S):
                        ws = await Websocket.connect(
                            cmd["host"], cmd["port"], resource, cmd["kind"], self.stats, rcvbuf
                        )
                        client = Client(ws)
                        early = await client.join()
                except (OSError, ConnectionError, EOFError, trio.TooSlowError) as exc:
                    failures.append(repr(exc))
                    return
            ok += 1
            (self.senders if sender else self.clients).append(client)
            if not slow:  # a slow consumer never reads again
                self.nursery.start_soon(client.read_forever, early)

        async with trio.open_nursery() as nursery:
            for token in tokens:
                nursery.start_soon(one, token)
        return {"ok": ok, "failed": len(failures), "failures": failures[:3]}

    async def send(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Post ``count`` messages at ``rate``/s, round-robin over the sender connections."""
        phase, rate, count = int(cmd["phase"]), float(cmd["rate"]), int(cmd["count"])
        pad = "x" * int(cmd.get("pad", 0))
        kind = cmd["kind"]
        start = trio.current_time()
        late_max = 0.0
        first_ns = 0
        for i in range(count):
            due = start + i / rate
            now = trio.current_time()
            if now < due:
                await trio.sleep(due - now)
            else:
                late_max = max(late_max, now - due)
            ws = self.senders[i % len(self.senders)].ws
            sent_ns = time.monotonic_ns()
            first_ns = first_ns or sent_ns
            text = f"zq{phase}.{i}.{sent_ns}zq {pad}"
            if kind == "trioflix":
                frame = json.dumps({"type": "send", "nonce": f"n{phase}.{i}", "text": text})
            else:
                frame = "42" + str(i) + json.dumps(["chat", text])  # with an ack id
            await ws.send_text(frame)
        return {
            "sent": count,
            "first_ns": first_ns,
            "last_ns": time.monotonic_ns(),
            "late_max_ms": late_max * 1000,
        }

    def report(self) -> dict[str, Any]:
        s = self.stats
        times = os.times()
        return {
            "phase": s.phase,
            "received": s.received,
            "stale": s.stale,
            "bytes": s.payload_bytes,
            "first_ns": s.first_ns,
            "last_ns": s.last_ns,
            "hist": s.hist,
            "acks": s.acks,
            "errors": s.errors,
            "closed": s.closed,
            "clients": len(self.clients),
            "cpu_s": times.user + times.system,
        }


async def main() -> None:
    """Serve commands: ``connect``, ``phase`` (reset counters), ``send``, ``report``, ``exit``."""
    stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
    stdout = trio.lowlevel.FdStream(os.dup(sys.stdout.fileno()))
    async with trio.open_nursery() as nursery:
        worker = Worker(nursery)
        pending = b""
        while True:
            data = await stdin.receive_some(RECV_BYTES)
            if not data:
                break
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                cmd = json.loads(line)
                op = cmd["op"]
                if op == "exit":
                    nursery.cancel_scope.cancel()
                    return
                if op == "connect":
                    answer = await worker.connect(cmd)
                elif op == "phase":
                    worker.stats.reset(int(cmd["phase"]))
                    answer = {"ok": True}
                elif op == "send":
                    answer = await worker.send(cmd)
                else:
                    answer = worker.report()
                await stdout.send_all(json.dumps(answer).encode() + b"\n")
        nursery.cancel_scope.cancel()


if __name__ == "__main__":
    trio.run(main)
