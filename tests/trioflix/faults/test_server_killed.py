"""``trioflix serve`` SIGKILLed while a video job runs, then started again: the job runs
again once its lease is over, and makes one video, with nothing left behind."""

from __future__ import annotations

import signal
import sqlite3
from typing import TYPE_CHECKING

import pytest
import trio

from tests.ports import free_port
from tests.trioflix.live_hls.helpers import serve_env, serve_process
from tests.trioflix.uploads.helpers import auth, exited, make_video, upload_until_its_job_runs
from tests.waiting import WAIT_LIMIT_S, wait_until

if TYPE_CHECKING:
    from pathlib import Path

    import httpx

pytestmark = pytest.mark.slow


def _jobs(database: Path) -> list[tuple[str, int]]:
    with sqlite3.connect(database) as db:
        return db.execute("SELECT state, attempts FROM jobs").fetchall()


async def _videos(client: httpx.AsyncClient, token: str) -> list[dict[str, object]]:
    response = await client.get("/api/videos", params={"mine": "1"}, headers=auth(token))
    videos: list[dict[str, object]] = response.json()["videos"]
    return videos


async def test_sigkill_during_a_job_then_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    database = data_dir / "trioflix.sqlite3"
    env, _ = serve_env(data_dir)
    port = free_port()
    log = tmp_path / "serve.log"
    source = tmp_path / "in.mp4"
    make_video(source, seconds=2)
    data = source.read_bytes()
    async with serve_process(env, port, log) as (process, client):
        token, child = await upload_until_its_job_runs(client, process.pid, data)
        process.send_signal(signal.SIGKILL)
        with trio.fail_after(WAIT_LIMIT_S):
            await process.wait()
    # The orphaned child finds its pipe closed and ends.
    await wait_until(lambda: exited(child))
    assert _jobs(database) == [("running", 1)]

    async with serve_process(env, port, log) as (process, client):
        # The dead worker's 60 s lease runs out (made to pass at once).
        with sqlite3.connect(database) as db:
            db.execute("UPDATE jobs SET lease_until = 0")
        with trio.fail_after(WAIT_LIMIT_S * 2):
            while [v["state"] for v in await _videos(client, token)] != ["ready"]:  # noqa: ASYNC110
                await trio.sleep(0.2)
        assert _jobs(database) == [("done", 2)]
        assert list((data_dir / "processing").iterdir()) == []  # the dead attempt's files too
