"""Hosts of one site prove that they use the same storage.

Recordings, uploads and videos written by one host are served by all of them,
so every host of a cluster must reach the same storage. What that storage is
depends on where the media lives:

- **On object storage** (``TRIOFLIX_STORAGE_URL=s3://...``) everything one host
  writes for another is in the bucket (see docs/cluster.md, "Storage"), so the
  id is an object, ``cluster/storage-id``, created by the first host to start
  with a conditional create (:meth:`~trioflix.storage.ObjectStore.put_bytes_if_absent`)
  and read by every host after it. Each host's data directory is its own.
- **On local disk** (unset or ``file:``) the media and the upload files are in
  the data directory or beside it, so hosts must share that directory (a
  network filesystem): the first host writes a random id into
  ``cluster-storage-id`` in it, and a host whose directory is another one has
  its own.

The id goes into each member record, and a host whose id differs from the
others' is refused at start (``trioflix.cluster.checks.check_peers``).
"""

from __future__ import annotations

import os
import secrets
from typing import TYPE_CHECKING

import trio

from trioflix.storage import (
    S3StorageConfig,
    StorageFailure,
    StorageProbeError,
    StorageUnavailable,
    open_object_store,
    probe_object_store,
)

if TYPE_CHECKING:
    from pathlib import Path

    from trioflix.config import Settings
    from trioflix.storage import ObjectStore

__all__ = [
    "DATA_DIR_ID",
    "OBJECT_STORE_ID",
    "STORAGE_ID_FILE",
    "STORAGE_ID_KEY",
    "cluster_storage_id",
    "object_storage_id",
    "storage_id",
]

STORAGE_ID_FILE = "cluster-storage-id"
STORAGE_ID_KEY = "cluster/storage-id"
# What an id starts with says which kind of storage it names, so that a refusal
# can say what to set.
DATA_DIR_ID = "data-dir:"
OBJECT_STORE_ID = "object-store:"
# A host whose conditional create raced another's (AWS answers 409) or met a
# blip asks again a few times before refusing to start.
ID_ATTEMPTS = 5
ID_RETRY_S = 0.5


def storage_id(data_dir: Path) -> str:
    """The id of the storage behind ``data_dir``, created on first use (blocking; call at start).

    Hosts starting at the same moment on a shared directory agree: the id is
    written to a private file and linked into place, and the link of all but the
    first fails, so they read the first's.
    """
    path = data_dir / STORAGE_ID_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        draft = data_dir / f".{STORAGE_ID_FILE}.{secrets.token_hex(8)}"
        draft.write_text(f"{DATA_DIR_ID}{secrets.token_hex(16)}\n")
        try:
            os.link(draft, path)
        except FileExistsError:
            pass  # another host was first: its id is the one
        finally:
            draft.unlink()
    return path.read_text().strip()


async def object_storage_id(store: ObjectStore) -> str:
    """The id of ``store``, the object ``cluster/storage-id``, created on first use.

    Hosts starting at the same moment agree: each offers an id of its own with
    a conditional create, which stores only the first, and every host reads
    back what was stored.

    Raises:
        StorageUnavailable: the store did not answer.
    """
    await store.put_bytes_if_absent(
        STORAGE_ID_KEY, f"{OBJECT_STORE_ID}{secrets.token_hex(16)}\n".encode()
    )
    return (await store.read_bytes(STORAGE_ID_KEY)).decode().strip()


async def cluster_storage_id(settings: Settings) -> str:
    """This host's storage id: of its object store if the media is on S3, else of its
    data directory.

    The store is probed first, so that one that does not work says why, as at
    any start.

    Raises:
        StorageProbeError: the object store cannot be written, read back or
            emptied, or the id could not be read or created after a few tries.
    """
    config = settings.storage()
    if not isinstance(config, S3StorageConfig):
        return await trio.to_thread.run_sync(storage_id, settings.data_dir)
    async with open_object_store(config, data_dir=settings.data_dir) as store:
        await probe_object_store(store)
        attempt = 1
        while True:
            try:
                return await object_storage_id(store)
            except StorageFailure as exc:
                if attempt == ID_ATTEMPTS or not isinstance(exc, StorageUnavailable):
                    raise StorageProbeError(
                        f"could not read or create the cluster's storage id {STORAGE_ID_KEY}"
                        f" in {store.location}: {exc}"
                    ) from exc
            attempt += 1
            await trio.sleep(ID_RETRY_S)
