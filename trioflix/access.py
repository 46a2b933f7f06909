"""Each answered request, counted in ``/metrics`` and written to the access log.

Quart's routes (:mod:`trioflix.app`) and the routes ``trioflix serve`` answers on
the socket (:mod:`trioflix.direct`) both call :func:`record_request`, so every
request is counted and logged the same way whichever path served it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trioflix.metrics import Metrics

__all__ = ["record_request"]

access_logger = logging.getLogger("trioflix.access")


def record_request(
    metrics: Metrics,
    method: str,
    path: str,
    route: str,
    status: int,
    elapsed_s: float,
    rid: str | None,
    client: str | None,
) -> None:
    """Count a request in ``/metrics`` and write its access-log line.

    ``client`` is the client's address, behind trusted proxies the one they name
    (:mod:`trioflix.forwarded`).
    """
    requests, duration = metrics.request_metrics(route, method, status)
    requests.inc()
    duration.observe(elapsed_s)
    if not access_logger.isEnabledFor(logging.INFO):
        return  # the line's fields are not worth building for nobody
    access_logger.info(
        "%s %s %d",
        method,
        path,
        status,
        extra={
            "duration_ms": round(elapsed_s * 1000, 2),
            "route": route,
            "request_id": rid,
            "client": client,
        },
    )
