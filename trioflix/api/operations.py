"""Health and metrics endpoints for operators and orchestrators."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response

from trioflix.state import state
from trioflix.store import StoreUnavailable

__all__ = ["blueprint"]

blueprint = Blueprint("operations", __name__)

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@blueprint.get("/healthz")
async def healthz() -> tuple[dict[str, Any], int]:
    app_state = state()
    try:
        await app_state.db.ping()
    except StoreUnavailable:
        error = {"code": "database_unavailable", "message": "the database does not answer"}
        return {"status": "unavailable", "error": error}, 503
    return {"status": "ok", "database": app_state.db.dialect}, 200


@blueprint.get("/metrics")
async def metrics() -> Response:
    return Response(state().metrics.render(), content_type=PROMETHEUS_CONTENT_TYPE)
