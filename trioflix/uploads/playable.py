"""The check that a finished upload is a video we can play, made before any job is queued.

A text file, a picture or a song uploaded by mistake is refused at once with
a sentence its uploader understands, rather than queued for a job that fails
a minute later with a decoder's words. The check reads the upload where it
now lives, the object ``uploads/ID/data`` in the store (local disk or S3),
through :class:`StoredFile`: the decoder, in a worker thread, asks for bytes
and each block it needs is read from the store on the Trio thread. Opening a
file and decoding its first picture reads its headers and first packets, a few
blocks (and, for an MP4 whose index is at the end, a block there), never the
whole file.
"""

from __future__ import annotations

import importlib
from collections import OrderedDict
from functools import partial
from typing import TYPE_CHECKING

import trio

from trioflix.storage import SeekableReader

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

    from trioflix.storage import ObjectStore

__all__ = ["StoredFile", "refusal"]

BLOCK_BYTES = 1024 * 1024  # one ranged read: a few per check, each one request on S3
CACHED_BLOCKS = 4  # the decoder seeks back a little (headers, then packets); 4 MiB at most
#: Checks at once: each decodes one picture, a moment of one core.
CHECK_LIMITER = trio.CapacityLimiter(2)


class StoredFile(SeekableReader):
    """An object in the store as a blocking, seekable, read-only file, for a worker thread.

    Reads go to the store in blocks of :data:`BLOCK_BYTES`, each one done on the
    Trio thread (``trio.from_thread.run``); the last :data:`CACHED_BLOCKS` are
    kept. Use it only from a thread started by ``trio.to_thread.run_sync``.
    """

    def __init__(self, objects: ObjectStore, key: str, size: int) -> None:
        super().__init__(size)
        self._objects = objects
        self._key = key
        self._blocks: OrderedDict[int, bytes] = OrderedDict()

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        if self.position >= self.size:
            return 0
        index, start = divmod(self.position, BLOCK_BYTES)
        block = self._block(index)
        view = memoryview(buffer).cast("B")
        count = min(len(view), len(block) - start)
        view[:count] = block[start : start + count]
        self.position += count
        return count

    def _block(self, index: int) -> bytes:
        block = self._blocks.get(index)
        if block is None:
            offset = index * BLOCK_BYTES
            read = partial(
                self._objects.read_bytes,
                self._key,
                offset=offset,
                length=min(BLOCK_BYTES, self.size - offset),
            )
            block = trio.from_thread.run(read)
            self._blocks[index] = block
            if len(self._blocks) > CACHED_BLOCKS:
                self._blocks.popitem(last=False)
        else:
            self._blocks.move_to_end(index)
        return block


async def refusal(objects: ObjectStore, key: str) -> str | None:
    """Why the stored upload ``key`` is not a video we can play, for its uploader.

    Returns:
        A sentence such as "This file is not a video we can play (no video
        stream found).", or None when it has a video stream whose first
        picture decodes.

    Raises:
        StorageUnavailable: The store cannot be reached; check again later.
        ObjectNotFound: ``key`` is not stored.
    """
    # PyAV loads with the first check, in a worker thread: a host that takes no
    # uploads never holds its memory, and the import never stalls the Trio thread.
    probe = await trio.to_thread.run_sync(importlib.import_module, "trioflix.media.probe")
    info = await objects.head(key)
    source = StoredFile(objects, key, info.size)
    try:
        await trio.to_thread.run_sync(probe.check_video, source, limiter=CHECK_LIMITER)
    except probe.NotPlayable as exc:
        return f"This file is not a video we can play ({exc})."
    return None
