"""SIGKILL mid-upload: after a restart HEAD gives a correct offset and the upload completes,
on local disk (a raw PATCH) and on object storage (tus-js-client); a resumable upload's
running digest (Resumable Uploads for HTTP) outlives the restart too."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.ports import free_port
from tests.seaweedfs import ACCESS_KEY_ID, SECRET_ACCESS_KEY, new_bucket
from tests.waiting import wait_healthy

from .helpers import JS_DIR, SCRIPT, TUS, V, auth

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.conftest import PostgresCluster
    from tests.seaweedfs import SeaweedServer

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


TUS_PATCH = {**V, "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"}


def _send_until_killed(
    port: int,
    token: str,
    path: str,
    data: bytes,
    kill_after: int,
    proc: subprocess.Popen[bytes],
    headers: dict[str, str] = TUS_PATCH,
) -> int:
    """Stream one PATCH of all of ``data``; SIGKILL the server once ``kill_after`` bytes are out."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        fields = {**headers, "Authorization": f"Bearer {token}", "Content-Length": str(len(data))}
        head = "".join(f"{name}: {value}\r\n" for name, value in fields.items())
        sock.sendall(f"PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{head}\r\n".encode())
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
    env.update(
        TRIOFLIX_DATA_DIR=str(tmp_path / "data"),
        TRIOFLIX_RTMP="127.0.0.1:0",
        TRIOFLIX_CHECK_UPLOADS="off",  # random bytes, read back from the store
    )
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


RESUMABLE = "/api/upload/video/resumable"


@pytest.mark.slow
def test_the_running_digest_outlives_a_sigkill(tmp_path: Path) -> None:
    """A Repr-Digest given at creation is checked against all the bytes, those sent
    before the server was killed mid-request included (their digest was stored with
    the offsets committed while the request went on)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "JWT_SECRET")}
    env.update(
        TRIOFLIX_DATA_DIR=str(tmp_path / "data"),
        TRIOFLIX_RTMP="127.0.0.1:0",
        TRIOFLIX_CHECK_UPLOADS="off",
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    data = os.urandom(100 * MIB)
    digest = f"sha-256=:{base64.b64encode(hashlib.sha256(data).digest()).decode()}:"
    append = {"Content-Type": "application/partial-upload", "Upload-Complete": "?1"}

    with _serve(env, port, log) as proc:
        registered = httpx.post(
            f"{url}/api/auth/register", json={"username": "alice", "password": "password1"}
        )
        token = registered.json()["token"]
        created = httpx.post(
            f"{url}{RESUMABLE}",
            headers={
                **auth(token),
                "Upload-Complete": "?0",
                "Upload-Length": str(len(data)),
                "Repr-Digest": digest,
            },
        )
        path = created.headers["Location"]
        headers = {**append, "Upload-Offset": "0"}
        _send_until_killed(port, token, path, data, 80 * MIB, proc, headers)

    with _serve(env, port, log):
        state = httpx.head(f"{url}{path}", headers=auth(token))
        offset = int(state.headers["Upload-Offset"])
        assert offset >= 32 * MIB  # committed while the request went on (every 32 MiB)
        headers = {**auth(token), **append, "Upload-Offset": str(offset)}
        wrong = f"sha-256=:{base64.b64encode(bytes(32)).decode()}:"
        refused = httpx.patch(
            f"{url}{path}",
            content=data[offset:],
            headers={**headers, "Repr-Digest": wrong},
            timeout=60,
        )
        assert refused.status_code == 400 and refused.json()["code"] == "digest_mismatch"
        # The right one matches all the bytes, those before the kill too.
        headers.update({"Upload-Offset": str(len(data)), "Repr-Digest": digest})
        done = httpx.patch(f"{url}{path}", content=b"", headers=headers, timeout=60)
        assert done.status_code == 204, done.text
        assert done.headers["Upload-Complete"] == "?1"


def _parts_listed(seaweed: SeaweedServer, bucket: str) -> int:
    """How many parts the one open multipart upload of ``bucket`` has (0 if none is open)."""
    client = seaweed.client()
    try:
        uploads = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        if not uploads:
            return 0
        (upload,) = uploads
        parts = client.list_parts(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
        return len(parts.get("Parts", []))
    finally:
        client.close()


@pytest.mark.slow
def test_tus_js_client_resumes_after_sigkill_on_object_storage(
    tmp_path: Path, seaweed: SeaweedServer, node: str
) -> None:
    bucket = new_bucket(seaweed)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "JWT_SECRET")}
    env.update(
        TRIOFLIX_DATA_DIR=str(tmp_path / "data"),
        TRIOFLIX_RTMP="127.0.0.1:0",
        TRIOFLIX_CHECK_UPLOADS="off",  # random bytes, read back from the store
        TRIOFLIX_STORAGE_URL=f"s3://{bucket}/site",
        TRIOFLIX_UPLOAD_PART_SIZE=str(5 * MIB),
        AWS_ENDPOINT_URL_S3=seaweed.endpoint_url,
        AWS_ACCESS_KEY_ID=ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY=SECRET_ACCESS_KEY,
        AWS_REGION="us-east-1",
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    data = os.urandom(64 * MIB)
    source = tmp_path / "clip.mp4"
    source.write_bytes(data)

    with _serve(env, port, log) as proc:
        registered = httpx.post(
            f"{url}/api/auth/register", json={"username": "alice", "password": "password1"}
        )
        config = {
            "endpoint": url + TUS,
            "token": registered.json()["token"],
            "file": str(source),
            "storage": str(tmp_path / "tus-urls.json"),  # where the client keeps the URL
            # 2 MiB PATCHes, a pause before each: the kill lands mid-upload however
            # fast the machine, and every acknowledged PATCH ended with a tail write.
            "chunkSize": 2 * MIB,
            "pauseMs": 50,
        }
        client = subprocess.Popen(
            [node, str(SCRIPT), json.dumps({"scenario": "upload", **config})],
            cwd=JS_DIR,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            # Killed once 8 parts (40 MiB) are in the bucket.
            deadline = time.monotonic() + 60
            while _parts_listed(seaweed, bucket) < 8:
                assert time.monotonic() < deadline, "the upload did not get going"
                assert client.poll() is None, "tus-js-client ended before the kill"
                time.sleep(0.05)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            # Its retries find no server: the client gives up.
            assert client.wait(timeout=60) == 1
        finally:
            if client.poll() is None:
                client.kill()
                client.wait()

    with _serve(env, port, log):
        done = subprocess.run(
            [node, str(SCRIPT), json.dumps({"scenario": "resume", **config})],
            cwd=JS_DIR,
            capture_output=True,
            check=False,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr.decode()
    resumed = json.loads(done.stdout.decode().strip().splitlines()[-1])
    first = resumed["requests"][0]
    assert (first["method"], first["status"]) == ("HEAD", 200)  # found by fingerprint
    # Every PATCH answered before the kill was kept, its tail included: at least the
    # 19 whole PATCHes before the one that filled part 8, and no more than was sent.
    assert 38 * MIB <= first["offset"] < len(data)
    assert first["offset"] % (2 * MIB) == 0
    assert not [r for r in resumed["requests"] if r["method"] == "POST"]
    key = f"site/uploads/{resumed['url'].rsplit('/', 1)[1]}/data"
    s3 = seaweed.client()
    try:
        stored = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    finally:
        s3.close()
    assert hashlib.sha256(stored).digest() == hashlib.sha256(data).digest()
