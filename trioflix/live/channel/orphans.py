"""Sessions left on the air by a host that died: ended by a surviving host, once.

Rules / theory of operation:

- A host killed while it serves a channel leaves the stored session ``live`` (or
  ``reconnecting``) with nobody to end it; its origin lease expires within the
  lease's TTL. An encoder that reconnects to any host within the reconnect grace
  continues that session (the stream registry's rule 6).
- Every host of a cluster sweeps (:meth:`OrphanSweeper.run`): every
  :data:`SWEEP_INTERVAL_S` it lists the sessions on the air and reads the origin
  lease of each one that is not on this host. A session with no lease is
  *unserved*; one seen unserved on every sweep for the grace window is an orphan,
  and the host ends it.
- Exactly once: the end is one conditional UPDATE (:func:`~trioflix.store.live_sessions.end_session`
  fenced by the epoch the sweep read). Of several hosts ending the same orphan one
  changes the row, and only that one sends ``publish.end`` and hands the
  recording off. An encoder that came back in the meantime stored a larger epoch,
  and the end is refused.
- A sweep that cannot read Redis or the database forgets what it saw: an outage is
  not proof that no host serves a channel, and the grace counts again once both
  answer.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import trio

from trioflix.cluster.errors import ClusterError
from trioflix.store import StoreError, live_sessions

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from trioflix.cluster.lease import Origin
    from trioflix.live.channel.webhooks import Webhooks
    from trioflix.store import Database
    from trioflix.store.live_sessions import LiveSession

__all__ = ["ORPHAN_REASON", "SWEEP_INTERVAL_S", "OrphanSweeper"]

logger = logging.getLogger(__name__)

SWEEP_INTERVAL_S = 1.0  # one small query and a Redis read per live channel, per host
LOOKUP_TIMEOUT_S = 2.0  # Redis answers in a millisecond; longer is an outage
ORPHAN_REASON = "origin host gone"


class OrphanSweeper:
    """Ends the sessions whose origin host died and whose encoder did not come back.

    Args:
        db: The site's database.
        origin_of: Reads a channel's origin lease (``None``: no host holds it);
            raises a ``ClusterError`` when Redis cannot be read.
        here: Whether a session of the channel is on this host (live or in its
            grace window): this host's registry ends those itself.
        grace_s: How long a session stays unserved before it is an orphan: the
            reconnect grace, the time an encoder has to come back.
        webhooks: Where ``publish.end`` goes.
        hand_off: Hands a session's recording off to the video library.
    """

    def __init__(
        self,
        db: Database,
        *,
        origin_of: Callable[[str], Awaitable[Origin | None]],
        here: Callable[[str], bool],
        grace_s: float,
        webhooks: Webhooks,
        hand_off: Callable[[int], Awaitable[object]],
    ) -> None:
        self._db = db
        self._origin_of = origin_of
        self._here = here
        self._grace_s = grace_s
        self._webhooks = webhooks
        self._hand_off = hand_off
        # (session id, epoch) -> trio time the session was first seen unserved
        self._unserved: dict[tuple[int, int], float] = {}

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Sweep every :data:`SWEEP_INTERVAL_S` until cancelled."""
        task_status.started()
        while True:
            await trio.sleep(SWEEP_INTERVAL_S)
            try:
                await self.sweep()
            except (StoreError, ClusterError, trio.TooSlowError) as exc:
                self._unserved.clear()
                logger.debug("orphan sweep skipped: %r", exc)

    async def sweep(self) -> list[int]:
        """One sweep: the ids of the sessions this call ended.

        Raises:
            StoreError: the database did not answer.
            ClusterError: Redis did not answer.
            TooSlowError: Redis did not answer within :data:`LOOKUP_TIMEOUT_S`.
        """
        now = trio.current_time()
        unserved: dict[tuple[int, int], float] = {}
        ended = []
        for session, channel in await live_sessions.on_air(self._db):
            if self._here(channel):
                continue
            with trio.fail_after(LOOKUP_TIMEOUT_S):
                origin = await self._origin_of(channel)
            if origin is not None:
                continue
            seen = (session.id, session.origin_epoch)
            since = unserved[seen] = self._unserved.get(seen, now)
            if now - since >= self._grace_s and await self._end(session, channel):
                ended.append(session.id)
        self._unserved = unserved
        return ended

    async def _end(self, session: LiveSession, channel: str) -> bool:
        """End an orphan if no host ended or continued it first."""
        if not await live_sessions.end_session(
            self._db,
            session.id,
            ORPHAN_REASON,
            peak_viewers=session.peak_viewers,
            epoch=session.origin_epoch,
        ):
            return False
        logger.warning(
            "%s: ended session %d, whose origin host is gone and whose encoder did not"
            " come back within %.0f s",
            channel,
            session.id,
            self._grace_s,
        )
        self._webhooks.notify(
            "publish.end",
            {
                "channel": channel,
                "session_id": session.id,
                "reason": ORPHAN_REASON,
                "peak_viewers": session.peak_viewers,
            },
        )
        try:
            await self._hand_off(session.id)
        except Exception:
            # The session stays ended: a hand-off that failed is logged, not retried here.
            logger.exception("handing off the recording of orphaned session %d", session.id)
        return True
