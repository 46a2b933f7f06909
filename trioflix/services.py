"""The service nursery: everything long-lived that is not an HTTP request.

It owns the database (for PostgreSQL, the trio-asyncio loop as well), and it is
where the RTMP listener, the processing workers, the chat hub and housekeeping
hang (see docs/architecture.md). Cancelling its scope stops them all; each one
does its own shielded, time-bounded cleanup.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import trio

from trioflix.auth.tokens import TokenIssuer, load_or_create_secret
from trioflix.store import open_database

if TYPE_CHECKING:
    from trioflix.app import AppState

__all__ = ["run_services"]

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
                async with trio.open_nursery():
                    # Later services start here: RTMP listener, processing workers,
                    # chat hub, housekeeping.
                    logger.info(
                        "services started",
                        extra={"database": db.dialect, "data_dir": str(settings.data_dir)},
                    )
                    task_status.started(scope)
                    await trio.sleep_forever()
    finally:
        app_state._db = None
        done.set()
        logger.info("services stopped")
