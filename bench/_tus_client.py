"""The tus client of the upload benchmarks: the same for every server, and nearly free.

Each PATCH is a raw HTTP/1.1 request on a new connection (as tus clients open
one per request) whose body leaves with ``sendfile`` from the page cache, so
the client costs next to no CPU and the servers' figures are their own.
"""

from __future__ import annotations

import socket
import time
from typing import IO, TYPE_CHECKING

import httpx

from bench._proc import HOST

if TYPE_CHECKING:
    from pathlib import Path

    from bench._tus_servers import Server

__all__ = ["upload"]

REQUEST_TIMEOUT_S = 300.0  # one PATCH of 1 GiB at >= 4 MiB/s; slower means something is wrong
CREATE_TIMEOUT_S = 30.0
RECV_BYTES = 65536


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str]]:
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        data = sock.recv(RECV_BYTES)
        if not data:
            raise RuntimeError(f"connection closed mid-response: {buffer!r}")
        buffer += data
    head, _, rest = buffer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        data = sock.recv(RECV_BYTES)
        if not data:
            break
        rest += data
    return int(status_line.split()[1]), headers


def _patch(server: Server, path: str, file: IO[bytes], offset: int, count: int) -> int:
    """One PATCH of ``count`` bytes of ``file`` from ``offset``, sent with ``sendfile``."""
    request = (
        f"PATCH {path} HTTP/1.1\r\nHost: {HOST}:{server.port}\r\nTus-Resumable: 1.0.0\r\n"
        "Content-Type: application/offset+octet-stream\r\n"
        f"Upload-Offset: {offset}\r\nContent-Length: {count}\r\nConnection: close\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in server.headers.items())
        + "\r\n"
    )
    with socket.create_connection((HOST, server.port), timeout=REQUEST_TIMEOUT_S) as sock:
        sock.sendall(request.encode())
        sent = sock.sendfile(file, offset, count)
        if sent != count:
            raise RuntimeError(f"sendfile sent {sent} of {count} bytes")
        status, headers = _read_response(sock)
    if status != 204:
        raise RuntimeError(f"{server.name}: PATCH answered {status}")
    return int(headers["upload-offset"])


def upload(server: Server, source: Path, chunk: int | None) -> float:
    """Upload ``source`` in PATCHes of ``chunk`` bytes (None: one PATCH).

    Returns:
        Seconds from the creation POST to the last PATCH's answer.
    """
    size = source.stat().st_size
    started = time.perf_counter()
    created = httpx.post(
        f"http://{HOST}:{server.port}{server.create_path}",
        headers={**server.headers, "Tus-Resumable": "1.0.0", "Upload-Length": str(size)},
        timeout=CREATE_TIMEOUT_S,
    )
    if created.status_code != 201:
        raise RuntimeError(f"{server.name}: creation answered {created.status_code}")
    path = httpx.URL(created.headers["Location"]).path
    offset = 0
    with source.open("rb") as file:
        while offset < size:
            offset = _patch(server, path, file, offset, min(chunk or size, size - offset))
    return time.perf_counter() - started
