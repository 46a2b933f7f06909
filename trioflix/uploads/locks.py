"""One request at a time per upload, and a newcomer evicts a stale holder.

A client whose PATCH hangs on a half-dead connection (a laptop that slept, a
mobile network that switched) reconnects and sends HEAD or PATCH again. If the
old request kept the lock until its idle timeout, the client would be locked
out for that long. So a new request *evicts* the holder instead: the holder's
body transfer is cancelled, it keeps and commits what it has written (shielded,
bounded cleanup), and releases the upload; the newcomer waits for that at most
:data:`TAKEOVER_WAIT_S`.

The lock is per process: one upload's requests must reach the host that holds
its bytes (uploads live on that host's disk anyway).
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import trio

from trioflix.errors import APIError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

__all__ = ["TAKEOVER_WAIT_S", "Holder", "UploadLocks"]

# The evicted holder needs one fsync and one database write (bounded by its own
# CLEANUP_TIMEOUT_S); this leaves room for that on a busy disk.
TAKEOVER_WAIT_S = 15.0


class Holder:
    """The request holding an upload.

    Attributes:
        transfer: The cancel scope the holder runs its body transfer in;
            eviction cancels it. Only the transfer: the commit that follows runs
            outside it.
        received: Bytes of the upload known so far to this request (the
            committed offset plus what it has written since), for live progress.
    """

    def __init__(self) -> None:
        self.transfer = trio.CancelScope()
        self.received = 0
        self.evicted = False
        self._released = trio.Event()

    def evict(self) -> None:
        self.evicted = True
        self.transfer.cancel()


class UploadLocks:
    def __init__(self) -> None:
        self._holders: dict[str, Holder] = {}

    def holder(self, upload_id: str) -> Holder | None:
        return self._holders.get(upload_id)

    @asynccontextmanager
    async def hold(self, upload_id: str, *, evict: bool = True) -> AsyncIterator[Holder]:
        """Hold ``upload_id`` for the block, evicting the current holder (newest wins).

        Args:
            upload_id: The upload.
            evict: False to wait for the holder politely (internal work such as
                assembling a final upload, which must not cut a client off).

        Raises:
            APIError: 423 ``upload_locked`` if the holder did not let go within
                :data:`TAKEOVER_WAIT_S`.
        """
        with trio.move_on_after(TAKEOVER_WAIT_S) as waited:
            while (current := self._holders.get(upload_id)) is not None:
                if evict:
                    current.evict()
                await current._released.wait()
        if waited.cancelled_caught:
            raise APIError(
                423, "upload_locked", "another request for this upload is still finishing"
            )
        holder = Holder()
        self._holders[upload_id] = holder
        try:
            yield holder
        finally:
            del self._holders[upload_id]
            holder._released.set()
