"""How the server's logging treats records of the libraries it runs."""

from __future__ import annotations

import logging
from functools import partial

import coredis
import pytest
import trio
from coredis.retry import NoRetryPolicy

from trioflix.logs import quiet_coredis_connection_errors


@pytest.fixture(autouse=True)
def coredis_filters(monkeypatch: pytest.MonkeyPatch) -> None:
    """None on coredis' logger for the test (a server started in this process before
    may have installed one), and the logger as it was afterwards."""
    monkeypatch.setattr(logging.getLogger("coredis"), "filters", [])


@pytest.fixture
def quiet_coredis() -> None:
    quiet_coredis_connection_errors()
    quiet_coredis_connection_errors()  # a second call adds nothing
    assert len(logging.getLogger("coredis").filters) == 1


async def _not_redis(stream: trio.SocketStream) -> None:
    """Accepts a connection and answers its handshake (HELLO) with a bare ``+OK``: the
    connection fails before it is ready, as one opened while Redis restarts may."""
    async with stream:
        await stream.receive_some()
        await stream.send_all(b"+OK\r\n")
        await stream.receive_some()


async def _failed_connection(nursery: trio.Nursery) -> None:
    (listener,) = await nursery.start(partial(trio.serve_tcp, _not_redis, 0, host="127.0.0.1"))
    port = listener.socket.getsockname()[1]
    client: coredis.Redis[bytes] = coredis.Redis.from_url(
        f"redis://127.0.0.1:{port}/0", retry_policy=NoRetryPolicy()
    )
    async with client:
        with pytest.raises(coredis.exceptions.ConnectionError):
            await client.ping()


@pytest.mark.usefixtures("quiet_coredis")
@pytest.mark.parametrize("level", [logging.INFO, logging.DEBUG])
async def test_coredis_connection_failures_are_not_errors(
    caplog: pytest.LogCaptureFixture, nursery: trio.Nursery, level: int
) -> None:
    caplog.set_level(level)
    await _failed_connection(nursery)
    records = [r for r in caplog.records if r.name == "coredis"]
    assert [r.levelname for r in records if r.levelno >= logging.WARNING] == []
    # At DEBUG the record and its traceback are still there, for whoever looks.
    kept = [r for r in records if r.getMessage() == "Connection attempt failed unexpectedly!"]
    assert [(r.levelname, r.exc_info is not None) for r in kept] == (
        [("DEBUG", True)] if level == logging.DEBUG else []
    )
    nursery.cancel_scope.cancel()


async def test_coredis_logs_them_at_error_by_itself(
    caplog: pytest.LogCaptureFixture, nursery: trio.Nursery
) -> None:
    """What the filter is for: without it, coredis' record is an ERROR."""
    caplog.set_level(logging.INFO)
    await _failed_connection(nursery)
    assert "Connection attempt failed unexpectedly!" in [
        r.getMessage() for r in caplog.records if r.levelno == logging.ERROR
    ]
    nursery.cancel_scope.cancel()
