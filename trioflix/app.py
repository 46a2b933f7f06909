"""The quart-trio application and its lifespan: the service nursery starts here.

``create_app(settings)`` builds the app without doing I/O. At ASGI lifespan
startup (``trioflix serve`` or plain ``hypercorn -k trio trioflix.asgi:app``) the
app starts :func:`trioflix.services.run_services` in quart-trio's lifespan
nursery; at shutdown it cancels that scope and waits for the services to finish
their shielded cleanup.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

import trio
from quart import current_app, g, request
from quart_trio import QuartTrio

from trioflix.auth.ratelimit import FailureLimiter
from trioflix.errors import install_error_handlers
from trioflix.logs import new_request_id, request_id
from trioflix.metrics import Metrics

if TYPE_CHECKING:
    from quart import Response

    from trioflix.auth.tokens import TokenIssuer
    from trioflix.chat.hub import ChatHub
    from trioflix.config import Settings
    from trioflix.live.channel.registry import StreamRegistry
    from trioflix.live.channel.webhooks import Webhooks
    from trioflix.live.rtmp.read_clock import ReadClock
    from trioflix.store import Database

__all__ = ["AppState", "TrioflixApp", "create_app", "record_request", "state"]

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("trioflix.access")

MAX_JSON_BODY_BYTES = 64 * 1024  # API bodies are small; uploads go through TUS
LOGIN_FAILURES_PER_NAME = 5  # per 5 minutes: slows guessing to ~1,400 tries a day
LOGIN_FAILURES_PER_ADDRESS = 20
LOGIN_WINDOW_S = 300.0


@dataclass
class AppState:
    """What routes need at run time. ``db`` and ``tokens`` are set by the services at startup."""

    settings: Settings
    metrics: Metrics = field(default_factory=Metrics)
    login_names: FailureLimiter = field(
        default_factory=lambda: FailureLimiter(
            limit=LOGIN_FAILURES_PER_NAME, window_s=LOGIN_WINDOW_S
        )
    )
    login_addresses: FailureLimiter = field(
        default_factory=lambda: FailureLimiter(
            limit=LOGIN_FAILURES_PER_ADDRESS, window_s=LOGIN_WINDOW_S
        )
    )
    _db: Database | None = None
    _tokens: TokenIssuer | None = None
    _registry: StreamRegistry | None = None
    rtmp_address: tuple[str, int] | None = None  # as bound (port 0 becomes a real port)
    rtmp_read_clock: ReadClock | None = None  # None: TRIOFLIX_RTMP_READ_INTERVAL_MS=0
    webhooks: Webhooks | None = None
    # Connections served on the socket by ``trioflix serve`` (trioflix.direct); 0 under hypercorn.
    direct_connections: int = 0
    # Request trailers reach the app (trioflix.direct.trailers): tus checksum-trailer.
    request_trailers: bool = False
    _chat: ChatHub | None = None

    @property
    def db(self) -> Database:
        assert self._db is not None, "services not started"
        return self._db

    @property
    def tokens(self) -> TokenIssuer:
        assert self._tokens is not None, "services not started"
        return self._tokens

    @property
    def registry(self) -> StreamRegistry:
        assert self._registry is not None, "services not started"
        return self._registry

    @property
    def chat(self) -> ChatHub:
        assert self._chat is not None, "services not started"
        return self._chat


class TrioflixApp(QuartTrio):
    trioflix: AppState
    services_scope: trio.CancelScope | None = None
    services_done: trio.Event | None = None


def record_request(
    metrics: Metrics,
    method: str,
    path: str,
    route: str,
    status: int,
    elapsed_s: float,
    rid: str | None,
) -> None:
    """Count a request in ``/metrics`` and write its access-log line."""
    metrics.http_requests.labels(route, method, str(status)).inc()
    metrics.http_duration.labels(route).observe(elapsed_s)
    access_logger.info(
        "%s %s %d",
        method,
        path,
        status,
        extra={"duration_ms": round(elapsed_s * 1000, 2), "route": route, "request_id": rid},
    )


def state() -> AppState:
    """The running app's :class:`AppState` (inside a request or lifespan context)."""
    return cast("TrioflixApp", current_app).trioflix


def create_app(settings: Settings) -> TrioflixApp:
    from trioflix.api import register_blueprints
    from trioflix.services import run_services

    app = TrioflixApp(__name__)
    app.trioflix = AppState(settings=settings)
    app.config["MAX_CONTENT_LENGTH"] = MAX_JSON_BODY_BYTES
    app.config["JSON_SORT_KEYS"] = False
    install_error_handlers(app)
    register_blueprints(app)

    @app.before_serving
    async def _start_services() -> None:
        app.services_done = trio.Event()
        app.services_scope = await app.nursery.start(run_services, app.trioflix, app.services_done)

    @app.after_serving
    async def _stop_services() -> None:
        if app.services_scope is not None and app.services_done is not None:
            app.services_scope.cancel()
            await app.services_done.wait()

    @app.before_request
    async def _begin() -> None:
        rid = new_request_id(request.headers.get("X-Request-ID", ""))
        request_id.set(rid)
        g.request_id = rid
        g.started = time.perf_counter()

    @app.after_request
    async def _finish(response: Response) -> Response:
        started = getattr(g, "started", None)
        elapsed = time.perf_counter() - started if started is not None else 0.0
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        rid = getattr(g, "request_id", None)
        if rid is not None:
            response.headers["X-Request-ID"] = rid
        record_request(
            app.trioflix.metrics,
            request.method,
            request.path,
            route,
            response.status_code,
            elapsed,
            rid,
        )
        return response

    return app
