"""Every service of the app, built from the settings and run in the service nursery.

:func:`build_state` builds the services when the app is created, without I/O,
and returns the :class:`~trioflix.state.AppState` that the routes read.
:func:`run_services` runs from ASGI lifespan startup to shutdown: once this
host's place in the site is checked (:func:`trioflix.cluster.site.join_site`: a
cluster's settings and peers), it opens the object store and probes it
(:func:`trioflix.storage.probe_object_store`: write, read back, delete), then
the database (for PostgreSQL, the trio-asyncio loop as well), builds the services
that need it (stream registry, chat hub) and starts every service's task in the
service nursery (docs/architecture.md, "The nursery tree"). Cancelling its scope
stops them all; each one does its own shielded, time-bounded cleanup.
"""

from __future__ import annotations

import logging
import socket
from functools import partial
from typing import TYPE_CHECKING

import trio

from trioflix.allocator import release_free_memory
from trioflix.allocator import tuned as malloc_tuned
from trioflix.auth.ratelimit import FailureLimiter
from trioflix.auth.tokens import TokenIssuer, load_or_create_secret
from trioflix.chat import limits as chat_limits
from trioflix.chat.announcements import announce_scheduled_start
from trioflix.chat.hub import ChatHub
from trioflix.chat.metrics import expose as expose_chat_metrics
from trioflix.cluster.checks import Mode
from trioflix.cluster.lease import LeaseRefused
from trioflix.cluster.pull_auth import PullTokens
from trioflix.cluster.site import SiteUnavailable, join_site
from trioflix.config import parse_address
from trioflix.jobs.worker import JobWorkers
from trioflix.live.channel.ingest import ingest_figures
from trioflix.live.channel.metrics import LiveCollector
from trioflix.live.channel.orphans import OrphanSweeper
from trioflix.live.channel.registry import PublishRefused, StreamRegistry
from trioflix.live.channel.schedule import run_missed_sweep
from trioflix.live.channel.webhooks import Webhooks
from trioflix.live.edge.hls_proxy import HLSProxy
from trioflix.live.edge.lookup import LiveChannels
from trioflix.live.edge.relays import EdgeRelays
from trioflix.live.hls.hub import HLSHub
from trioflix.live.hls.playback_sessions import live_viewer_counts
from trioflix.live.recording.recorder import Recorder
from trioflix.live.rtmp.read_clock import ReadClock
from trioflix.live.rtmp.server import serve_rtmp
from trioflix.live.webrtc.publishers import WHIPSessions
from trioflix.live.webrtc.sessions import WHEPSessions
from trioflix.media.covers import adopt_database_covers
from trioflix.media.legacy import adopt_legacy_videos
from trioflix.media.live_thumbnails import ThumbnailCache
from trioflix.media.processing import clear_work_dirs, recording_job_type, video_job_type
from trioflix.metrics import probe_runtime
from trioflix.state import AppState
from trioflix.storage import open_object_store, probe_object_store
from trioflix.store import StoreError, live_sessions, open_database
from trioflix.uploads.background import run_upload_services
from trioflix.uploads.service import Uploads

if TYPE_CHECKING:
    from collections.abc import Callable

    from trioflix.cluster.members import IngestFigure
    from trioflix.cluster.site import Site
    from trioflix.config import Settings
    from trioflix.live.channel.registry import ClaimOrigin, OriginClaim
    from trioflix.live.channel.stream import LiveStream
    from trioflix.storage import ObjectStore
    from trioflix.store import Database
    from trioflix.store.schedule import ScheduleEntry

__all__ = ["build_state", "run_services"]

logger = logging.getLogger(__name__)


def build_state(settings: Settings) -> AppState:
    """Build the services from ``settings`` (no I/O) and the state that holds them."""

    def db() -> Database:
        # Opened by run_services at startup; the services look it up when they use it.
        return app_state.db

    jobs = JobWorkers(db, concurrency=settings.media_workers)

    def objects() -> ObjectStore:
        return app_state.objects

    uploads = Uploads(settings, db, lambda: app_state.request_trailers, jobs.wake, objects)
    memory_limit = (
        None if settings.media_memory_limit is None else settings.media_memory_limit * 1024**2
    )
    jobs.register(
        video_job_type(
            db,
            objects,
            settings.host_dir,
            uploads.hub,
            keep_originals=settings.keep_originals,
            memory_limit=memory_limit,
        )
    )
    jobs.register(
        recording_job_type(
            db, objects, settings.host_dir, uploads.hub, jobs.wake, memory_limit=memory_limit
        )
    )
    read_interval_s = settings.rtmp_read_interval_ms / 1000
    webhooks = Webhooks(settings.webhook_urls, settings.webhook_secret)
    whep = WHEPSessions(settings, webhooks)
    app_state = AppState(
        settings=settings,
        hls=HLSHub(settings),
        jobs=jobs,
        uploads=uploads,
        thumbnails=ThumbnailCache(),
        webhooks=webhooks,
        whep=whep,
        whip=WHIPSessions(settings, whep),
        publish_key_guesses=FailureLimiter(
            limit=settings.rtmp_key_failures, window_s=settings.rtmp_key_window
        ),
        recorder=Recorder(db, objects, jobs.wake, spool_dir=settings.host_dir / "recordings"),
        rtmp_read_clock=ReadClock(read_interval_s) if read_interval_s else None,
    )
    return app_state


def _served(app_state: AppState) -> list[LiveStream]:
    """The channels live on this host that it serves to the site: not those whose
    origin lease it lost to a Redis outage and has not been granted again."""
    registry = app_state._registry
    if registry is None:
        return []
    return [s for s in registry.live() if registry.origin_epoch(s.channel) is not None]


def _serving(app_state: AppState) -> dict[str, dict[str, int]]:
    """The channels this host serves and their viewers by protocol, for its member record."""
    return {stream.channel: stream.viewers_by_protocol() for stream in _served(app_state)}


def _ingesting(app_state: AppState) -> dict[str, dict[str, IngestFigure]]:
    """The ingest figures of the channels this host serves, for its member record."""
    return {stream.channel: ingest_figures(stream) for stream in _served(app_state)}


def _live_viewers(app_state: AppState, channel: str) -> dict[str, int] | None:
    """``channel``'s viewers on the whole site, shaped for the chat's frames."""
    channels = app_state._channels
    here = channels.viewers_here(channel) if channels is not None else None
    return live_viewer_counts(app_state.site.viewers(channel, here))


def _relaying(app_state: AppState) -> dict[str, dict[str, int]]:
    """The channels this host relays from their origins and their viewers here by protocol."""
    channels = app_state._channels
    relayed = channels.relayed() if channels is not None else []
    return {stream.channel: stream.viewers_by_protocol() for stream in relayed}


def _origin_claims(site: Site, db: Database) -> ClaimOrigin:
    """How the stream registry makes this host a channel's origin in the cluster."""

    async def claim(
        channel: str, user_id: int, key_id: int, on_superseded: Callable[[], None]
    ) -> OriginClaim:
        async def same_key() -> bool:
            # The stored session is the site's: whichever host the channel is live
            # on (or waiting for its encoder), the key it is live from is there.
            current = await live_sessions.active_session(db, user_id)
            return (
                current is not None
                and current.state in ("live", "reconnecting")
                and current.key_id == key_id
            )

        async def resume(epoch: int) -> bool:
            try:
                return await live_sessions.serve_under(db, user_id, epoch)
            except StoreError:
                return True  # cannot tell: go on serving; the session's writes stay fenced

        try:
            return await site.claim_origin(channel, same_key, on_superseded, resume)
        except LeaseRefused as exc:
            raise PublishRefused(
                "NetStream.Publish.BadName",
                f"{channel} is already live from another key on {exc.holder.advertise_url}",
            ) from None
        except SiteUnavailable as exc:
            raise PublishRefused(
                "NetStream.Publish.BadName",
                f"cannot tell whether {channel} is live on another host: {exc}",
            ) from None

    return claim


async def _announce_scheduled_start(
    app_state: AppState, channel: str, entry: ScheduleEntry
) -> None:
    """Tell the channel's chat room that its scheduled stream went live."""
    try:
        await announce_scheduled_start(app_state.chat, channel, entry.public(channel))
    except Exception:  # the stream is live either way; a lost announcement is logged
        logger.exception("%s: could not announce its scheduled stream in chat", channel)


async def _start_live(nursery: trio.Nursery, app_state: AppState, db: Database, site: Site) -> None:
    """The stream registry, then the RTMP listener that feeds it."""
    settings = app_state.settings
    hub, recorder, webhooks = app_state.hls, app_state.recorder, app_state.webhooks
    await nursery.start(webhooks.run)
    registry = StreamRegistry(
        db,
        node=f"{socket.gethostname()}/{settings.rtmp}",
        grace_s=settings.reconnect_grace,
        stop_cooldown_s=settings.stop_cooldown,
        # Live HLS can be turned off for FLV-only deployments; recording always runs
        # (it is per stream key).
        session_workers=[hub.session_worker, recorder.session_worker]
        if settings.hls
        else [recorder.session_worker],
        webhooks=webhooks,
        claim_origin=_origin_claims(site, db) if site.mode is Mode.CLUSTER else None,
        schedule_window=settings.schedule_window,
        on_scheduled_start=lambda channel, entry: nursery.start_soon(
            _announce_scheduled_start, app_state, channel, entry
        ),
    )
    if site.mode is Mode.CLUSTER:  # HLS numbering and viewers are the site's
        hub.shared = lambda: site.hls
    await nursery.start(hub.run, registry)
    await nursery.start(registry.run)
    await nursery.start(run_missed_sweep, db, app_state.objects, settings.schedule_window[1])
    # After the registry ended a crashed run's sessions: the recorder hands them off.
    await nursery.start(recorder.run, registry.node)
    relays = None
    if site.mode is Mode.CLUSTER:  # viewers here of channels whose origin is another host
        relays = EdgeRelays(
            origin_of=site.origin_of,
            this_host=site.host.id,
            tokens=app_state.pull_tokens,
            idle_s=settings.edge_idle,
            read_interval_s=settings.edge_read_interval_ms / 1000,
        )
        await nursery.start(relays.run)
        orphans = OrphanSweeper(
            db,
            origin_of=site.origin_of,
            here=lambda channel: registry.state_of(channel) is not None,
            grace_s=settings.reconnect_grace,
            webhooks=webhooks,
            hand_off=recorder.hand_off,
        )
        await nursery.start(orphans.run)
        if settings.hls:
            app_state.hls_proxy = HLSProxy()
            await nursery.start(app_state.hls_proxy.run)
    app_state._registry = registry
    app_state._channels = LiveChannels(registry, relays)
    await nursery.start(app_state.whep.run)
    app_state.metrics.registry.register(LiveCollector(registry, app_state.channels.relayed))
    if app_state.rtmp_read_clock is not None:
        await nursery.start(app_state.rtmp_read_clock.run)
    app_state.rtmp_address = await nursery.start(
        partial(
            serve_rtmp,
            read_clock=app_state.rtmp_read_clock,
            find_live=app_state.channels.find,
            key_guesses=app_state.publish_key_guesses,
            trusted_proxies=settings.trusted_proxies,
        ),
        parse_address(settings.rtmp, "TRIOFLIX_RTMP"),
        registry,
        db,
        webhooks,
    )


async def run_services(
    app_state: AppState,
    done: trio.Event,
    *,
    task_status: trio.TaskStatus[trio.CancelScope] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Open storage, then run the services until cancelled.

    ``task_status.started`` hands back the cancel scope that stops them; ``done``
    is set once everything has been cleaned up.
    """
    settings = app_state.settings
    try:
        with trio.CancelScope() as scope:
            # First, before anything is opened or written: a refusal raised here is
            # the lifespan's startup error as it is, with what to set.
            site = await join_site(
                settings,
                partial(_serving, app_state),
                partial(_ingesting, app_state),
                partial(_relaying, app_state),
            )
            # Next, before any service: storage that cannot be written, read back
            # and emptied refuses the start (StorageProbeError), not the first upload.
            async with open_object_store(settings.storage(), data_dir=settings.data_dir) as objects:
                await probe_object_store(objects)
                app_state._objects = objects
                await _run_with_storage(app_state, site, scope, task_status)
    finally:
        app_state._db = None
        app_state._registry = None
        app_state._channels = None
        app_state._chat = None
        app_state._site = None
        app_state._objects = None
        app_state.hls_proxy = None
        app_state.metrics.pool_use = None
        app_state.metrics.job_depths = None
        done.set()
        logger.info("services stopped")


async def _run_with_storage(
    app_state: AppState,
    site: Site,
    scope: trio.CancelScope,
    task_status: trio.TaskStatus[trio.CancelScope],
) -> None:
    """Open the database and run every service in the service nursery until cancelled."""
    settings = app_state.settings
    secret = settings.jwt_secret
    if secret is None:
        secret = await trio.to_thread.run_sync(load_or_create_secret, settings.data_dir)
    async with open_database(settings) as db:
        # Before the job workers: videos from before the object store move into it.
        await adopt_legacy_videos(db, app_state.objects, settings.data_dir)
        # Before the routes serve: covers kept in the database move into the store.
        await adopt_database_covers(db, app_state.objects)
        await clear_work_dirs(settings.host_dir)
        app_state._db = db
        app_state._tokens = TokenIssuer(secret, settings.token_ttl, settings.jwt_previous_secrets)
        app_state._site = site  # before the chat hub: its ticks sum through it
        app_state._pull_tokens = PullTokens(secret)
        jobs, metrics = app_state.jobs, app_state.metrics
        metrics.pool_use = db.pool_use
        metrics.job_depths = lambda: (jobs.queued, jobs.running)
        async with trio.open_nursery() as nursery:
            await nursery.start(probe_runtime, metrics)
            if malloc_tuned():  # a server process: its policy, not a test run's
                await nursery.start(release_free_memory)
            if site.mode is Mode.CLUSTER:  # before publishers: they claim through it
                await nursery.start(site.run)
            await _start_live(nursery, app_state, db, site)
            await nursery.start(run_upload_services, app_state.uploads, app_state.jobs)
            chat = ChatHub(
                db,
                chat_limits.DEFAULT_LIMITS,
                settings.redis_url,
                live_viewers=partial(_live_viewers, app_state),
            )
            await nursery.start(chat.run)
            await nursery.start(expose_chat_metrics, app_state.metrics.registry, chat)
            app_state._chat = chat
            logger.info(
                "services started",
                extra={
                    "database": db.dialect,
                    "data_dir": str(settings.data_dir),
                    "storage": app_state.objects.location,
                    "mode": site.mode.value,
                    "host": site.host.id,
                },
            )
            task_status.started(scope)
            await trio.sleep_forever()
