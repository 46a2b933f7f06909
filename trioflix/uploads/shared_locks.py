"""The per-upload lock across hosts, for uploads on object storage: rows in PostgreSQL.

When uploads live in a bucket, the next PATCH of an upload may reach any host,
and the takeover rules of :mod:`trioflix.uploads.locks` must hold between hosts
too: a newcomer on host C evicts the half-dead request on host B, which commits
what it has and lets go; the newcomer waits for that at most
:data:`~trioflix.uploads.locks.TAKEOVER_WAIT_S`, then answers 423.

The lock is three columns of the upload's row, on PostgreSQL (every host that
shares a bucket shares the database; Redis is there only in a cluster, and the
row is where the upload already lives, so the lock needs nothing else running):

- ``lock_holder``: a random token of the request holding it; ``lock_until``:
  when that hold lapses unless renewed, on the database's clock (so the hosts'
  clocks never matter). A host that died holding a lock stops renewing it, and
  the lock is free :data:`LOCK_TTL_S` later.
- ``lock_evict``: set by a newcomer; the holder sees it within
  :data:`POLL_S` (it renews every :data:`POLL_S` and reads the flag in the
  same statement) and evicts its request, as a newcomer on its own host would.

A holder that cannot renew its hold for :data:`LOCK_TTL_S` (the database out of
reach) evicts its own request: another host may be granted the upload after
that, and the request must not go on writing it.

Within one host the in-process lock still comes first, so that a newcomer on the
same host evicts at once, without a round trip through the database.
"""

from __future__ import annotations

import logging
import secrets
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import trio

from trioflix.errors import APIError
from trioflix.store import StoreError
from trioflix.uploads.locks import TAKEOVER_WAIT_S

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from trioflix.store import Database
    from trioflix.uploads.locks import Holder, UploadLocks

__all__ = ["LOCK_TTL_S", "POLL_S", "SharedUploadLocks"]

logger = logging.getLogger(__name__)

POLL_S = 0.25  # how soon a holder hears of a newcomer, and a newcomer of a release
LOCK_TTL_S = 5.0  # a hold not renewed for this long (its host died) is free
_NOW = "extract(epoch from clock_timestamp())"


class SharedUploadLocks:
    """:class:`~trioflix.uploads.locks.UploadLocks` across the hosts that share a database.

    Args:
        local: This host's in-process locks, taken first.
        get_db: The database (PostgreSQL).
    """

    def __init__(self, local: UploadLocks, get_db: Callable[[], Database]) -> None:
        self._local = local
        self._get_db = get_db

    def holder(self, upload_id: str) -> Holder | None:
        """The request of this host holding ``upload_id``, if any."""
        return self._local.holder(upload_id)

    @asynccontextmanager
    async def hold(self, upload_id: str, *, evict: bool = True) -> AsyncIterator[Holder]:
        """Hold ``upload_id`` on every host for the block (see :meth:`UploadLocks.hold`).

        Raises:
            APIError: 423 ``upload_locked`` if the holder, here or on another host,
                did not let go within :data:`TAKEOVER_WAIT_S`.
        """
        async with self._local.hold(upload_id, evict=evict) as holder:
            token = secrets.token_hex(16)
            if not await self._acquire(upload_id, token, evict=evict):
                yield holder  # no such upload: nothing to lock, the caller answers 404
                return
            failure: Exception | None = None
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._renew, upload_id, token, holder)
                    try:
                        yield holder
                    except Exception as exc:
                        # Raised outside the nursery, so that callers get it as it is
                        # and not inside an exception group (the renewal never raises).
                        failure = exc
                    finally:
                        nursery.cancel_scope.cancel()
                if failure is not None:
                    try:
                        raise failure
                    finally:
                        failure = None  # its traceback holds this frame: no cycle through it
            finally:
                with trio.move_on_after(LOCK_TTL_S, shield=True):
                    try:
                        await self._get_db().execute(
                            "UPDATE uploads SET lock_holder = NULL, lock_until = NULL,"
                            " lock_evict = FALSE WHERE id = $1 AND lock_holder = $2",
                            upload_id,
                            token,
                        )
                    except StoreError as exc:  # it lapses by itself
                        logger.warning("could not release upload %s: %s", upload_id, exc)

    async def _acquire(self, upload_id: str, token: str, *, evict: bool) -> bool:
        """Take the row lock; False if the upload does not exist."""
        db = self._get_db()
        with trio.move_on_after(TAKEOVER_WAIT_S):
            while True:
                row = await db.fetchrow(
                    "UPDATE uploads SET lock_holder = $2, lock_until = "
                    f"{_NOW} + $3, lock_evict = FALSE"
                    f" WHERE id = $1 AND (lock_holder IS NULL OR lock_until < {_NOW})"
                    " RETURNING id",
                    upload_id,
                    token,
                    LOCK_TTL_S,
                )
                if row is not None:
                    return True
                held = await db.execute(
                    "UPDATE uploads SET lock_evict = lock_evict OR $2"
                    " WHERE id = $1 AND lock_holder IS NOT NULL",
                    upload_id,
                    evict,
                )
                if not held:
                    return False
                await trio.sleep(POLL_S)
        raise APIError(423, "upload_locked", "another request for this upload is still finishing")

    async def _renew(self, upload_id: str, token: str, holder: Holder) -> None:
        """Renew the hold every :data:`POLL_S`; evict ``holder`` when asked or when lapsing."""
        db = self._get_db()
        lapses = trio.current_time() + LOCK_TTL_S
        while True:
            await trio.sleep(POLL_S)
            sent = trio.current_time()
            try:
                row = await db.fetchrow(
                    f"UPDATE uploads SET lock_until = {_NOW} + $3"
                    " WHERE id = $1 AND lock_holder = $2 RETURNING lock_evict",
                    upload_id,
                    token,
                    LOCK_TTL_S,
                )
            except StoreError as exc:
                if trio.current_time() < lapses:
                    continue
                logger.warning("upload %s: could not renew its lock (%s): stopping", upload_id, exc)
                holder.evict()
                return
            if row is None:
                holder.evict()  # lapsed and taken: cannot happen while renewals succeed
                return
            lapses = sent + LOCK_TTL_S
            if row["lock_evict"] and not holder.evicted:
                # A request on another host takes over. The hold is still renewed
                # while this request commits what it has, until it lets go.
                holder.evict()
