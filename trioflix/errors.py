"""The API's error shape, ``{"error": {"code", "message"}}``, and the handlers that enforce it.

A body that fails validation on one value adds ``"field"``: the JSON path of that
value (``"password"``, ``"items[2].name"``), so a form can show the message beside it.

Every failure reaches the client in that shape with a fitting status: our own
:class:`APIError`, Werkzeug's HTTP errors (unknown route, wrong method, body too
large), database and media storage outages (503), and, as a last resort, bugs (500, logged with the
traceback here, never sent to the client).
"""

from __future__ import annotations

import json
import logging
import re
from typing import TYPE_CHECKING

from quart import Response
from werkzeug.exceptions import HTTPException

from trioflix.storage import StorageUnavailable
from trioflix.store import StoreUnavailable

if TYPE_CHECKING:
    from quart import Quart

__all__ = ["APIError", "error_body", "error_response", "install_error_handlers"]

logger = logging.getLogger(__name__)


class APIError(Exception):
    """Raise in a route to answer ``status`` with a JSON error.

    Args:
        status: The HTTP status.
        code: The machine-readable ``error.code``.
        message: A sentence a person understands; the pages show it as it is.
        headers: Extra response headers (``Retry-After``).
        field: The path of the body value at fault, when there is one.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.field = field


def error_body(code: str, message: str, *, field: str | None = None) -> bytes:
    """The JSON body of an error answer (what Quart's ``jsonify`` writes)."""
    error = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    return json.dumps({"error": error}, separators=(",", ":")).encode() + b"\n"


def error_response(
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
    *,
    field: str | None = None,
) -> Response:
    response = Response(
        error_body(code, message, field=field), status, content_type="application/json"
    )
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _code_for(exc: HTTPException) -> str:
    # "Request Entity Too Large" -> "request_entity_too_large"
    return re.sub(r"[^a-z0-9]+", "_", (exc.name or "error").lower()).strip("_")


def install_error_handlers(app: Quart) -> None:
    @app.errorhandler(APIError)
    async def _api_error(exc: APIError) -> Response:
        return error_response(exc.status, exc.code, exc.message, exc.headers, field=exc.field)

    @app.errorhandler(HTTPException)
    async def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        headers = {}
        if status == 405 and exc.valid_methods:  # type: ignore[attr-defined]
            headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
        return error_response(status, _code_for(exc), exc.description or exc.name, headers)

    @app.errorhandler(StoreUnavailable)
    async def _store_unavailable(exc: StoreUnavailable) -> Response:
        logger.warning("database unavailable: %s", exc)
        return error_response(
            503,
            "database_unavailable",
            "the database is unavailable; try again shortly",
            {"Retry-After": "1"},
        )

    @app.errorhandler(StorageUnavailable)
    async def _storage_unavailable(exc: StorageUnavailable) -> Response:
        logger.warning("media storage unavailable: %s", exc)
        return error_response(
            503,
            "storage_unavailable",
            "media storage is unavailable; try again shortly",
            {"Retry-After": "5"},
        )

    @app.errorhandler(Exception)
    async def _bug(exc: Exception) -> Response:
        logger.error("unhandled error", exc_info=exc)
        return error_response(500, "internal_error", "internal server error")
