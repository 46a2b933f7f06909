"""A video's files in the object store: their headers, the order they are written in, retries.

The processing job reads its source from the store into a local file
(:func:`fetch_source`) and publishes the pipeline's output directory under the
video's prefix (:func:`publish_outputs`). Both ride out an unreachable store:
:func:`trioflix.storage.retry_unavailable` waits and tries again with backoff
for as long as it takes, so a storage outage delays a job but never fails it;
the job's lease keeper keeps the job this worker's meanwhile.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, TypeVar

import trio

from trioflix.storage import retry_unavailable

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path

    from trioflix.storage import ObjectStore

__all__ = [
    "CONTENT_TYPES",
    "IMMUTABLE",
    "PLAYLIST_CACHE",
    "cache_control",
    "fetch_source",
    "publish_outputs",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

CONTENT_TYPES = {
    "m3u8": "application/vnd.apple.mpegurl",
    "ts": "video/mp2t",
    "jpg": "image/jpeg",
    "vtt": "text/vtt",
}
#: Segments, images and the sprite never change under their key: cache them for good.
IMMUTABLE = "public, max-age=31536000, immutable"
#: Playlists: short, so that a CDN never holds one much longer than the video exists.
PLAYLIST_CACHE = "public, max-age=60"
MASTER_PLAYLIST = "master.m3u8"
PUT_CONCURRENCY = 4  # objects written at once: S3 latency overlaps, memory stays a few buffers
WRITE_CHUNK_BYTES = 1024 * 1024


def cache_control(name: str) -> str:
    return PLAYLIST_CACHE if name.endswith(".m3u8") else IMMUTABLE


async def fetch_source(store: ObjectStore, keys: Sequence[str], path: Path) -> int:
    """Write the objects ``keys``, in order, into the file ``path`` as one byte stream.

    Streamed in chunks of at most :data:`WRITE_CHUNK_BYTES`; a read cut off by an
    outage resumes at the byte it stopped at.

    Returns:
        The file's length.

    Raises:
        ObjectNotFound: A key has no object.
    """
    fd = await trio.to_thread.run_sync(
        lambda: os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    )
    total = 0
    try:
        for key in keys:
            read = _Read(store, key, fd)
            await retry_unavailable(read.rest, f"reading {key}")
            total += read.done
    finally:
        os.close(fd)
    return total


class _Read:
    """One object appended to a file; :meth:`rest` continues where an outage cut it off."""

    def __init__(self, store: ObjectStore, key: str, fd: int) -> None:
        self._store = store
        self._key = key
        self._fd = fd
        self.done = 0

    async def rest(self) -> None:
        if self.done and self.done >= (await self._store.head(self._key)).size:
            return
        reader = await self._store.open_read(self._key, offset=self.done)
        async with reader:
            while chunk := await reader.receive_some(WRITE_CHUNK_BYTES):
                await trio.to_thread.run_sync(_write_all, self._fd, chunk)
                self.done += len(chunk)


def _write_all(fd: int, data: bytes | bytearray) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _publishing_order(directory: Path) -> list[list[Path]]:
    """The output files in the order a CDN needs: what playlists list, then the
    rendition playlists, then the master playlist that lists them."""
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    master = [p for p in files if p.relative_to(directory).as_posix() == MASTER_PLAYLIST]
    playlists = [p for p in files if p.suffix == ".m3u8" and p not in master]
    media = [p for p in files if p.suffix != ".m3u8"]
    return [media, playlists, master]


async def publish_outputs(store: ObjectStore, directory: Path, prefix: str) -> int:
    """Put every file of ``directory`` under ``prefix``, each with its type and caching.

    Segments and images first, then the rendition playlists, the master playlist
    last: a playlist is never in the store before what it lists. Up to
    :data:`PUT_CONCURRENCY` files at once within a group; each waits out outages.

    Returns:
        How many objects were written.
    """
    groups = await trio.to_thread.run_sync(_publishing_order, directory)

    async def put(path: Path) -> None:
        name = path.relative_to(directory).as_posix()
        key = prefix + name
        await retry_unavailable(
            lambda: store.put_file(
                key,
                path,
                content_type=CONTENT_TYPES.get(path.suffix[1:], "application/octet-stream"),
                cache_control=cache_control(name),
            ),
            f"storing {key}",
        )

    async def put_some(pending: Iterator[Path]) -> None:
        for path in pending:  # shared by the tasks: each file goes to one of them
            await put(path)

    for group in groups:
        pending = iter(group)
        async with trio.open_nursery() as nursery:
            for _ in range(PUT_CONCURRENCY):
                nursery.start_soon(put_some, pending)
    return sum(map(len, groups))
