"""An upload on object storage begun on one host and finished on another.

Two served instances (as ``trioflix serve`` runs them) share one PostgreSQL
database and one bucket of the session's SeaweedFS, and nothing else: each has
its own data directory, its own spools and its own in-process locks.
"""

from __future__ import annotations

import hashlib
import os
from typing import TYPE_CHECKING

import pytest
import trio
from tusclient import client as tus_client

from tests.conftest import open_server
from tests.waiting import wait_until

from .helpers import TUS, auth, finished_bytes, head, patch, raw_patch_start, upload_id

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from tests.conftest import Server
    from trioflix.config import Settings

MIB = 1024 * 1024

pytestmark = [
    pytest.mark.slow,
    pytest.mark.usefixtures("media_storage"),
    pytest.mark.parametrize("media_storage", ["s3"], indirect=True),
    pytest.mark.backends("postgresql", reason="hosts share a database: PostgreSQL"),
    pytest.mark.settings(upload_part_size=5 * MIB),
]


@pytest.fixture
async def hosts(
    settings: Settings, nursery: trio.Nursery, tmp_path: Path
) -> AsyncIterator[tuple[Server, Server]]:
    """Hosts B and C: the same database and bucket, data directories of their own."""
    async with (
        open_server(settings.replace(data_dir=tmp_path / "host-b"), nursery) as b,
        open_server(settings.replace(data_dir=tmp_path / "host-c"), nursery) as c,
    ):
        yield b, c


async def test_tuspy_uploads_half_on_one_host_and_finishes_on_another(
    hosts: tuple[Server, Server], tmp_path: Path
) -> None:
    b, c = hosts
    token, _ = await b.register("alice")
    data = os.urandom(13 * MIB + 12345)  # two whole parts and a tail, split mid-part
    source = tmp_path / "clip.bin"
    source.write_bytes(data)
    half = 7 * MIB

    def first_half() -> str:
        client = tus_client.TusClient(b.url + TUS, headers=auth(token))
        with source.open("rb") as stream:
            uploader = client.uploader(
                file_stream=stream, chunk_size=2 * MIB, metadata={"filename": "clip.bin"}
            )
            uploader.upload(stop_at=half)
        assert uploader.offset == half
        return str(uploader.url)

    url_on_b = await trio.to_thread.run_sync(first_half)
    path = url_on_b.removeprefix(b.url)

    def finish_on_c() -> int:
        client = tus_client.TusClient(c.url + TUS, headers=auth(token))
        with source.open("rb") as stream:
            uploader = client.uploader(file_stream=stream, url=c.url + path, chunk_size=2 * MIB)
            assert uploader.offset == half  # host C's HEAD: the bytes host B stored
            uploader.upload()
        return int(uploader.offset)

    assert await trio.to_thread.run_sync(finish_on_c) == len(data)
    stored = await finished_bytes(c, token, path)
    assert hashlib.sha256(stored).digest() == hashlib.sha256(data).digest()
    status = await b.client.get(f"/api/upload/status/{upload_id(path)}", headers=auth(token))
    assert status.json()["upload"]["video_id"] is not None  # the video and its job exist


async def test_a_request_on_another_host_evicts_a_hanging_patch(
    hosts: tuple[Server, Server],
) -> None:
    b, c = hosts
    token, _ = await b.register("alice")
    data = os.urandom(8 * MIB)
    response = await b.tus.post(
        TUS, headers={"Tus-Resumable": "1.0.0", **auth(token), "Upload-Length": str(len(data))}
    )
    path = response.headers["Location"]
    # A PATCH on host B sends 6 MiB (a part and more) and then hangs, silent.
    stale = await raw_patch_start(b.settings.http, token, path, 0, len(data), data[: 6 * MIB])
    locks = b.app.trioflix.uploads.locks

    def taken() -> bool:  # the part went to the store, the MiB after it is in memory
        holder = locks.holder(upload_id(path))
        return holder is not None and holder.received == 6 * MIB

    await wait_until(taken)
    # The client comes back on host C: host B's request is evicted and stores
    # what it had, well before its 60 s body timeout.
    with trio.fail_after(15):
        state = await head(c.tus, token, path)
    assert state.status_code == 200 and state.headers["Upload-Offset"] == str(6 * MIB)
    done = await patch(c.tus, token, path, 6 * MIB, data[6 * MIB :])
    assert done.status_code == 204 and done.headers["Upload-Offset"] == str(len(data))
    with trio.fail_after(10):
        reply = await stale.receive_some(4096)
    assert reply.startswith(b"HTTP/1.1 423")  # on its own connection, as on one host
    await stale.aclose()
    assert await finished_bytes(c, token, path) == data
