"""``trioflix serve``: hypercorn's Trio worker serving the app, stopped by SIGINT/SIGTERM."""

from __future__ import annotations

import gc
import logging
import signal
from typing import TYPE_CHECKING

import trio
from hypercorn.config import Config

from trioflix.app import create_app
from trioflix.config import ConfigError
from trioflix.direct.worker import serve

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from trioflix.config import Settings
    from trioflix.state import TrioflixApp

__all__ = ["hypercorn_config", "serve_app", "tune_gc", "wait_for_signal"]

logger = logging.getLogger(__name__)

GRACEFUL_TIMEOUT_S = 3.0  # open requests get this long after SIGTERM; a stop takes < 5 s
# Net new container objects before a young garbage collection (CPython's default: 700).
# A chat fan-out keeps ~40 objects alive per recipient until its socket write returns
# (1000 recipients: ~40,000), and a backlog keeps more. At 700, every fan-out ran dozens
# of young collections that promoted those short-lived objects, which triggered a full
# collection every ~1.5 s: 100-500 ms pauses that found almost nothing to free and set
# the chat's p99 (docs/benchmarks.md, "Chat"). Above the in-flight peak, a fan-out
# allocates and frees without collecting; cyclic garbage waits for at most this many
# objects (a few MiB).
GC_YOUNG_THRESHOLD = 100_000


def hypercorn_config(settings: Settings) -> Config:
    """hypercorn's settings for serving trioflix on ``settings.http``.

    Raises:
        ConfigError: ``settings.http`` is one that hypercorn would read as a
            ``unix:`` or ``fd://`` bind, not as the ``HOST:PORT`` it passed for.
    """
    if settings.http.startswith(("unix:", "fd://")):
        raise ConfigError(
            f"TRIOFLIX_HTTP must be a TCP HOST:PORT, got {settings.http!r}: trioflix serve"
            " does not listen on unix: or fd:// binds (plain hypercorn -k trio"
            " trioflix.asgi:app does, without the front door)"
        )
    config = Config()
    config.bind = [settings.http]
    config.graceful_timeout = GRACEFUL_TIMEOUT_S
    config.accesslog = None  # trioflix logs each request itself, with its request id
    config.errorlog = logging.getLogger("hypercorn.error")
    config.include_server_header = False
    return config


def tune_gc() -> None:
    """Garbage-collector policy for a server process: call once, after the imports.

    Freezes what exists now (modules, classes, the app: ~55,000 objects that live as
    long as the process) so that collections no longer scan it, and raises the young
    generation's threshold (:data:`GC_YOUNG_THRESHOLD`). Process-wide, so only the
    process entry points call it (``trioflix serve``, ``trioflix.asgi``), not the app:
    tests build many apps in one process.
    """
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


async def wait_for_signal() -> None:
    """Return on the first SIGINT or SIGTERM."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            logger.info("received %s; shutting down", signal.Signals(signum).name)
            return


async def serve_app(
    settings: Settings,
    *,
    app: TrioflixApp | None = None,
    shutdown_trigger: Callable[[], Awaitable[None]] = wait_for_signal,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve trioflix until ``shutdown_trigger`` returns.

    ``task_status.started`` reports the bound URLs (port 0 picks a free port).
    ``app`` is built from ``settings`` unless given (tests inspect its state).

    Raises:
        ConfigError: ``settings`` asks for what ``trioflix serve`` does not offer,
            before anything is started.
        Exception: what stopped the services from starting (e.g. a
            ``ClusterConfigError`` refusing to join the site), as they raised it.
    """
    config = hypercorn_config(settings)
    app = app or create_app(settings)
    try:
        await serve(app, config, shutdown_trigger=shutdown_trigger, task_status=task_status)
    except Exception:
        # hypercorn reports a failed lifespan startup by its text alone; the error
        # itself tells the command what to print and how to exit.
        if app.startup_error is not None:
            raise app.startup_error from None
        raise
