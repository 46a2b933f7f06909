"""hypercorn's Trio worker with trioflix's front door in front of its connection handler.

This is ``hypercorn.trio.run.worker_serve`` (hypercorn 0.18, pinned) for what
``trioflix serve`` uses (plain TCP listeners, no TLS, no QUIC), with two changes:
each accepted connection goes to :func:`trioflix.direct.front.handle_connection`,
which serves the direct routes itself and hands everything else to hypercorn's
``TCPServer``; and that ``TCPServer`` keeps request trailers for the app
(:mod:`trioflix.direct.trailers`). Lifespan, graceful shutdown and the connection handling are
hypercorn's own classes, so the ASGI side behaves exactly as under
``hypercorn.trio.serve``; tests/trioflix/test_direct.py covers both.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import trio
from hypercorn.trio.lifespan import Lifespan
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.typing import ConnectionState, LifespanState
from hypercorn.utils import ShutdownError, raise_shutdown, repr_socket_addr, wrap_app

from trioflix.direct.front import handle_connection
from trioflix.direct.routes import DirectRoutes
from trioflix.direct.trailers import TrailerKeepingTCPServer

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
    """Serve ``app`` on ``config.bind`` until ``shutdown_trigger`` returns."""
    asgi_app = wrap_app(app, config.wsgi_max_body_size, None)
    lifespan_state: LifespanState = {}
    lifespan = Lifespan(asgi_app, config, lifespan_state)
    context = WorkerContext(None)
    routes = DirectRoutes(app.trioflix, app.trioflix.uploads)
    app.trioflix.request_trailers = True  # TrailerKeepingTCPServer below

    async with trio.open_nursery() as lifespan_nursery:
        await lifespan_nursery.start(lifespan.handle_lifespan)
        await lifespan.wait_for_startup()

        async with trio.open_nursery() as server_nursery:
            sockets = config.create_sockets()
            listeners = []
            binds = []
            for sock in sockets.insecure_sockets:
                sock.listen(config.backlog)
                listeners.append(trio.SocketListener(trio.socket.from_stdlib_socket(sock)))
                bind = repr_socket_addr(sock.family, sock.getsockname())
                binds.append(f"http://{bind}")
                await config.log.info(f"Running on http://{bind} (CTRL + C to quit)")

            hand_over = partial(
                TrailerKeepingTCPServer,
                asgi_app,
                config,
                context,
                ConnectionState(lifespan_state.copy()),
            )
            handler = partial(
                handle_connection,
                route_for=routes.route_for,
                hand_over=hand_over,
                head_timeout=config.keep_alive_timeout,
            )
            task_status.started(binds)
            try:
                async with trio.open_nursery(strict_exception_groups=True) as nursery:
                    nursery.start_soon(raise_shutdown, shutdown_trigger)
                    nursery.start_soon(raise_shutdown, context.terminate.wait)
                    nursery.start_soon(
                        partial(
                            trio.serve_listeners, handler, listeners, handler_nursery=server_nursery
                        )
                    )
                    await trio.sleep_forever()
            except BaseExceptionGroup as error:
                _, other_errors = error.split((ShutdownError, KeyboardInterrupt))
                if other_errors is not None:
                    raise other_errors from None
            finally:
                await context.terminated.set()
                routes.close_all()
                server_nursery.cancel_scope.deadline = trio.current_time() + config.graceful_timeout

        await lifespan.wait_for_shutdown()
        lifespan_nursery.cancel_scope.cancel()
