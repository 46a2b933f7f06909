"""The stream registry: which channels are live on this node, and who publishes them.

Rules:

1. A channel has at most one publisher. A publish with the *same key* while the
   channel is live takes over at once: OBS reconnecting after a network glitch
   arrives before the server has noticed that the old TCP connection died, so
   the old connection is kicked and the new one continues the same session and
   the same viewers, its timestamps stitched onto the channel's timeline.
2. A publish with any *other* key on a live channel is refused.
3. When a publisher drops (not a deliberate unpublish), viewers see the end at
   once, but the session waits ``grace_s`` in ``reconnecting``: a publish with
   the same key in that window continues it (same session, recording and
   playlists); otherwise it ends. The window opens before the database is told,
   so a drop whose write fails or is cut short still ends the session in time
   (without it the stream would be neither live nor waiting, its workers running
   until shutdown).
4. A deliberate end (the encoder unpublishes, ``POST /api/streaming/stop``,
   shutdown) ends the session at once. The stop API's end is the streamer's and
   holds: it is stored (``live_sessions.record_stop``), and every publish of the
   channel is refused until the streamer starts again or ``stop_cooldown_s``
   passes, so an encoder's auto-reconnect does not start a new session. A drop is
   not a stop: rule 3 applies.
5. Session workers (HLS writers, the recorder) run for the whole session, in a
   nursery of their own under the registry: they take media through
   ``LiveStream.subscribe_session`` and finish when the session ends. A worker
   that fails is logged; the stream and the other workers go on.
6. In a cluster (``claim_origin`` given), rules 1 and 2 hold across hosts: a
   session starting here first makes this host the channel's origin, which
   refuses a publish while another host serves the channel from another key and
   takes the channel over from it for the same key. The claim lasts the session
   (grace window included) and is released when it ends. A host whose channel
   another host took over drops its publisher and the channel at once, without
   ending the stored session: it goes on from the other host.
7. Fencing: the claim carries the origin lease's epoch, and every write this
   host makes to the stored session (live, reconnecting, ended) carries it. The
   database refuses a write when a larger epoch serves the session (another host
   took it over and this one has not learnt it yet): the write changes nothing,
   and this host lets the channel go as in rule 6. ``publish.end`` is sent only by
   the host whose write ended the session, so once for the site.
   :meth:`StreamRegistry.origin_epoch` gives the epoch to the session workers that
   write shared state of their own.
8. A new session that goes live within a scheduled stream's window (``schedule_window``)
   starts that stream: the session takes its title and description, the entry is
   ``started`` (``trioflix.store.schedule.attach_due``), and ``on_scheduled_start``
   is told, all in the transaction that makes the session live. A reconnect within
   the grace window continues the session, not a new entry.

Every database write runs under one lock, so the in-memory map and the stored
sessions never disagree, and two racing publishers cannot both win.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import trio

from trioflix.live.channel.stream import DEFAULT_GOP_CACHE_BYTES, LiveStream
from trioflix.store import StoreError, live_sessions
from trioflix.store import schedule as schedule_store

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from trioflix.live.channel.webhooks import Webhooks
    from trioflix.store import Database, Transaction
    from trioflix.store.schedule import ScheduleEntry

    SessionWorker = Callable[[LiveStream], Awaitable[None]]
    #: ``claim(channel, user_id, key_id, on_superseded)``: makes this host the
    #: channel's origin; returns the claim. Raises :class:`PublishRefused`.
    ClaimOrigin = Callable[[str, int, int, Callable[[], None]], Awaitable["OriginClaim"]]

__all__ = [
    "DEFAULT_GRACE_S",
    "STOPPED_BY_STREAMER",
    "OriginClaim",
    "PublishRefused",
    "PublisherHandle",
    "SessionWorker",
    "StreamRegistry",
    "StreamStop",
]

logger = logging.getLogger(__name__)

DEFAULT_GRACE_S = 10.0  # OBS retries after 2-10 s by default; longer just delays "offline"
CLEANUP_TIMEOUT_S = 5.0
_TAKEN_OVER = "taken over by another host"
STOPPED_BY_STREAMER = "stream ended by the streamer"


@dataclass(frozen=True, slots=True)
class StreamStop:
    """The streamer ended the stream at ``at`` (epoch seconds); the channel's encoder is
    refused until they start again or, if not ``None``, until ``until``."""

    at: float
    until: float | None


class PublishRefused(Exception):
    """The publish cannot go ahead; ``code`` is the NetStream status to answer with."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


class OriginClaim(Protocol):
    """This host's claim to serve a channel to the site, for one live session."""

    @property
    def epoch(self) -> int:
        """The fencing epoch last granted to this host for the channel (0 on one host)."""

    @property
    def held(self) -> bool:
        """Whether this host holds the channel's origin lease now: ``False`` while a
        lease lost to a Redis outage is not granted again."""

    def release(self) -> None:
        """Give the channel up (at once, without waiting)."""


class _SingleHost:
    """One host has no claim to make: it always serves its channels, at epoch 0."""

    epoch = 0
    held = True

    def release(self) -> None:
        """Releases nothing."""


_SINGLE_HOST = _SingleHost()


@dataclass(eq=False)
class PublisherHandle:
    """What the registry holds of a publishing connection: a way to make it stop."""

    cancel_scope: trio.CancelScope
    peer: str
    kicked: str | None = None

    def kick(self, reason: str) -> None:
        self.kicked = reason
        self.cancel_scope.cancel()


class StreamRegistry:
    def __init__(
        self,
        db: Database,
        *,
        node: str,
        grace_s: float = DEFAULT_GRACE_S,
        stop_cooldown_s: float = 0.0,
        gop_cache_bytes: int = DEFAULT_GOP_CACHE_BYTES,
        session_workers: Sequence[SessionWorker] = (),
        webhooks: Webhooks | None = None,
        claim_origin: ClaimOrigin | None = None,
        schedule_window: tuple[float, float] | None = None,
        on_scheduled_start: Callable[[str, ScheduleEntry], None] | None = None,
    ) -> None:
        self._db = db
        self.schedule_window = schedule_window  # (before_s, after_s); None: no attaching
        self._on_scheduled_start = on_scheduled_start
        self._claim_origin = claim_origin
        self._origins: dict[str, OriginClaim] = {}  # channel -> this host's claim
        self._webhooks = webhooks
        self._session_workers = tuple(session_workers)
        self.node = node
        self.grace_s = grace_s
        self.stop_cooldown_s = stop_cooldown_s  # 0: until the streamer starts again
        self.gop_cache_bytes = gop_cache_bytes
        self._lock = trio.Lock()
        self._live: dict[str, LiveStream] = {}
        self._publishers: dict[str, PublisherHandle] = {}
        self._reconnecting: dict[str, tuple[LiveStream, trio.CancelScope]] = {}
        self._nursery: trio.Nursery | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Host the grace-window timers until cancelled; then end every session, shielded."""
        try:
            async with self._lock:
                ended = await live_sessions.end_node_sessions(
                    self._db, self.node, "server stopped unexpectedly"
                )
            if ended:
                logger.warning("ended %d live session(s) left open by a previous run", ended)
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                task_status.started()
                await trio.sleep_forever()
        finally:
            self._nursery = None
            with trio.move_on_after(CLEANUP_TIMEOUT_S, shield=True):
                for channel in list(self._live) + list(self._reconnecting):
                    await self._end(channel, "server shutting down")

    # --- queries (non-blocking) --------------------------------------------------------

    def get(self, channel: str) -> LiveStream | None:
        """The channel's stream if a publisher is sending it now."""
        return self._live.get(channel)

    def live(self) -> list[LiveStream]:
        return list(self._live.values())

    def origin_epoch(self, channel: str) -> int | None:
        """The fencing epoch under which this host serves ``channel`` to the site now.

        0 on a single host. ``None`` when no session of the channel is here, or
        while its origin lease is lost to a Redis outage: this host serves its own
        viewers then, but not the site. Shared state that a session worker writes
        (playlists, recordings) should carry it, so that a host that lost the
        channel cannot overwrite the newer origin's.
        """
        claim = self._origins.get(channel)
        if claim is None or not claim.held:
            return None
        return claim.epoch

    def state_of(self, channel: str) -> str | None:
        if channel in self._live:
            return "live"
        if channel in self._reconnecting:
            return "reconnecting"
        return None

    async def stream_stop(self, user_id: int) -> StreamStop | None:
        """The streamer's stop that refuses the channel's encoder now, if any (rule 4).

        Raises:
            StoreUnavailable: the database did not answer.
        """
        at = await live_sessions.stopped_at(self._db, user_id)
        if at is None:
            return None
        if self.stop_cooldown_s <= 0:
            return StreamStop(at, None)
        until = at + self.stop_cooldown_s
        return StreamStop(at, until) if time.time() < until else None

    async def due_schedule(self, user_id: int) -> ScheduleEntry | None:
        """The scheduled stream that going live now would start (rule 8), if any.

        Raises:
            StoreUnavailable: the database did not answer.
        """
        if self.schedule_window is None:
            return None
        before_s, after_s = self.schedule_window
        return await schedule_store.due_entry(
            self._db, user_id, now=time.time(), before_s=before_s, after_s=after_s
        )

    # --- publishing --------------------------------------------------------------------

    async def start_publishing(
        self, *, channel: str, user_id: int, key_id: int, handle: PublisherHandle
    ) -> LiveStream:
        """Make ``handle`` the publisher of ``channel`` (rules 1-3 above).

        Raises:
            PublishRefused: another key is publishing the channel, or the streamer
                ended the stream (rule 4).
            StoreUnavailable: the database did not answer; nothing changed.
        """
        async with self._lock:
            if await self.stream_stop(user_id) is not None:
                raise PublishRefused("NetStream.Publish.Rejected", STOPPED_BY_STREAMER)
            stream = self._live.get(channel)
            if stream is not None:
                if stream.key_id != key_id:
                    raise PublishRefused(
                        "NetStream.Publish.BadName", f"{channel} is already live from another key"
                    )
                old = self._publishers[channel]
                logger.info("publisher of %s replaced by %s", channel, handle.peer)
                old.kick("replaced by a new connection with the same key")
                stream.new_publisher()
                self._publishers[channel] = handle
                return stream
            pending = self._reconnecting.get(channel)
            if pending is not None and pending[0].key_id == key_id:
                stream, timer = pending
                if not await live_sessions.set_state(
                    self._db, stream.session_id, "live", epoch=self._origins[channel].epoch
                ):
                    await self._end_locked(channel, _TAKEN_OVER, keep_session=True)
                    raise PublishRefused("NetStream.Publish.BadName", _TAKEN_OVER)
                timer.cancel()
                del self._reconnecting[channel]
                logger.info("publisher of %s reconnected within the grace window", channel)
            else:
                if pending is not None:  # another key after a drop: the old session is over
                    pending[1].cancel()
                    await self._end_locked(channel, "replaced by another stream key")
                claim = await self._claim(channel, user_id, key_id)
                started: list[ScheduleEntry] = []

                async def attach(tx: Transaction, session_id: int) -> None:
                    # Rule 8, in the transaction that makes the session live.
                    if self.schedule_window is not None:
                        before_s, after_s = self.schedule_window
                        entry = await schedule_store.attach_due(
                            tx,
                            user_id,
                            session_id,
                            now=time.time(),
                            before_s=before_s,
                            after_s=after_s,
                        )
                        if entry is not None:
                            started.append(entry)

                try:
                    session = await live_sessions.begin_publishing(
                        self._db,
                        user_id,
                        key_id,
                        self.node,
                        default_title=f"{channel} live",
                        epoch=claim.epoch,
                        then=attach,
                    )
                except BaseException:
                    claim.release()
                    raise
                if session is None:
                    claim.release()
                    raise PublishRefused("NetStream.Publish.BadName", _TAKEN_OVER)
                self._origins[channel] = claim
                for entry in started:
                    logger.info("%s started scheduled stream %d", channel, entry.id)
                    if self._on_scheduled_start is not None:
                        self._on_scheduled_start(channel, entry)
                stream = LiveStream(
                    channel=channel,
                    user_id=user_id,
                    session_id=session.id,
                    key_id=key_id,
                    started_at=session.started_at or session.created_at,
                    gop_cache_bytes=self.gop_cache_bytes,
                )
                logger.info("%s is live (session %d)", channel, session.id)
                if self._nursery is not None and self._session_workers:
                    self._nursery.start_soon(self._run_session_workers, stream)
            stream.new_publisher()
            self._live[channel] = stream
            self._publishers[channel] = handle
            return stream

    async def stop_publishing(
        self, stream: LiveStream, handle: PublisherHandle, *, deliberate: bool
    ) -> None:
        """The publishing connection ``handle`` stopped (rules 3 and 4).

        A kicked handle has been replaced already and changes nothing.
        """
        async with self._lock:
            channel = stream.channel
            if self._publishers.get(channel) is not handle:
                return
            del self._publishers[channel]
            del self._live[channel]
            stream.disconnect_viewers("publisher stopped")
            if deliberate or self._nursery is None or self.grace_s <= 0:
                await self._end_locked(channel, "publisher stopped", stream)
                return
            # Rule 3: the window opens first; the write below may fail, or be cut
            # short by the connection's cleanup deadline, and the timer still runs.
            timer = trio.CancelScope()
            try:
                self._nursery.start_soon(self._grace_timer, channel, stream, timer)
            except RuntimeError:  # the registry is shutting down: no grace window
                await self._end_locked(channel, "server shutting down", stream)
                return
            self._reconnecting[channel] = (stream, timer)
            logger.info("publisher of %s dropped; waiting %.0f s for it", channel, self.grace_s)
            epoch = self._origins[channel].epoch
            if not await live_sessions.set_state(
                self._db, stream.session_id, "reconnecting", epoch=epoch
            ):
                await self._end_locked(channel, _TAKEN_OVER, stream, keep_session=True)

    async def _claim(self, channel: str, user_id: int, key_id: int) -> OriginClaim:
        """Rule 6: this host becomes the channel's origin (nothing to do on one host)."""
        if self._claim_origin is None:
            return _SINGLE_HOST
        claim: OriginClaim | None = None

        def superseded() -> None:
            # The claim itself tells which session it was: the channel may have
            # ended, or started again with a claim of its own, meanwhile.
            if claim is not None and self._nursery is not None:
                self._nursery.start_soon(self._taken_over, channel, claim)

        claim = await self._claim_origin(channel, user_id, key_id, superseded)
        return claim

    async def _taken_over(self, channel: str, claim: OriginClaim) -> None:
        """Rule 6: another host serves the channel now; this one lets it go."""
        reason = _TAKEN_OVER
        async with self._lock:
            if self._origins.get(channel) is not claim:
                return
            del self._origins[channel]  # lost, not ours to release
            handle = self._publishers.get(channel)
            if handle is not None:
                handle.kick(reason)
            stream = self._live.pop(channel, None)
            await self._end_locked(channel, reason, stream, keep_session=True)

    async def _grace_timer(self, channel: str, stream: LiveStream, timer: trio.CancelScope) -> None:
        with timer:
            await trio.sleep(self.grace_s)
            async with self._lock:
                if self._reconnecting.get(channel, (None,))[0] is stream:
                    # Out of the map first: ending it would cancel this very scope (the
                    # timer of a pending reconnect), and the stored session's end with it.
                    del self._reconnecting[channel]
                    await self._end_locked(channel, "publisher gone", stream)

    async def _run_session_workers(self, stream: LiveStream) -> None:
        async with trio.open_nursery() as nursery:
            for worker in self._session_workers:
                nursery.start_soon(self._supervise, worker, stream)

    async def _supervise(self, worker: SessionWorker, stream: LiveStream) -> None:
        try:
            await worker(stream)
        except Exception:
            logger.exception(
                "session worker %s failed for %s; the stream goes on without it",
                getattr(worker, "__name__", worker),
                stream.channel,
            )

    async def stop_channel(self, channel: str, reason: str) -> bool:
        """End the channel's session now (the stop API); ``False`` if nothing was live here."""
        async with self._lock:
            handle = self._publishers.get(channel)
            if handle is None and channel not in self._reconnecting:
                return False
            if handle is not None:
                handle.kick(reason)
            await self._end_locked(channel, reason)
            return True

    async def _end(self, channel: str, reason: str) -> None:
        async with self._lock:
            await self._end_locked(channel, reason)

    async def _end_locked(
        self,
        channel: str,
        reason: str,
        stream: LiveStream | None = None,
        *,
        keep_session: bool = False,
    ) -> None:
        """End the channel here; unless ``keep_session``, its stored session too."""
        stream = stream or self._live.pop(channel, None)
        self._publishers.pop(channel, None)
        pending = self._reconnecting.pop(channel, None)
        if pending is not None:
            pending[1].cancel()
            stream = stream or pending[0]
        claim = self._origins.pop(channel, None)
        if claim is not None:
            claim.release()
        if stream is None:
            return
        stream.end(reason)
        if keep_session:  # it goes on from another host (rule 6)
            logger.info("%s went offline here: %s", channel, reason)
            return
        try:
            ended = await live_sessions.end_session(
                self._db,
                stream.session_id,
                reason,
                peak_viewers=stream.peak_viewers,
                epoch=claim.epoch if claim is not None else 0,
            )
        except StoreError:
            # One host: the node id lets its next start end it (end_node_sessions).
            # A cluster: the session is left on the air with no origin, which a
            # host of the site ends once the database answers (its orphan sweep),
            # sending publish.end then.
            logger.warning("could not record the end of session %d", stream.session_id)
            ended = self._claim_origin is None
        if not ended:  # rule 7: a later origin serves it, or another host ended it
            logger.info("%s went offline here: %s; the session is not this host's", channel, reason)
            return
        if self._webhooks is not None:
            self._webhooks.notify(
                "publish.end",
                {
                    "channel": channel,
                    "session_id": stream.session_id,
                    "reason": reason,
                    "peak_viewers": stream.peak_viewers,
                },
            )
        logger.info("%s went offline: %s", channel, reason)
