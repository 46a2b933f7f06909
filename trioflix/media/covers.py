"""Scheduled streams' cover images in the media store, as every other image is.

One object per entry, ``schedule/ID/cover``, with its ``Content-Type`` and a
day's ``Cache-Control`` (its URL carries the entry's revision, which every new
cover raises). The row's ``cover_type`` says that the object is there
(:mod:`trioflix.store.schedule`); the object is written before the row names it
and deleted before the row forgets it (or goes), so a row never names a cover a
failed write did not store, and a delete that meets a storage outage (503) can
simply be repeated.

Covers of an installation from before the store were kept in the database:
:func:`adopt_database_covers` moves them at start.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

from trioflix.store import schedule

if TYPE_CHECKING:
    from trioflix.storage import ObjectStore
    from trioflix.store import Database

__all__ = [
    "COVER_CACHE",
    "PURGE_BATCH",
    "adopt_database_covers",
    "cover_key",
    "delete_cover",
    "purge_covers",
    "store_cover",
]

logger = logging.getLogger(__name__)

COVER_CACHE: Final = "public, max-age=86400"  # its URL carries the entry's revision
PURGE_BATCH: Final = 100  # covers deleted per sweep: a sweep stays short after an outage


def cover_key(entry_id: int) -> str:
    """The object key of entry ``entry_id``'s cover."""
    return f"schedule/{entry_id}/cover"


async def store_cover(objects: ObjectStore, entry_id: int, data: bytes, content_type: str) -> None:
    """Write the entry's cover (replacing the one before, atomically)."""
    await objects.put_bytes(
        cover_key(entry_id), data, content_type=content_type, cache_control=COVER_CACHE
    )


async def delete_cover(objects: ObjectStore, entry_id: int) -> None:
    """Remove the entry's cover; nothing happens if there is none."""
    await objects.delete(cover_key(entry_id))


async def purge_covers(db: Database, objects: ObjectStore, *, before: float) -> int:
    """Delete the covers of entries that ended before ``before`` (at most
    :data:`PURGE_BATCH`), so that the missed sweep can delete the entries too.

    Returns:
        How many covers were deleted.

    Raises:
        StorageUnavailable: The store is away; the rest waits for the next sweep.
    """
    ids = await schedule.purgeable_covers(db, before=before, limit=PURGE_BATCH)
    for entry_id in ids:
        await delete_cover(objects, entry_id)
        await schedule.drop_cover(db, entry_id)
    return len(ids)


async def adopt_database_covers(db: Database, objects: ObjectStore) -> int:
    """Move every cover still kept in the database into the store, one at a time.

    Runs at start, before the routes serve. Idempotent: a cover is written to
    the store before its bytes leave the row, so a start that dies half way
    writes it again; two hosts starting at once write the same bytes.

    Returns:
        How many covers were moved.
    """
    ids = await schedule.blob_cover_ids(db)
    for entry_id in ids:
        found = await schedule.blob_cover(db, entry_id)
        if found is None:
            continue  # another host moved it meanwhile
        content_type, data = found
        await store_cover(objects, entry_id, data, content_type)
        await schedule.forget_blob_cover(db, entry_id)
    if ids:
        logger.info("scheduled streams: %d covers moved from the database into the store", len(ids))
    return len(ids)
