"""The quart-trio application and its lifespan: the service nursery starts here.

``create_app(settings)`` builds the app and its services
(:func:`trioflix.services.build_state`) without doing I/O. At ASGI lifespan
startup (``trioflix serve`` or plain ``hypercorn -k trio trioflix.asgi:app``) the
app starts :func:`trioflix.services.run_services` in quart-trio's lifespan
nursery; at shutdown it cancels that scope and waits for the services to finish
their shielded cleanup.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import trio
from quart import g, request

from trioflix.access import record_request
from trioflix.api import register_blueprints
from trioflix.api._http import refuse_nul_in_url
from trioflix.api.cors import add_cors_headers, answer_preflight
from trioflix.api.security_headers import (
    add_security_headers,
    content_security_policy,
    media_origins,
)
from trioflix.errors import install_error_handlers
from trioflix.forwarded import ForwardedMiddleware
from trioflix.logs import new_request_id, request_id
from trioflix.services import build_state, run_services
from trioflix.state import TrioflixApp

if TYPE_CHECKING:
    from quart import Response

    from trioflix.config import Settings

__all__ = ["create_app"]

MAX_JSON_BODY_BYTES = 64 * 1024  # API bodies are small; uploads go through TUS


def create_app(settings: Settings) -> TrioflixApp:
    """The app for ``settings``, with every service built (no I/O) and none running yet."""
    app = TrioflixApp(__name__)
    app.trioflix = build_state(settings)
    app.config["MAX_CONTENT_LENGTH"] = MAX_JSON_BODY_BYTES
    app.config["JSON_SORT_KEYS"] = False
    install_error_handlers(app)
    register_blueprints(app)
    if settings.trusted_proxies:
        # Quart's place for middleware: every request and websocket sees the client
        # the trusted proxies name (trioflix.forwarded).
        app.asgi_app = ForwardedMiddleware(app.asgi_app, settings.trusted_proxies)  # type: ignore[method-assign]
    policy = content_security_policy(media_origins(settings))

    @app.before_serving
    async def _start_services() -> None:
        app.services_done = trio.Event()
        try:
            app.services_scope = await app.nursery.start(
                run_services, app.trioflix, app.services_done
            )
        except Exception as exc:
            # The ASGI lifespan passes on only its text; trioflix serve raises it.
            app.startup_error = exc
            raise

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
        refuse_nul_in_url()

    @app.before_request
    async def _preflight() -> Response | None:
        return answer_preflight(settings.cors_origins)

    @app.after_request
    async def _finish(response: Response) -> Response:
        started = getattr(g, "started", None)
        elapsed = time.perf_counter() - started if started is not None else 0.0
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        rid = getattr(g, "request_id", None)
        if rid is not None:
            response.headers["X-Request-ID"] = rid
        add_security_headers(response, policy)
        add_cors_headers(response, settings.cors_origins)
        record_request(
            app.trioflix.metrics,
            request.method,
            request.path,
            route,
            response.status_code,
            elapsed,
            rid,
            request.remote_addr,
        )
        return response

    return app
