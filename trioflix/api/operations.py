"""Health and metrics endpoints for operators and orchestrators."""

from __future__ import annotations

from typing import Any

import trio
from quart import Blueprint, Response, current_app

from trioflix.state import state
from trioflix.store import StoreUnavailable
from trioflix.version import VERSION, source_commit

__all__ = ["blueprint"]

blueprint = Blueprint("operations", __name__)

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_COMMIT_KEY = "TRIOFLIX_COMMIT"


@blueprint.before_app_serving
async def _read_commit() -> None:
    # git runs once, in a thread, rather than on the first health check.
    current_app.config[_COMMIT_KEY] = await trio.to_thread.run_sync(source_commit)


@blueprint.get("/healthz")
async def healthz() -> tuple[dict[str, Any], int]:
    app_state = state()
    build = {"version": VERSION, "commit": current_app.config.get(_COMMIT_KEY)}
    try:
        await app_state.db.ping()
    except StoreUnavailable:
        error = {"code": "database_unavailable", "message": "the database does not answer"}
        return {"status": "unavailable", "error": error, **build}, 503
    return {"status": "ok", "database": app_state.db.dialect, **build}, 200


@blueprint.get("/metrics")
async def metrics() -> Response:
    return Response(state().metrics.render(), content_type=PROMETHEUS_CONTENT_TYPE)
