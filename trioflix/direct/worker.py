"""hypercorn's Trio worker with trioflix's front door in front of its connection handler.

Each accepted connection goes to :func:`trioflix.direct.front.handle_connection`,
which serves the direct routes itself and hands everything else to hypercorn;
hypercorn's HTTP/1.1 connections keep request trailers for the app. The worker
loop, lifespan, graceful shutdown and connection handling are hypercorn's own,
reached through :mod:`trioflix.asgi_internals` (which says what it relies on),
so the ASGI side behaves exactly as under ``hypercorn.trio.serve``;
tests/trioflix/test_direct.py covers both.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import trio

from trioflix.asgi_internals import serve_with_front_door
from trioflix.direct.front import handle_connection
from trioflix.direct.routes import DirectRoutes

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from hypercorn.config import Config

    from trioflix.state import TrioflixApp

__all__ = ["serve"]


async def serve(
    app: TrioflixApp,
    config: Config,
    *,
    shutdown_trigger: Callable[[], Awaitable[None]],
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` on ``config.bind`` until ``shutdown_trigger`` returns.

    Raises:
        UnsupportedSettingError: ``config`` asks for what this worker does not
            offer (TLS, QUIC, ``max_requests``, several workers).
    """
    routes = DirectRoutes(app.trioflix)
    app.trioflix.request_trailers = True  # serve_with_front_door keeps them
    front_door = partial(
        handle_connection, route_for=routes.route_for, head_timeout=config.keep_alive_timeout
    )
    await serve_with_front_door(
        app,
        config,
        front_door,
        on_stop=routes.close_all,
        shutdown_trigger=shutdown_trigger,
        task_status=task_status,
    )
