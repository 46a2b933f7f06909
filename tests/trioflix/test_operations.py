from __future__ import annotations

import json
import logging
from importlib.metadata import version
from typing import TYPE_CHECKING

import trio

from tests.waiting import WAIT_LIMIT_S
from trioflix.access import record_request
from trioflix.metrics import KEPT_REQUEST_LABELS, LAG_PROBE_INTERVAL_S, Metrics
from trioflix.version import source_commit

if TYPE_CHECKING:
    import pytest

    from tests.conftest import Server


async def test_healthz(server: Server) -> None:
    response = await server.client.get("/healthz")
    assert response.status_code == 200
    # Served from this checkout: the commit as well (test_cli checks it against git).
    assert source_commit() is not None
    assert response.json() == {
        "status": "ok",
        "database": "sqlite" if server.settings.database_url is None else "postgresql",
        "version": version("trioflix"),
        "commit": source_commit(),
    }


async def test_metrics_prometheus_text(server: Server) -> None:
    await server.client.get("/healthz")
    await server.client.get("/nowhere")
    response = await server.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    assert "# TYPE trioflix_http_requests_total counter" in text
    assert 'trioflix_http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in text
    # Unknown paths share one label value: cardinality stays bounded.
    assert 'route="unmatched",status="404"' in text
    assert "trioflix_http_request_duration_seconds_bucket" in text


def _sample(text: str, series: str) -> float:
    """The value of one sample line of a Prometheus text exposition."""
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {series} in /metrics")


async def test_metrics_runtime_health(server: Server) -> None:
    # The lag probe records a sample every LAG_PROBE_INTERVAL_S while the services run.
    async def lag_samples() -> float:
        text = (await server.client.get("/metrics")).text
        return _sample(text, "trioflix_event_loop_lag_seconds_count")

    first = await lag_samples()
    with trio.fail_after(WAIT_LIMIT_S):
        while await lag_samples() <= first:  # noqa: ASYNC110 (a counter in another task)
            await trio.sleep(LAG_PROBE_INTERVAL_S)
    text = (await server.client.get("/metrics")).text
    # The test's own tasks and the services' dozens: a walk of the task tree, not a guess.
    assert _sample(text, "trioflix_trio_tasks") > 10
    assert _sample(text, 'trioflix_jobs{state="queued"}') == 0
    assert _sample(text, 'trioflix_jobs{state="running"}') == 0
    if server.settings.database_url is None:
        assert "trioflix_db_pool_connections" not in text  # SQLite: one connection, no pool
    else:
        assert _sample(text, 'trioflix_db_pool_connections{state="in_use"}') >= 0
        assert _sample(text, 'trioflix_db_pool_connections{state="idle"}') >= 1


async def test_request_id_in_header_and_logs(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    from trioflix.logs import JSONFormatter

    caplog.set_level(logging.INFO, logger="trioflix.access")
    given = await server.client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert given.headers["X-Request-ID"] == "abc-123"
    made = await server.client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    generated = made.headers["X-Request-ID"]
    assert generated != "bad id with spaces" and len(generated) == 16

    records = [r for r in caplog.records if r.name == "trioflix.access"]
    lines = [json.loads(JSONFormatter().format(r)) for r in records]
    assert [line.get("request_id") for line in lines][-2:] == ["abc-123", generated]
    assert lines[-1]["msg"] == "GET /healthz 200"
    assert lines[-1]["route"] == "/healthz"


async def test_request_metrics_count_past_the_labels_kept() -> None:
    metrics = Metrics()
    for index in range(KEPT_REQUEST_LABELS + 10):
        record_request(metrics, f"M{index}", "/x", "/x", 200, 0.001, None, None)
        record_request(metrics, f"M{index}", "/x", "/x", 200, 0.002, None, None)
    text = metrics.render().decode()
    last = KEPT_REQUEST_LABELS + 9
    assert 'trioflix_http_requests_total{method="M0",route="/x",status="200"} 2.0' in text
    assert f'trioflix_http_requests_total{{method="M{last}",route="/x",status="200"}} 2.0' in text
    assert (
        'trioflix_http_request_duration_seconds_count{route="/x"} ' + (f"{2 * (last + 1)}.0")
        in text
    )
