"""Structured logs: one JSON object per line, carrying the request id of the request in flight."""

from __future__ import annotations

import json
import logging
import re
import secrets
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

__all__ = [
    "JSONFormatter",
    "configure_logging",
    "new_request_id",
    "quiet_coredis_connection_errors",
    "request_id",
]

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def new_request_id(incoming: str) -> str:
    """The id of a request: the client's ``X-Request-ID`` if it is a sane one (a proxy's
    id keeps its value across hops), else a random one."""
    return incoming if _REQUEST_ID.match(incoming) else secrets.token_hex(8)


_RESERVED = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = getattr(record, "request_id", None) or request_id.get()
        if rid is not None:
            entry["request_id"] = rid
        # Fields passed with ``extra={...}``.
        for key, value in record.__dict__.items():
            if key not in _RESERVED and key != "request_id" and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str) -> None:
    """Send every logger's records, as JSON lines, to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    quiet_coredis_connection_errors()


# coredis logs this at ERROR, with its traceback, whenever a connection it opens fails
# before its handshake ends (Redis restarting, or stopping under load). The callers see
# the failure as an exception and report the outage once, at WARNING; one ERROR line
# per failed connection would make every Redis restart look like a bug in the server.
_COREDIS_CONNECT_FAILED = "Connection attempt failed unexpectedly!"


class _CoredisConnectFailure(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == _COREDIS_CONNECT_FAILED and record.levelno > logging.DEBUG:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


def quiet_coredis_connection_errors() -> None:
    """Log coredis' own ``Connection attempt failed unexpectedly!`` at DEBUG, not ERROR.

    The logger is named, not imported: coredis need not be loaded (nor ever be).
    Installing the filter again changes nothing.
    """
    coredis_logger = logging.getLogger("coredis")
    if not any(isinstance(f, _CoredisConnectFailure) for f in coredis_logger.filters):
        coredis_logger.addFilter(_CoredisConnectFailure())
