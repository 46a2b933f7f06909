"""SIGKILL mid-upload: after a restart HEAD gives a correct offset and the upload completes."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.ports import free_port
from tests.waiting import wait_healthy

from .helpers import TUS, V, auth

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.conftest import PostgresCluster

MIB = 1024 * 1024


@contextmanager
def _serve(env: dict[str, str], port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "trioflix", "serve", "--http", f"127.0.0.1:{port}"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            wait_healthy(f"http://127.0.0.1:{port}", proc, log=log)
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _send_until_killed(
    port: int, token: str, path: str, data: bytes, kill_after: int, proc: subprocess.Popen[bytes]
) -> int:
    """Stream one PATCH of all of ``data``; SIGKILL the server once ``kill_after`` bytes are out."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(
            (
                f"PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\n"
                f"Authorization: Bearer {token}\r\n"
                "Content-Type: application/offset+octet-stream\r\n"
                f"Upload-Offset: 0\r\nContent-Length: {len(data)}\r\n\r\n"
            ).encode()
        )
        sent = 0
        view = memoryview(data)
        while sent < kill_after:
            sent += sock.send(view[sent : sent + MIB])
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    return sent


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_sigkill_mid_upload_then_resume(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "JWT_SECRET")}
    env.update(TRIOFLIX_DATA_DIR=str(tmp_path / "data"), TRIOFLIX_RTMP="127.0.0.1:0")
    if backend == "postgresql":
        cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
        env["DATABASE_URL"] = cluster.url(cluster.create_database())
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    data = os.urandom(200 * MIB)

    with _serve(env, port, log) as proc:
        registered = httpx.post(
            f"{url}/api/auth/register", json={"username": "alice", "password": "password1"}
        )
        token = registered.json()["token"]
        created = httpx.post(
            f"{url}{TUS}", headers={**V, **auth(token), "Upload-Length": str(len(data))}
        )
        path = created.headers["Location"]
        sent = _send_until_killed(port, token, path, data, 150 * MIB, proc)

    with _serve(env, port, log):
        state = httpx.head(f"{url}{path}", headers={**V, **auth(token)})
        assert state.status_code == 200
        offset = int(state.headers["Upload-Offset"])
        # An fsync starts every 32 MiB while the body goes on, and its offset is
        # committed when it returns: the bytes after the last commit (under 66 MiB,
        # plus what the sockets and the body buffer held, well under 24 MiB) are
        # sent again. Never more than was sent is kept.
        assert sent - 96 * MIB <= offset <= sent
        done = httpx.patch(
            f"{url}{path}",
            content=data[offset:],
            headers={
                **V,
                **auth(token),
                "Content-Type": "application/offset+octet-stream",
                "Upload-Offset": str(offset),
            },
            timeout=60,
        )
        assert done.status_code == 204 and done.headers["Upload-Offset"] == str(len(data))
        status = httpx.get(f"{url}/api/upload/status/{path.rsplit('/', 1)[1]}", headers=auth(token))
        video_id = status.json()["upload"]["video_id"]
    # Random bytes: whether its job has run yet or failed, the upload is in the store.
    assert video_id is not None
    source = tmp_path / "data" / "media" / "objects" / "uploads" / path.rsplit("/", 1)[1] / "data"
    assert hashlib.sha256(source.read_bytes()).digest() == hashlib.sha256(data).digest()
