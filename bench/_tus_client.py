"""The tus client of the upload benchmarks: the same for every server, and nearly free.

Each PATCH is a raw HTTP/1.1 request on a new connection (as tus clients open
one per request) whose body leaves with ``sendfile`` from the page cache, so
the client costs next to no CPU and the servers' figures are their own.
"""

from __future__ import annotations

import socket
import time
from typing import IO, TYPE_CHECKING, Protocol

import httpx

from bench._proc import HOST

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["Endpoint", "create", "cut_patch", "offset", "patch", "upload"]

REQUEST_TIMEOUT_S = 300.0  # one PATCH of 1 GiB at >= 4 MiB/s; slower means something is wrong
CREATE_TIMEOUT_S = 30.0
RECV_BYTES = 65536


class Endpoint(Protocol):
    """Where uploads go: ``bench._tus_servers.Server`` or any server with these."""

    @property
    def name(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def create_path(self) -> str: ...
    @property
    def headers(self) -> dict[str, str]: ...


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


def _patch_head(server: Endpoint, path: str, offset: int, count: int) -> bytes:
    return (
        f"PATCH {path} HTTP/1.1\r\nHost: {HOST}:{server.port}\r\nTus-Resumable: 1.0.0\r\n"
        "Content-Type: application/offset+octet-stream\r\n"
        f"Upload-Offset: {offset}\r\nContent-Length: {count}\r\nConnection: close\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in server.headers.items())
        + "\r\n"
    ).encode()


def patch(server: Endpoint, path: str, file: IO[bytes], offset: int, count: int) -> int:
    """One PATCH of ``count`` bytes of ``file`` from ``offset``, sent with ``sendfile``:
    the new offset."""
    with socket.create_connection((HOST, server.port), timeout=REQUEST_TIMEOUT_S) as sock:
        sock.sendall(_patch_head(server, path, offset, count))
        sent = sock.sendfile(file, offset, count)
        if sent != count:
            raise RuntimeError(f"sendfile sent {sent} of {count} bytes")
        status, headers = _read_response(sock)
    if status != 204:
        raise RuntimeError(f"{server.name}: PATCH answered {status}")
    return int(headers["upload-offset"])


def cut_patch(
    server: Endpoint, path: str, file: IO[bytes], offset: int, count: int, sent: int
) -> None:
    """A PATCH announcing ``count`` bytes whose connection drops after ``sent`` of them:
    a client that lost its network mid-request."""
    with socket.create_connection((HOST, server.port), timeout=REQUEST_TIMEOUT_S) as sock:
        sock.sendall(_patch_head(server, path, offset, count))
        if sock.sendfile(file, offset, sent) != sent:
            raise RuntimeError("sendfile sent less than asked")
        sock.shutdown(socket.SHUT_RDWR)  # no answer awaited: the request is cut short


def offset(server: Endpoint, path: str) -> int:
    """The offset the server has kept for the upload at ``path`` (a ``HEAD``)."""
    answer = httpx.head(
        f"http://{HOST}:{server.port}{path}",
        headers={**server.headers, "Tus-Resumable": "1.0.0"},
        timeout=CREATE_TIMEOUT_S,
    )
    if answer.status_code != 200:
        raise RuntimeError(f"{server.name}: HEAD answered {answer.status_code}")
    return int(answer.headers["upload-offset"])


def create(server: Endpoint, size: int, metadata: str = "") -> str:
    """Create an upload of ``size`` bytes: the path of its URL."""
    headers = {**server.headers, "Tus-Resumable": "1.0.0", "Upload-Length": str(size)}
    if metadata:
        headers["Upload-Metadata"] = metadata
    created = httpx.post(
        f"http://{HOST}:{server.port}{server.create_path}",
        headers=headers,
        timeout=CREATE_TIMEOUT_S,
    )
    if created.status_code != 201:
        raise RuntimeError(f"{server.name}: creation answered {created.status_code}")
    return httpx.URL(created.headers["Location"]).path


def upload(server: Endpoint, source: Path, chunk: int | None) -> float:
    """Upload ``source`` in PATCHes of ``chunk`` bytes (None: one PATCH).

    Returns:
        Seconds from the creation POST to the last PATCH's answer.
    """
    size = source.stat().st_size
    started = time.perf_counter()
    path = create(server, size)
    done = 0
    with source.open("rb") as file:
        while done < size:
            done = patch(server, path, file, done, min(chunk or size, size - done))
    return time.perf_counter() - started
