"""Multipart uploads on both backends: parts from files and from memory, a small last part,
copy, abort, restart."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest
import trio

from trioflix.storage import (
    MIN_PART_SIZE,
    InvalidPart,
    ObjectNotFound,
    ObjectStore,
    Part,
    S3StorageConfig,
    StorageConfig,
    UploadNotFound,
    open_object_store,
)

if TYPE_CHECKING:
    from pathlib import Path

    from tests.seaweedfs import SeaweedServer

pytestmark = pytest.mark.slow  # real files and, for half the runs, a real S3 server
KEY = "uploads/u1/original"


@pytest.fixture
def source(tmp_path: Path) -> tuple[Path, bytes]:
    """A file of two full parts and a 1 KiB tail, like a tus upload's spool file."""
    data = os.urandom(2 * MIN_PART_SIZE + 1024)
    path = tmp_path / "spool.bin"
    path.write_bytes(data)
    return path, data


async def _send_all(store: ObjectStore, upload_id: str, path: Path, size: int) -> list[Part]:
    return [
        await store.upload_part(
            KEY, upload_id, number, path, offset=offset, length=min(MIN_PART_SIZE, size - offset)
        )
        for number, offset in enumerate(range(0, size, MIN_PART_SIZE), start=1)
    ]


async def test_parts_from_file_ranges_with_small_last_part(
    store: ObjectStore, source: tuple[Path, bytes]
) -> None:
    path, data = source
    upload_id = await store.create_multipart(
        KEY, content_type="video/mp4", cache_control="private, no-store"
    )
    parts = await _send_all(store, upload_id, path, len(data))
    assert [part.size for part in parts] == [MIN_PART_SIZE, MIN_PART_SIZE, 1024]
    listed = await store.list_parts(KEY, upload_id)
    assert [(p.number, p.size) for p in listed] == [
        (1, MIN_PART_SIZE),
        (2, MIN_PART_SIZE),
        (3, 1024),
    ]
    assert [p.etag.strip('"') for p in listed] == [p.etag.strip('"') for p in parts]
    with pytest.raises(ObjectNotFound):
        await store.head(KEY)  # nothing is visible before completion

    info = await store.complete_multipart(KEY, upload_id, parts)
    assert info.size == len(data)
    assert (info.content_type, info.cache_control) == ("video/mp4", "private, no-store")
    assert await store.read_bytes(KEY) == data
    assert (
        await store.read_bytes(KEY, offset=MIN_PART_SIZE - 10, length=20)
        == data[MIN_PART_SIZE - 10 : MIN_PART_SIZE + 10]
    )
    with pytest.raises(UploadNotFound):
        await store.list_parts(KEY, upload_id)


async def test_parts_from_memory_join_parts_from_files(
    store: ObjectStore, source: tuple[Path, bytes]
) -> None:
    """tus uploads on S3 send a part from the buffer it filled: a view of part of a
    bytearray goes as it is, and the object is the parts in order whatever they came from."""
    path, data = source
    buffer = bytearray(MIN_PART_SIZE + 100)  # larger than the part: only the view is sent
    buffer[:MIN_PART_SIZE] = data[MIN_PART_SIZE : 2 * MIN_PART_SIZE]
    upload_id = await store.create_multipart(KEY)
    parts = [
        await store.upload_part(KEY, upload_id, 1, path, length=MIN_PART_SIZE),
        await store.upload_part_bytes(KEY, upload_id, 2, memoryview(buffer)[:MIN_PART_SIZE]),
        await store.upload_part_bytes(KEY, upload_id, 3, data[2 * MIN_PART_SIZE :]),
    ]
    assert [part.size for part in parts] == [MIN_PART_SIZE, MIN_PART_SIZE, 1024]
    listed = await store.list_parts(KEY, upload_id)
    assert [(p.number, p.size) for p in listed] == [(p.number, p.size) for p in parts]
    info = await store.complete_multipart(KEY, upload_id, parts)
    assert info.size == len(data)
    assert await store.read_bytes(KEY) == data
    with pytest.raises(UploadNotFound):
        await store.upload_part_bytes(KEY, upload_id, 4, b"late")
    with pytest.raises(ValueError, match="part number"):
        await store.upload_part_bytes(KEY, upload_id, 0, b"x")


async def test_put_bytes_takes_a_view_of_a_buffer(store: ObjectStore) -> None:
    """The durable tail of a tus upload is the first bytes of its part buffer, stored
    without a copy: exactly the view's bytes, not the buffer's."""
    buffer = bytearray(os.urandom(3000))
    info = await store.put_bytes("uploads/u1/tail", memoryview(buffer)[:1000])
    assert info.size == 1000
    assert await store.read_bytes("uploads/u1/tail") == bytes(buffer[:1000])
    assert (await store.head("uploads/u1/tail")).size == 1000


async def test_completion_takes_the_part_sent_last(store: ObjectStore, tmp_path: Path) -> None:
    """A part number sent twice: completing with the second ETag gives the second bytes.

    (What ``list_parts`` shows then differs: SeaweedFS 4.48 lists both sends.)
    """
    first, second = tmp_path / "first", tmp_path / "second"
    first.write_bytes(b"a" * 100)
    second.write_bytes(b"b" * 200)
    upload_id = await store.create_multipart(KEY)
    await store.upload_part(KEY, upload_id, 1, first)
    part = await store.upload_part(KEY, upload_id, 1, second)
    assert part.size == 200
    await store.complete_multipart(KEY, upload_id, [part])
    assert await store.read_bytes(KEY) == b"b" * 200


async def test_small_part_before_the_last_is_refused(store: ObjectStore, tmp_path: Path) -> None:
    small = tmp_path / "small"
    small.write_bytes(b"x" * 1000)
    upload_id = await store.create_multipart(KEY)
    parts = [await store.upload_part(KEY, upload_id, n, small) for n in (1, 2)]
    with pytest.raises(InvalidPart):
        await store.complete_multipart(KEY, upload_id, parts)
    with pytest.raises(InvalidPart):  # a part quoted with another's ETag
        await store.complete_multipart(KEY, upload_id, [Part(number=1, etag="bogus", size=1000)])
    await store.abort_multipart(KEY, upload_id)


async def test_abort_drops_the_upload(store: ObjectStore, source: tuple[Path, bytes]) -> None:
    path, _ = source
    upload_id = await store.create_multipart(KEY)
    await store.upload_part(KEY, upload_id, 1, path, length=MIN_PART_SIZE)
    await store.abort_multipart(KEY, upload_id)
    with pytest.raises(UploadNotFound):
        await store.list_parts(KEY, upload_id)
    with pytest.raises(UploadNotFound):
        await store.upload_part(KEY, upload_id, 2, path, length=10)
    with pytest.raises(UploadNotFound):
        await store.abort_multipart(KEY, upload_id)
    with pytest.raises(ObjectNotFound):
        await store.head(KEY)


async def test_server_side_copy_concatenates_objects(store: ObjectStore) -> None:
    """tus concatenation: finished partial uploads become parts of the final one, no download."""
    first, second = os.urandom(MIN_PART_SIZE), os.urandom(5000)
    await store.put_bytes("uploads/p1/original", first)
    await store.put_bytes("uploads/p2/original", second)
    upload_id = await store.create_multipart("uploads/final/original", content_type="video/mp4")
    parts = [
        await store.upload_part_copy("uploads/final/original", upload_id, 1, "uploads/p1/original"),
        await store.upload_part_copy("uploads/final/original", upload_id, 2, "uploads/p2/original"),
    ]
    assert [part.size for part in parts] == [MIN_PART_SIZE, 5000]
    info = await store.complete_multipart("uploads/final/original", upload_id, parts)
    assert (info.size, info.content_type) == (MIN_PART_SIZE + 5000, "video/mp4")
    assert await store.read_bytes("uploads/final/original") == first + second
    with pytest.raises(ObjectNotFound):
        await store.upload_part_copy("uploads/final/original", upload_id, 3, "uploads/nope")


SMALL_LIMIT = 2 * MIN_PART_SIZE  # what tests set max_single_bytes to: S3's 5 GiB, scaled down


async def test_an_object_over_the_limit_is_copied_as_several_parts(store: ObjectStore) -> None:
    """tus concatenation of a partial over 5 GiB (here over the scaled-down limit): its
    object becomes several near-equal copied parts, each a part S3 takes before another."""
    store.max_single_bytes = SMALL_LIMIT
    big, small = os.urandom(2 * SMALL_LIMIT + 3), os.urandom(1000)
    await store.put_bytes("uploads/p1/data", big)
    await store.put_bytes("uploads/p2/data", small)
    final = "uploads/final/data"
    upload_id = await store.create_multipart(final)
    parts = await store.copy_parts(final, upload_id, 1, "uploads/p1/data")
    assert [part.number for part in parts] == [1, 2, 3]
    assert all(MIN_PART_SIZE <= part.size <= SMALL_LIMIT for part in parts)
    assert sum(part.size for part in parts) == len(big)
    parts += await store.copy_parts(final, upload_id, 4, "uploads/p2/data")
    assert [part.size for part in parts[3:]] == [1000]  # under the limit: one part
    info = await store.complete_multipart(final, upload_id, parts)
    assert info.size == len(big) + len(small)
    assert await store.read_bytes(final) == big + small


async def test_a_part_copied_from_a_range(store: ObjectStore) -> None:
    data = os.urandom(MIN_PART_SIZE + 100)
    await store.put_bytes("uploads/p1/data", data)
    upload_id = await store.create_multipart(KEY)
    parts = [
        await store.upload_part_copy(KEY, upload_id, 1, "uploads/p1/data", length=MIN_PART_SIZE),
        await store.upload_part_copy(KEY, upload_id, 2, "uploads/p1/data", offset=MIN_PART_SIZE),
    ]
    assert [part.size for part in parts] == [MIN_PART_SIZE, 100]
    await store.complete_multipart(KEY, upload_id, parts)
    assert await store.read_bytes(KEY) == data


async def test_a_file_over_the_limit_is_stored_whole(store: ObjectStore, tmp_path: Path) -> None:
    """``TRIOFLIX_KEEP_ORIGINALS`` with a source over 5 GiB (the limit scaled down): on
    S3 a multipart upload of even parts (its ETag says how many), on disk one file."""
    store.max_single_bytes = SMALL_LIMIT
    data = os.urandom(SMALL_LIMIT + 7)
    path = tmp_path / "source"
    path.write_bytes(data)
    info = await store.put_file(KEY, path, content_type="video/mp4", cache_control="immutable")
    assert info.size == len(data)
    stored = await store.head(KEY)
    assert (stored.size, stored.content_type, stored.cache_control) == (
        len(data),
        "video/mp4",
        "immutable",
    )
    if store.location.startswith("s3://"):
        assert stored.etag.strip('"').endswith("-2")  # S3's ETag of a two-part upload
    assert await store.read_bytes(KEY) == data


@pytest.mark.parametrize("bad", [0, 10_001])
async def test_part_numbers_are_checked(store: ObjectStore, tmp_path: Path, bad: int) -> None:
    (tmp_path / "f").write_bytes(b"x")
    upload_id = await store.create_multipart(KEY)
    with pytest.raises(ValueError, match="part number"):
        await store.upload_part(KEY, upload_id, bad, tmp_path / "f")


async def test_parts_survive_a_restart(
    storage_config: StorageConfig,
    tmp_path: Path,
    source: tuple[Path, bytes],
    request: pytest.FixtureRequest,
) -> None:
    """Another store (another process, after a restart of the S3 server) lists and completes."""
    path, data = source
    async with open_object_store(storage_config, data_dir=tmp_path) as store:
        upload_id = await store.create_multipart(KEY)
        sent = await _send_all(store, upload_id, path, len(data))
    if isinstance(storage_config, S3StorageConfig):
        seaweed: SeaweedServer = request.getfixturevalue("restart_seaweed")
        await trio.to_thread.run_sync(seaweed.stop)
        await trio.to_thread.run_sync(seaweed.start)
    async with open_object_store(storage_config, data_dir=tmp_path) as store:
        listed = await store.list_parts(KEY, upload_id)
        assert [(p.number, p.size) for p in listed] == [(p.number, p.size) for p in sent]
        await store.complete_multipart(KEY, upload_id, listed)
        assert await store.read_bytes(KEY) == data
