"""The S3 server taken away (SIGKILL) and brought back: transient errors, then success.

Every failure while it is gone must be :class:`StorageUnavailable` (retry
later), never a permanent :class:`StorageError` nor a short read passed off as
the whole object; once it is back, the same calls succeed and what was
acknowledged before is still there.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import trio

from tests.disks import bytes_on_disk
from tests.seaweedfs import SeaweedServer, create_bucket
from trioflix.storage import StorageUnavailable, open_object_store

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from trioflix.storage import ObjectReader, ObjectStore

pytestmark = pytest.mark.slow  # a real S3 server, stopped and restarted
MIB = 1024 * 1024
IN_FLIGHT_TIMEOUT_S = 30.0  # the upload reaches the server within a second or two
POLL_INTERVAL_S = 0.01


@pytest.fixture
async def s3_store(restart_seaweed: SeaweedServer, tmp_path: Path) -> AsyncIterator[ObjectStore]:
    config = restart_seaweed.config(await create_bucket(restart_seaweed), "site/")
    async with open_object_store(config, data_dir=tmp_path) as store:
        yield store


async def _wait_until(condition: Callable[[], bool]) -> None:
    """Poll ``condition`` (blocking: it reads the disk) in a thread until it holds."""
    # No event to wait on: the condition is the server's disk filling up.
    while True:
        if await trio.to_thread.run_sync(condition):
            return
        await trio.sleep(POLL_INTERVAL_S)


async def _drain(reader: ObjectReader, received: list[int]) -> None:
    while chunk := await reader.receive_some():
        received.append(len(chunk))


def _stored_bytes(root: Path) -> int:
    # SeaweedFS renames its temporary files as it goes.
    return bytes_on_disk(
        Path(dirpath) / name for dirpath, _dirs, files in os.walk(root) for name in files
    )


async def test_every_call_is_unavailable_while_down_and_works_after(
    s3_store: ObjectStore, restart_seaweed: SeaweedServer, tmp_path: Path
) -> None:
    await s3_store.put_bytes("videos/v1/master.m3u8", b"#EXTM3U\n")
    await trio.to_thread.run_sync(lambda: restart_seaweed.stop(kill=True))
    part_file = tmp_path / "part"
    part_file.write_bytes(b"x" * 1000)
    calls: list[Callable[[], Awaitable[object]]] = [
        partial(s3_store.put_bytes, "videos/v1/seg.ts", b"ts"),
        partial(s3_store.head, "videos/v1/master.m3u8"),
        partial(s3_store.read_bytes, "videos/v1/master.m3u8"),
        partial(s3_store.list_prefix, "videos/"),
        partial(s3_store.delete_prefix, "videos/v1/"),
        partial(s3_store.create_multipart, "uploads/u1"),
        partial(s3_store.upload_part, "uploads/u1", "some-id", 1, part_file),
    ]
    for call in calls:
        with pytest.raises(StorageUnavailable, match="unreachable"):
            await call()

    await trio.to_thread.run_sync(restart_seaweed.start)
    assert await s3_store.read_bytes("videos/v1/master.m3u8") == b"#EXTM3U\n"
    await s3_store.put_bytes("videos/v1/seg.ts", b"ts")
    assert [info.key for info in await s3_store.list_prefix("videos/")] == [
        "videos/v1/master.m3u8",
        "videos/v1/seg.ts",
    ]


async def test_part_upload_cut_mid_transfer_then_resent(
    s3_store: ObjectStore, restart_seaweed: SeaweedServer, tmp_path: Path
) -> None:
    part = tmp_path / "part"
    with part.open("wb") as out:  # sparse: reading it costs no disk time
        out.truncate(256 * MIB)
    upload_id = await s3_store.create_multipart("uploads/u1/original")
    before = await trio.to_thread.run_sync(_stored_bytes, restart_seaweed.workdir)
    outcome: list[BaseException | None] = []

    async def upload() -> None:
        try:
            await s3_store.upload_part("uploads/u1/original", upload_id, 1, part)
        except StorageUnavailable as exc:
            outcome.append(exc)
        else:
            outcome.append(None)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(upload)
        # Kill the server once it has stored some of the part: the request is in flight.
        with trio.fail_after(IN_FLIGHT_TIMEOUT_S):
            await _wait_until(
                lambda: bool(outcome) or _stored_bytes(restart_seaweed.workdir) >= before + 8 * MIB
            )
        await trio.to_thread.run_sync(lambda: restart_seaweed.stop(kill=True))
    assert outcome and isinstance(outcome[0], StorageUnavailable), (
        "the part upload should have been cut by the kill"
    )

    await trio.to_thread.run_sync(restart_seaweed.start)
    sent = await s3_store.upload_part("uploads/u1/original", upload_id, 1, part)
    assert [p.number for p in await s3_store.list_parts("uploads/u1/original", upload_id)] == [1]
    info = await s3_store.complete_multipart("uploads/u1/original", upload_id, [sent])
    assert info.size == 256 * MIB


async def test_read_cut_mid_stream_is_unavailable_not_short(
    s3_store: ObjectStore, restart_seaweed: SeaweedServer, tmp_path: Path
) -> None:
    data = os.urandom(64 * MIB)
    source = tmp_path / "video.mp4"
    source.write_bytes(data)
    await s3_store.put_file("videos/v1/original.mp4", source, content_type="video/mp4")
    reader = await s3_store.open_read("videos/v1/original.mp4")
    received = [len(await reader.receive_some())]
    async with reader:
        await trio.to_thread.run_sync(lambda: restart_seaweed.stop(kill=True))
        with pytest.raises(StorageUnavailable, match=r"original\.mp4"):
            await _drain(reader, received)
    assert 0 < sum(received) < len(data)

    await trio.to_thread.run_sync(restart_seaweed.start)
    assert await s3_store.read_bytes("videos/v1/original.mp4") == data
