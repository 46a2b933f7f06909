"""The service nursery: everything long-lived that is not an HTTP request.

It owns the database (for PostgreSQL, the trio-asyncio loop as well), and it is
where the RTMP listener, the processing workers, the chat hub and housekeeping
hang (see docs/architecture.md). Cancelling its scope stops them all; each one
does its own shielded, time-bounded cleanup.
"""

from __future__ import annotations

import logging
import socket
from functools import partial
from typing import TYPE_CHECKING

import trio

from trioflix.api.hls import hls_hub
from trioflix.auth.tokens import TokenIssuer, load_or_create_secret
from trioflix.chat import limits as chat_limits
from trioflix.chat.hub import ChatHub
from trioflix.chat.metrics import expose as expose_chat_metrics
from trioflix.config import parse_address
from trioflix.jobs.worker import job_workers
from trioflix.live.channel.metrics import LiveCollector
from trioflix.live.channel.registry import StreamRegistry
from trioflix.live.channel.webhooks import Webhooks
from trioflix.live.hls.playback_sessions import live_viewer_counts
from trioflix.live.recording.recorder import Recorder
from trioflix.live.rtmp.read_clock import ReadClock
from trioflix.live.rtmp.server import serve_rtmp
from trioflix.store import open_database
from trioflix.uploads.background import run_upload_services

if TYPE_CHECKING:
    from trioflix.app import AppState
    from trioflix.store import Database

__all__ = ["run_services"]


async def _start_live(nursery: trio.Nursery, app_state: AppState, db: Database) -> None:
    """The stream registry, then the RTMP listener that feeds it."""
    settings = app_state.settings
    hub = hls_hub()
    recorder = Recorder(settings.data_dir, lambda: app_state.db, job_workers().wake)
    webhooks = Webhooks(settings.webhook_urls, settings.webhook_secret)
    await nursery.start(webhooks.run)
    app_state.webhooks = webhooks
    registry = StreamRegistry(
        db,
        node=f"{socket.gethostname()}/{settings.rtmp}",
        grace_s=settings.reconnect_grace,
        # Live HLS can be turned off for FLV-only deployments; recording always runs
        # (it is per stream key).
        session_workers=[hub.session_worker, recorder.session_worker]
        if settings.hls
        else [recorder.session_worker],
        webhooks=webhooks,
    )
    await nursery.start(hub.run, registry)
    await nursery.start(registry.run)
    await nursery.start(recorder.run)  # after the registry ended a crashed run's sessions
    app_state._registry = registry
    app_state.metrics.registry.register(LiveCollector(registry))
    if settings.rtmp_read_interval_ms:
        app_state.rtmp_read_clock = ReadClock(settings.rtmp_read_interval_ms / 1000)
        await nursery.start(app_state.rtmp_read_clock.run)
    app_state.rtmp_address = await nursery.start(
        partial(serve_rtmp, read_clock=app_state.rtmp_read_clock),
        parse_address(settings.rtmp, "TRIOFLIX_RTMP"),
        registry,
        db,
        webhooks,
    )


logger = logging.getLogger(__name__)


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
            secret = settings.jwt_secret
            if secret is None:
                secret = await trio.to_thread.run_sync(load_or_create_secret, settings.data_dir)
            async with open_database(settings) as db:
                app_state._db = db
                app_state._tokens = TokenIssuer(secret, settings.token_ttl)
                async with trio.open_nursery() as nursery:
                    await _start_live(nursery, app_state, db)
                    await nursery.start(run_upload_services)
                    chat = ChatHub(
                        db,
                        chat_limits.DEFAULT_LIMITS,
                        settings.redis_url,
                        live_viewers=partial(live_viewer_counts, app_state.registry),
                    )
                    await nursery.start(chat.run)
                    await nursery.start(expose_chat_metrics, app_state.metrics.registry, chat)
                    app_state._chat = chat
                    # Later services start here: processing workers, chat hub, housekeeping.
                    logger.info(
                        "services started",
                        extra={"database": db.dialect, "data_dir": str(settings.data_dir)},
                    )
                    task_status.started(scope)
                    await trio.sleep_forever()
    finally:
        app_state._db = None
        app_state._registry = None
        app_state._chat = None
        done.set()
        logger.info("services stopped")
