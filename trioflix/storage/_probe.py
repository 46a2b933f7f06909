"""The start-up check: can this host write, read back and delete an object?

A server that cannot use its storage must refuse to start, with a message an
operator can act on, rather than fail at the first upload. The probe writes a
small object under ``probe/`` (a key prefix no media uses), reads it back,
compares, and deletes it.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from trioflix.storage._errors import (
    AccessDenied,
    BucketNotFound,
    StorageFailure,
    StorageProbeError,
    StorageUnavailable,
)

if TYPE_CHECKING:
    from trioflix.storage._objects import ObjectStore

__all__ = ["PROBE_PREFIX", "probe_object_store"]

PROBE_PREFIX = "probe/"


def _diagnosis(exc: StorageFailure) -> str:
    if isinstance(exc, AccessDenied):
        return "the credentials were refused (check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
    if isinstance(exc, BucketNotFound):
        return "the bucket does not exist (create it, or fix the storage URL)"
    if isinstance(exc, StorageUnavailable):
        return "the storage is unreachable or failing (check AWS_ENDPOINT_URL and the server)"
    return "the storage refused"


async def probe_object_store(store: ObjectStore) -> None:
    """Write, read back and delete one small object.

    Raises:
        StorageProbeError: Naming the step that failed (write, read or delete), the
            store's location, and the likely cause: wrong credentials, missing
            bucket, unreachable endpoint. The original error is its ``__cause__``.
    """
    key = f"{PROBE_PREFIX}{secrets.token_hex(8)}"
    payload = secrets.token_bytes(32)
    step = "write"
    try:
        await store.put_bytes(key, payload, content_type="application/octet-stream")
        step = "read"
        if await store.read_bytes(key) != payload:
            raise StorageProbeError(
                f"storage probe: {store.location} returned other bytes than were written to {key}"
            )
        step = "delete"
        await store.delete(key)
    except StorageProbeError:
        raise
    except StorageFailure as exc:
        raise StorageProbeError(
            f"storage probe could not {step} {key} in {store.location}: {_diagnosis(exc)}: {exc}"
        ) from exc
