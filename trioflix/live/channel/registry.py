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
   playlists); otherwise it ends.
4. A deliberate end (the encoder unpublishes, ``POST /api/streaming/stop``,
   shutdown) ends the session at once.
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

Every database write runs under one lock, so the in-memory map and the stored
sessions never disagree, and two racing publishers cannot both win.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import trio

from trioflix.live.channel.stream import DEFAULT_GOP_CACHE_BYTES, LiveStream
from trioflix.store import StoreError, live_sessions

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from trioflix.live.channel.webhooks import Webhooks
    from trioflix.store import Database

    SessionWorker = Callable[[LiveStream], Awaitable[None]]
    #: ``claim(channel, user_id, key_id, on_superseded)``: makes this host the
    #: channel's origin; returns what releases it. Raises :class:`PublishRefused`.
    ClaimOrigin = Callable[[str, int, int, Callable[[], None]], Awaitable[Callable[[], None]]]

__all__ = [
    "DEFAULT_GRACE_S",
    "PublishRefused",
    "PublisherHandle",
    "SessionWorker",
    "StreamRegistry",
]

logger = logging.getLogger(__name__)

DEFAULT_GRACE_S = 10.0  # OBS retries after 2-10 s by default; longer just delays "offline"
CLEANUP_TIMEOUT_S = 5.0


class PublishRefused(Exception):
    """The publish cannot go ahead; ``code`` is the NetStream status to answer with."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


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
        gop_cache_bytes: int = DEFAULT_GOP_CACHE_BYTES,
        session_workers: Sequence[SessionWorker] = (),
        webhooks: Webhooks | None = None,
        claim_origin: ClaimOrigin | None = None,
    ) -> None:
        self._db = db
        self._claim_origin = claim_origin
        self._origins: dict[str, Callable[[], None]] = {}  # channel -> release its claim
        self._webhooks = webhooks
        self._session_workers = tuple(session_workers)
        self.node = node
        self.grace_s = grace_s
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

    def state_of(self, channel: str) -> str | None:
        if channel in self._live:
            return "live"
        if channel in self._reconnecting:
            return "reconnecting"
        return None

    # --- publishing --------------------------------------------------------------------

    async def start_publishing(
        self, *, channel: str, user_id: int, key_id: int, handle: PublisherHandle
    ) -> LiveStream:
        """Make ``handle`` the publisher of ``channel`` (rules 1-3 above).

        Raises:
            PublishRefused: another key is publishing the channel.
            StoreUnavailable: the database did not answer; nothing changed.
        """
        async with self._lock:
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
                await live_sessions.set_state(self._db, stream.session_id, "live")
                timer.cancel()
                del self._reconnecting[channel]
                logger.info("publisher of %s reconnected within the grace window", channel)
            else:
                if pending is not None:  # another key after a drop: the old session is over
                    pending[1].cancel()
                    await self._end_locked(channel, "replaced by another stream key")
                release = await self._claim(channel, user_id, key_id)
                try:
                    session = await live_sessions.begin_publishing(
                        self._db, user_id, key_id, self.node, default_title=f"{channel} live"
                    )
                except BaseException:
                    release()
                    raise
                self._origins[channel] = release
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
            await live_sessions.set_state(self._db, stream.session_id, "reconnecting")
            timer = trio.CancelScope()
            try:
                if self._nursery is None:
                    raise RuntimeError("registry stopped")
                self._nursery.start_soon(self._grace_timer, channel, stream, timer)
            except RuntimeError:  # the registry is shutting down: no grace window
                await self._end_locked(channel, "server shutting down", stream)
                return
            self._reconnecting[channel] = (stream, timer)
            logger.info("publisher of %s dropped; waiting %.0f s for it", channel, self.grace_s)

    async def _claim(self, channel: str, user_id: int, key_id: int) -> Callable[[], None]:
        """Rule 6: this host becomes the channel's origin (nothing to do on one host)."""
        if self._claim_origin is None:
            return _nothing
        release: Callable[[], None] | None = None

        def superseded() -> None:
            # The claim itself tells which session it was: the channel may have
            # ended, or started again with a claim of its own, meanwhile.
            if release is not None and self._nursery is not None:
                self._nursery.start_soon(self._taken_over, channel, release)

        release = await self._claim_origin(channel, user_id, key_id, superseded)
        return release

    async def _taken_over(self, channel: str, claim: Callable[[], None]) -> None:
        """Rule 6: another host serves the channel now; this one lets it go."""
        reason = "taken over by another host"
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
        release = self._origins.pop(channel, None)
        if release is not None:
            release()
        if stream is None:
            return
        stream.end(reason)
        if keep_session:  # it goes on from another host (rule 6)
            logger.info("%s went offline here: %s", channel, reason)
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
        try:
            await live_sessions.end_session(
                self._db, stream.session_id, reason, peak_viewers=stream.peak_viewers
            )
        except StoreError:
            # The node id lets the next start end it (end_node_sessions).
            logger.warning("could not record the end of session %d", stream.session_id)
        logger.info("%s went offline: %s", channel, reason)


def _nothing() -> None:
    """Releases nothing: on one host there is no claim."""
