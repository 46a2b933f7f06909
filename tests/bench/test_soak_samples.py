"""The soak's sampler counts the database's and Redis' pooled connections out of the
process's fds and Trio tasks (``bench/soak/samples.py``): on this test process, with
real sockets and a real HTTP ``/metrics`` answer."""

from __future__ import annotations

import os
from functools import partial
from typing import TYPE_CHECKING

import trio

from bench.soak.samples import (
    TASKS_PER_DB_CONNECTION,
    TASKS_PER_REDIS_CONNECTION,
    Sampler,
)

if TYPE_CHECKING:
    from pathlib import Path

METRICS = (
    b"trioflix_trio_tasks 70.0\n"
    b'trioflix_db_pool_connections{state="in_use"} 1.0\n'
    b'trioflix_db_pool_connections{state="idle"} 4.0\n'
)


async def _answer_metrics(stream: trio.SocketStream) -> None:
    await stream.receive_some(65536)  # the GET, whole on loopback
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(METRICS)
    await stream.send_all(head + METRICS)
    await stream.aclose()


async def _hold(stream: trio.SocketStream) -> None:
    await trio.sleep_forever()


async def test_pooled_connections_are_counted_out_of_fds_and_tasks(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        (http,) = await nursery.start(partial(trio.serve_tcp, _answer_metrics, 0, host="127.0.0.1"))
        (redis,) = await nursery.start(partial(trio.serve_tcp, _hold, 0, host="127.0.0.1"))
        redis_port = redis.socket.getsockname()[1]
        base_url = f"http://127.0.0.1:{http.socket.getsockname()[1]}"
        sampler = Sampler(os.getpid(), base_url, tmp_path / "samples.jsonl", 0.0, redis_port)
        # Two connections to "Redis", as two coredis pools would hold.
        to_redis = [await trio.open_tcp_stream("127.0.0.1", redis_port) for _ in range(2)]
        row = await sampler.sample("quiet", None, {})
        for stream in to_redis:
            await stream.aclose()
        nursery.cancel_scope.cancel()
    assert row["redis_open"] == 2
    assert (row["tasks"], row["db_open"]) == (70, 5)
    assert row["tasks_own"] == 70 - 5 * TASKS_PER_DB_CONNECTION - 2 * TASKS_PER_REDIS_CONNECTION
    # The scrape's own socket may come and go around num_fds(): bound it, not fix it.
    assert row["fds"] - 5 - 2 - 1 <= row["fds_own"] <= row["fds"] - 5 - 2
    assert (tmp_path / "samples.jsonl").read_text().count("\n") == 1
