"""The live HLS hub: every live session's HLS output on this server, and its housekeeping.

The hub is a registry session worker (:meth:`HLSHub.session_worker`): it runs one
:class:`~trioflix.live.hls.writer.HLSSession` per live session and, when a ladder is
configured, gives it a :class:`~trioflix.live.hls.transcoder.Ladder`. It finds the
sessions for the HTTP routes, counts their viewers and deletes ended sessions' files
after :data:`~trioflix.live.hls.writer.LINGER_S`.

In a cluster (:attr:`HLSHub.shared` set) the hub counts HLS viewers for the site: every
host sends the playback sessions (``vs``) it saw to Redis once per tick, and the
channel's origin counts them there (:class:`~trioflix.cluster.hls_state.SiteHLS`), so a
player whose requests are spread over the hosts is one viewer of the site.
"""

from __future__ import annotations

import logging
import shutil
from functools import partial
from typing import TYPE_CHECKING, Final

import trio

from protocols import hls
from trioflix.cluster.errors import redis_errors
from trioflix.live.hls.ladder_spec import parse_ladder
from trioflix.live.hls.playback_sessions import (
    ALIVE_SLACK_S,
    ALIVE_TARGETS,
    MAX_SESSIONS_PER_STREAM,
    PROTOCOL,
    HLSViewers,
)
from trioflix.live.hls.track_renditions import covered_heights
from trioflix.live.hls.transcoder import Ladder, LadderSettings
from trioflix.live.hls.writer import (
    ENDLIST_DEADLINE_S,
    LINGER_S,
    SESSION_QUEUE_BYTES,
    HLSSession,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from trioflix.cluster.hls_state import SiteHLS
    from trioflix.config import Settings
    from trioflix.live.channel.registry import StreamRegistry
    from trioflix.live.channel.stream import LiveStream

__all__ = ["HLSHub"]

logger = logging.getLogger(__name__)

JANITOR_INTERVAL_S: Final = 5.0
# Disk work at once across all sessions; more only queues in the kernel.
DISK_THREADS: Final = 8
VIEWER_TICK_S: Final = 1.0  # HLS viewer counts expire and refresh this often
# Channels whose players this host saw in one tick, in a cluster: bounds memory against
# requests for made-up channels (only channels with an origin are counted anyway).
MAX_PLAYER_CHANNELS: Final = 10_000


class HLSHub:
    """All live HLS output of this server: sessions by channel, their files, housekeeping.

    Resource handling:
        :meth:`run` is a service task (it removes what a previous run left in
        ``live`` in the host's directory, ``Settings.host_dir``, and deletes ended
        sessions after :data:`LINGER_S`);
        :meth:`session_worker` is passed to the :class:`StreamRegistry`.
    """

    def __init__(self, settings: Settings) -> None:
        self.root = settings.host_dir / "live"
        self.target_ms = round(settings.hls_segment * 1000)
        # protocols.hls's default: a keyframe-less stretch is cut 250 ms past the target,
        # which keeps 2 s segments at EXT-X-TARGETDURATION 2.
        self.max_segment_ms = self.target_ms + hls.DEFAULT_MAX_EXTRA_MS
        #: LL-HLS part target in ms; ``None``: LL-HLS is off.
        self.part_ms = settings.hls_part
        self.ladder_settings = LadderSettings(
            rungs=parse_ladder(settings.hls_ladder),
            preset=settings.hls_preset,
            segment_ms=self.target_ms,
            max_segment_ms=self.max_segment_ms,
        )
        self.limiter = trio.CapacityLimiter(DISK_THREADS)
        self.registry: StreamRegistry | None = None
        self.viewers = HLSViewers()
        #: The site's shared HLS state, in a cluster (``None`` on a single host); read
        #: at each use, since it exists only while the site's heartbeat runs.
        self.shared: Callable[[], SiteHLS | None] | None = None
        self._players: dict[str, set[str]] = {}  # a cluster's: seen since the last tick
        self._current: dict[str, HLSSession] = {}
        self._all: dict[tuple[str, int], HLSSession] = {}

    def session(self, channel: str, session_id: int | None = None) -> HLSSession | None:
        """The channel's current (or lingering) HLS session; with ``session_id``, that one."""
        if session_id is None:
            return self._current.get(channel)
        return self._all.get((channel, session_id))

    def player_seen(self, channel: str, session: HLSSession | None, key: str, now: float) -> None:
        """A player fetched a media playlist of ``channel`` here: of ``session``, this
        host's, or (``None``) relayed from the channel's origin on another host."""
        if self.shared is None:
            if session is not None:
                self.viewers.seen(session.stream, key, now, session.target_duration_s)
            return
        players = self._players.get(channel)
        if players is None:
            if len(self._players) >= MAX_PLAYER_CHANNELS:
                return
            players = self._players[channel] = set()
        if len(players) < MAX_SESSIONS_PER_STREAM:
            players.add(key)

    async def player_left(self, channel: str, key: str) -> None:
        """A player of ``channel`` ended its playback session (it stopped, or switched to
        another protocol): it counts no more, here and, in a cluster, on the site."""
        if self.shared is None:
            session = self.session(channel)
            if session is not None:
                self.viewers.left(session.stream, key)
            return
        players = self._players.get(channel)
        if players is not None:
            players.discard(key)  # seen since the last tick: not to be sent after all
        site = self.shared()
        if site is None:
            return
        with trio.move_on_after(VIEWER_TICK_S):
            try:
                await site.player_left(channel, key)
            except redis_errors() as exc:
                # It is counted until its reloads are missed, as if it had not said so.
                logger.warning("cannot end an HLS playback session of %s: %r", channel, exc)

    async def run(
        self,
        registry: StreamRegistry,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        self.registry = registry
        root = self.root
        # A previous run's live output is stale: no session of it survives a restart.
        await trio.to_thread.run_sync(lambda: shutil.rmtree(root, ignore_errors=True))
        await trio.to_thread.run_sync(lambda: root.mkdir(parents=True, exist_ok=True))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._count_viewers)
            task_status.started()
            while True:
                await trio.sleep(JANITOR_INTERVAL_S)
                await self.sweep(trio.current_time())

    async def _count_viewers(self) -> None:
        while True:
            await trio.sleep(VIEWER_TICK_S)
            if self.shared is None:
                self.viewers.tick(trio.current_time())
                continue
            site = self.shared()
            seen, self._players = self._players, {}
            if site is None:
                continue
            with trio.move_on_after(VIEWER_TICK_S):
                try:
                    await self._count_site_viewers(site, seen)
                except redis_errors() as exc:
                    # The counts stay as last read until Redis answers again.
                    logger.warning("cannot count the site's HLS viewers: %r", exc)

    async def _count_site_viewers(self, site: SiteHLS, seen: dict[str, set[str]]) -> None:
        for channel, players in seen.items():
            await site.players_seen(channel, players)
        for session in list(self._current.values()):
            if session.ended:
                continue
            window_s = ALIVE_TARGETS * session.target_duration_s + ALIVE_SLACK_S
            count = await site.players(session.channel, window_s)
            session.stream.set_external_viewers(PROTOCOL, count)

    async def sweep(self, now: float) -> None:
        """Delete ended sessions older than :data:`LINGER_S`."""
        for key, session in list(self._all.items()):
            if session.ended_at is None or now - session.ended_at < LINGER_S:
                continue
            del self._all[key]
            if self._current.get(session.channel) is session:
                del self._current[session.channel]
            await trio.to_thread.run_sync(
                partial(shutil.rmtree, session.directory, ignore_errors=True)
            )

    async def session_worker(self, stream: LiveStream) -> None:
        session = HLSSession(self, stream)
        ladder = None
        if self.ladder_settings.rungs:
            ladder = Ladder(
                self.ladder_settings,
                session,
                channel=stream.channel,
                source=session.source,
                stats=stream.stats,
                covered=partial(covered_heights, stream),
                outlet=stream,
            )
        # A session that comes back to this host (from another, in a cluster) writes in
        # the directory its earlier part left here: the later part's sweep removes both.
        self._current[stream.channel] = session
        self._all[(stream.channel, stream.session_id)] = session
        subscriber = stream.subscribe_session(max_bytes=SESSION_QUEUE_BYTES)
        try:
            await session.run(subscriber, ladder)
        finally:
            stream.unsubscribe(subscriber)
            with trio.move_on_after(ENDLIST_DEADLINE_S, shield=True):
                try:
                    await session.finish()
                except OSError:
                    logger.exception("%s: could not finalise the HLS output", stream.channel)
            session.ended = True
            session.ended_at = trio.current_time()
            logger.info("%s: HLS session %d finished", stream.channel, stream.session_id)
