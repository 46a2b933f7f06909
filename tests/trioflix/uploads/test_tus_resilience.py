"""Never lose a byte: dropped clients, half-dead connections, expiry, a full disk, real clients."""

from __future__ import annotations

import hashlib
import json
import os
import tracemalloc
from typing import TYPE_CHECKING

import pytest
import trio
from tusclient import client as tus_client

from tests.disks import small_disk
from tests.waiting import wait_until

from .helpers import (
    TUS,
    auth,
    create,
    head,
    patch,
    raw_patch,
    raw_patch_start,
    stored_size,
    video_source,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.conftest import Server

# Every test runs over trioflix serve's direct tus route and over plain hypercorn (ASGI).
pytestmark = [
    pytest.mark.parametrize("server", ["direct", "asgi"], indirect=True),
    # The bytes are checked in the store after the video may be ready: keep its source.
    pytest.mark.settings(keep_originals=True),
]


async def _wait_offset(server: Server, token: str, path: str, offset: int) -> None:
    """Poll HEAD (which evicts a holder) until the offset is ``offset``."""
    with trio.fail_after(20):
        while True:
            response = await head(server.tus, token, path)
            if response.headers.get("Upload-Offset") == str(offset):
                return
            await trio.sleep(0.05)


@pytest.mark.slow
async def test_dropped_client_keeps_exactly_the_bytes_sent(server: Server) -> None:
    token, _ = await server.register("alice")
    data = os.urandom(2_000_000)
    path = await create(server.tus, token, len(data))
    stream = await raw_patch_start(
        server.settings.http, token, path, 0, len(data), data[:1_234_567]
    )
    # Once the server has the bytes, vanish without a FIN-acknowledged goodbye.
    await wait_until(lambda: stored_size(server.settings.data_dir, path) == 1_234_567)
    await stream.aclose()
    await _wait_offset(server, token, path, 1_234_567)
    rest = await patch(server.tus, token, path, 1_234_567, data[1_234_567:])
    assert rest.status_code == 204 and rest.headers["Upload-Offset"] == str(len(data))
    status = await server.client.get(
        f"/api/upload/status/{path.rsplit('/', 1)[1]}", headers=auth(token)
    )
    video_id = status.json()["upload"]["video_id"]
    stored = await video_source(server, video_id)
    assert hashlib.sha256(stored).digest() == hashlib.sha256(data).digest()


@pytest.mark.slow
async def test_reconnecting_client_evicts_a_hanging_patch(server: Server) -> None:
    token, _ = await server.register("alice")
    data = os.urandom(1_000_000)
    path = await create(server.tus, token, len(data))
    stale = await raw_patch_start(server.settings.http, token, path, 0, len(data), data[:400_000])
    await wait_until(lambda: stored_size(server.settings.data_dir, path) == 400_000)
    # The stale connection stays open and silent; the client comes back on a new one.
    with trio.fail_after(10):  # far below the 60 s body idle timeout
        response = await head(server.tus, token, path)
    assert response.status_code == 200
    assert response.headers["Upload-Offset"] == "400000"
    done = await patch(server.tus, token, path, 400_000, data[400_000:])
    assert done.status_code == 204 and done.headers["Upload-Offset"] == "1000000"
    # The evicted request was answered 423 (tus clients retry on it), on its own connection.
    with trio.fail_after(10):
        reply = await stale.receive_some(4096)
    assert reply.startswith(b"HTTP/1.1 423")
    await stale.aclose()


@pytest.mark.slow
@pytest.mark.settings(upload_expiry=1, keep_originals=True)
async def test_expired_upload_is_reaped_and_answers_410(server: Server) -> None:
    token, _ = await server.register("alice")
    path = await create(server.tus, token, 100)
    await patch(server.tus, token, path, 0, b"x" * 10)
    data_file = server.settings.data_dir / "uploads" / f"{path.rsplit('/', 1)[1]}.bin"
    assert data_file.exists()
    with trio.fail_after(10):
        while data_file.exists():  # noqa: ASYNC110 (a file vanishing has no event to wait on)
            await trio.sleep(0.1)
    gone = await head(server.tus, token, path)
    assert gone.status_code == 410
    late = await patch(server.tus, token, path, 10, b"y")
    assert late.status_code == 410 and late.json()["error"]["code"] == "upload_expired"
    status = await server.client.get(
        f"/api/upload/status/{path.rsplit('/', 1)[1]}", headers=auth(token)
    )
    assert status.json()["upload"]["state"] == "failed"
    assert "expired" in status.json()["upload"]["reason"]


@pytest.fixture
def small_upload_disk(settings: object, tmp_path: Path) -> Iterator[Path]:
    """Put DATA_DIR/uploads on a 4 MiB tmpfs."""
    with small_disk(tmp_path / "data" / "uploads", "4m") as uploads:
        yield uploads


@pytest.mark.slow
async def test_full_disk_is_a_clear_error_and_the_upload_resumes(
    small_upload_disk: Path, server: Server
) -> None:
    token, _ = await server.register("alice")
    # Far more than the server and the sockets buffer (two 1 MiB writes, up to
    # about 10 MiB of TCP buffers), so the disk fills while most of the body is unsent.
    data = os.urandom(32 * 1024 * 1024)
    path = await create(server.tus, token, len(data))
    status, body = await raw_patch(server, token, path, 0, data)
    assert status == 507
    assert json.loads(body)["error"]["code"] == "insufficient_storage"
    kept = int((await head(server.tus, token, path)).headers["Upload-Offset"])
    assert 0 < kept < len(data)
    stored = small_upload_disk / f"{path.rsplit('/', 1)[1]}.bin"
    assert stored.read_bytes() == data[:kept]
    await trio.run_process(["mount", "-o", "remount,size=40m", str(small_upload_disk)])
    rest = await patch(server.tus, token, path, kept, data[kept:])
    assert rest.status_code == 204 and rest.headers["Upload-Offset"] == str(len(data))


@pytest.mark.slow
async def test_tuspy_uploads_resumes_and_verifies_checksums(server: Server, tmp_path: Path) -> None:
    token, _ = await server.register("alice")
    data = os.urandom(3 * 1024 * 1024 + 17)
    source = tmp_path / "clip.bin"
    source.write_bytes(data)

    # tuspy leaks the file it opens from a path; hand it a stream we close.
    def first_half() -> str:
        client = tus_client.TusClient(server.url + TUS, headers=auth(token))
        with source.open("rb") as stream:
            uploader = client.uploader(
                file_stream=stream,
                chunk_size=512 * 1024,
                metadata={"filename": "clip.bin"},
                upload_checksum=True,
            )
            uploader.upload(stop_at=1024 * 1024)
        assert uploader.offset == 1024 * 1024
        return str(uploader.url)

    url = await trio.to_thread.run_sync(first_half)

    def resume() -> int:
        client = tus_client.TusClient(server.url + TUS, headers=auth(token))
        with source.open("rb") as stream:
            uploader = client.uploader(
                file_stream=stream, url=url, chunk_size=1024 * 1024, upload_checksum=True
            )
            assert uploader.offset == 1024 * 1024  # asked the server with HEAD
            uploader.upload()
        return int(uploader.offset)

    assert await trio.to_thread.run_sync(resume) == len(data)
    status = await server.client.get(
        f"/api/upload/status/{url.rsplit('/', 1)[1]}", headers=auth(token)
    )
    video_id = status.json()["upload"]["video_id"]
    assert await video_source(server, video_id) == data


# docs/uploads.md: "memory per upload stays under 4 MiB ... whatever the file size".
UPLOAD_MEMORY_BOUND_MIB = 4


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_memory_per_upload_stays_under_the_documented_bound(server: Server) -> None:
    """64 MiB in one PATCH: the Python heap's peak grows by less than the documented bound.

    tracemalloc counts every Python allocation of the process, the server's buffers
    included, and nothing else, so the bound can be the documented one. The client
    writes one 1 MiB buffer over and over on a raw socket: it allocates nothing per
    byte. (The 10 GiB figure is in the benchmark.)
    """
    token, _ = await server.register("alice")
    total = 64 * 1024 * 1024
    chunk = os.urandom(1024 * 1024)
    path = await create(server.tus, token, total)
    await patch(server.tus, token, path, 0, chunk)  # warm up every code path once
    stream = await raw_patch_start(
        server.settings.http, token, path, len(chunk), total - len(chunk), b""
    )
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        async with stream:
            with trio.fail_after(120):
                for _ in range(total // len(chunk) - 1):
                    await stream.send_all(chunk)
                reply = await stream.receive_some()
        growth_mib = (tracemalloc.get_traced_memory()[1] - before) / 2**20
    finally:
        tracemalloc.stop()
    assert reply.startswith(b"HTTP/1.1 204 "), reply
    assert growth_mib < UPLOAD_MEMORY_BOUND_MIB, f"{growth_mib:.1f} MiB for one 64 MiB upload"
