"""Whole objects on both backends: write, read (whole and ranges), head, list, delete."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import httpx
import pytest
import trio

from trioflix.storage import (
    DEFAULT_CONTENT_TYPE,
    InvalidRange,
    LocalObjectStore,
    LocalStorageConfig,
    ObjectNotFound,
    ObjectStore,
    open_object_store,
)

pytestmark = pytest.mark.slow  # real files and, for half the runs, a real S3 server
SEGMENT = "public, max-age=31536000, immutable"


async def test_bytes_round_trip_with_headers(store: ObjectStore) -> None:
    info = await store.put_bytes(
        "videos/v1/720p/seg-00001.ts", b"segment", content_type="video/mp2t", cache_control=SEGMENT
    )
    assert (info.key, info.size) == ("videos/v1/720p/seg-00001.ts", 7)
    assert await store.read_bytes("videos/v1/720p/seg-00001.ts") == b"segment"
    head = await store.head("videos/v1/720p/seg-00001.ts")
    assert (head.size, head.content_type, head.cache_control) == (7, "video/mp2t", SEGMENT)
    assert head.etag == info.etag


async def test_defaults_and_overwrite(store: ObjectStore) -> None:
    first = await store.put_bytes(
        "a/b", b"one", content_type="text/plain", cache_control="no-cache"
    )
    second = await store.put_bytes("a/b", b"second")
    assert second.etag != first.etag
    head = await store.head("a/b")
    assert (head.size, head.content_type, head.cache_control) == (6, DEFAULT_CONTENT_TYPE, None)
    assert await store.read_bytes("a/b") == b"second"


async def test_of_writers_racing_for_a_new_key_one_wins(store: ObjectStore) -> None:
    """``put_bytes_if_absent``: the first writer's bytes stay, every later one is told."""
    won: list[bytes] = []

    async def race(data: bytes) -> None:
        if await store.put_bytes_if_absent("cluster/storage-id", data):
            won.append(data)

    async with trio.open_nursery() as nursery:
        for index in range(8):
            nursery.start_soon(race, b"writer-%d" % index)
    assert len(won) == 1
    assert await store.read_bytes("cluster/storage-id") == won[0]
    assert not await store.put_bytes_if_absent("cluster/storage-id", b"late")
    assert await store.read_bytes("cluster/storage-id") == won[0]
    assert [info.key for info in await store.list_prefix("")] == ["cluster/storage-id"]


async def test_file_round_trip_streams_in_chunks(store: ObjectStore, tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    source = tmp_path / "poster.jpg"
    source.write_bytes(data)
    info = await store.put_file("videos/v1/poster.jpg", source, content_type="image/jpeg")
    assert info.size == len(data)
    reader = await store.open_read("videos/v1/poster.jpg")
    chunks = []
    async with reader:
        assert (reader.info.size, reader.info.content_type) == (len(data), "image/jpeg")
        while chunk := await reader.receive_some(64 * 1024):
            chunks.append(chunk)
    assert b"".join(chunks) == data
    assert max(map(len, chunks)) <= 64 * 1024
    with pytest.raises(trio.ClosedResourceError):
        await reader.receive_some()


async def test_empty_object(store: ObjectStore) -> None:
    await store.put_bytes("empty", b"")
    assert await store.read_bytes("empty") == b""
    assert (await store.head("empty")).size == 0


@pytest.mark.parametrize(
    ("offset", "length", "expected"),
    [(0, 4, b"0123"), (6, None, b"6789"), (3, 3, b"345"), (9, 1, b"9"), (8, 100, b"89")],
)
async def test_ranges(store: ObjectStore, offset: int, length: int | None, expected: bytes) -> None:
    await store.put_bytes("r", b"0123456789", content_type="video/mp4")
    reader = await store.open_read("r", offset=offset, length=length)
    async with reader:
        assert (reader.offset, reader.length, reader.info.size) == (offset, len(expected), 10)
        assert reader.info.content_type == "video/mp4"
    assert await store.read_bytes("r", offset=offset, length=length) == expected


async def test_range_past_the_end_is_refused(store: ObjectStore) -> None:
    await store.put_bytes("r", b"0123456789")
    with pytest.raises(InvalidRange):
        await store.open_read("r", offset=10)
    with pytest.raises(ValueError, match="bad range"):
        await store.open_read("r", offset=2, length=0)


async def test_missing_object(store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFound):
        await store.head("nothing/here")
    with pytest.raises(ObjectNotFound):
        await store.open_read("nothing/here")
    await store.delete("nothing/here")  # deleting what is not there is not an error


@pytest.mark.parametrize("key", ["", "/abs", "a//b", "a/../b", "./a", "a/", "a\nb"])
async def test_bad_keys_are_refused_before_io(store: ObjectStore, key: str) -> None:
    with pytest.raises(ValueError, match="unusable object key"):
        await store.put_bytes(key, b"x")


async def test_list_and_delete_prefix(store: ObjectStore) -> None:
    keys = [
        "videos/v1/master.m3u8",
        "videos/v1/720p/index.m3u8",
        "videos/v1/720p/seg-00001.ts",
        "videos/v10/master.m3u8",
        "videos/v2/master.m3u8",
    ]
    for key in keys:
        await store.put_bytes(key, key.encode())
    listed = await store.list_prefix("videos/v1/")
    assert [info.key for info in listed] == sorted(keys[:3])
    assert [info.size for info in listed] == [len(key) for key in sorted(keys[:3])]
    # A prefix is a string prefix, not a directory: "videos/v1" also matches v10.
    assert len(await store.list_prefix("videos/v1")) == 4

    assert await store.delete_prefix("videos/v1/") == 3
    assert [info.key for info in await store.list_prefix("")] == [keys[3], keys[4]]
    with pytest.raises(ObjectNotFound):
        await store.head("videos/v1/master.m3u8")
    with pytest.raises(ValueError, match="prefix is empty"):
        await store.delete_prefix("")


async def test_delete_one(store: ObjectStore) -> None:
    await store.put_bytes("thumbs/v1/0001.jpg", b"jpg")
    await store.delete("thumbs/v1/0001.jpg")
    assert await store.list_prefix("thumbs/") == []


async def test_presigned_get(store: ObjectStore) -> None:
    await store.put_bytes("videos/v1/poster.jpg", b"\xff\xd8jpeg", content_type="image/jpeg")
    url = await store.presign_get("videos/v1/poster.jpg", expires_s=60)
    if store.location.startswith("file:"):
        assert url is None  # served through the host
        return
    assert url is not None
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
        assert response.status_code == 200
        assert response.content == b"\xff\xd8jpeg"
        assert response.headers["content-type"] == "image/jpeg"
        # The signature covers the key: another key with the same query is refused.
        other = url.replace("poster.jpg", "other.jpg")
        assert (await client.get(other)).status_code == 403


async def test_move_file_stores_and_removes_it(store: ObjectStore, tmp_path: Path) -> None:
    data = os.urandom(2 * 1024 * 1024 + 5)
    source = tmp_path / "upload.bin"
    source.write_bytes(data)
    inode = os.stat(source).st_ino
    info = await store.move_file("uploads/u1/data", source, content_type="video/mp4")
    assert not source.exists()
    assert info.size == len(data)
    assert await store.read_bytes("uploads/u1/data") == data
    assert (await store.head("uploads/u1/data")).content_type == "video/mp4"
    if isinstance(store, LocalObjectStore):  # a rename: the same file, no byte copied
        assert os.stat(store.root / "objects" / "uploads/u1/data").st_ino == inode


async def test_move_file_across_file_systems(tmp_path: Path) -> None:
    shm = Path("/dev/shm")
    assert os.stat(shm).st_dev != os.stat(tmp_path).st_dev, "needs /dev/shm on its own disk"
    source = shm / f"trioflix-test-{os.getpid()}-{secrets.token_hex(4)}"
    source.write_bytes(b"bytes from another disk")
    try:
        async with open_object_store(
            LocalStorageConfig(root=tmp_path / "objects"), data_dir=tmp_path
        ) as store:
            await store.move_file("uploads/u2/data", source)
            assert not source.exists()
            assert await store.read_bytes("uploads/u2/data") == b"bytes from another disk"
    finally:
        source.unlink(missing_ok=True)
