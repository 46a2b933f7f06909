"""``trioflix serve`` stopped by a terminal's Ctrl-C (SIGINT to its process group) while a
video job's child encodes: no ERROR line, the child gone with its work directory, the job
handed back without an attempt used, and the next start makes the video at its first."""

from __future__ import annotations

import os
import signal
import sqlite3
from typing import TYPE_CHECKING

import pytest
import trio

from tests.ports import free_port
from tests.trioflix.live_hls.helpers import serve_env, serve_process
from tests.trioflix.uploads.helpers import auth, exited, make_video, upload_until_its_job_runs
from tests.waiting import WAIT_LIMIT_S

if TYPE_CHECKING:
    from pathlib import Path

    import httpx

pytestmark = pytest.mark.slow

SECONDS = 20  # of 720p video: its ladder takes many seconds, longer than the shutdown


def _jobs(database: Path) -> list[tuple[str, int, str | None]]:
    with sqlite3.connect(database) as db:
        return db.execute("SELECT state, attempts, last_error FROM jobs").fetchall()


async def _video(client: httpx.AsyncClient, token: str) -> dict[str, object]:
    response = await client.get("/api/videos", params={"mine": "1"}, headers=auth(token))
    (video,) = response.json()["videos"]
    assert isinstance(video, dict)
    return video


async def test_ctrl_c_during_a_job_hands_it_back(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env, _ = serve_env(data_dir)
    port = free_port()
    log = tmp_path / "serve.log"
    source = tmp_path / "in.mp4"
    await trio.to_thread.run_sync(
        lambda: make_video(source, seconds=SECONDS, width=1280, height=720)
    )
    data = source.read_bytes()
    async with serve_process(env, port, log, new_session=True) as (process, client):
        token, child = await upload_until_its_job_runs(client, process.pid, data)
        with trio.fail_after(WAIT_LIMIT_S):
            while (await _video(client, token))["progress"] == 0:  # noqa: ASYNC110
                await trio.sleep(0.05)
        os.killpg(process.pid, signal.SIGINT)  # as a terminal's Ctrl-C
        with trio.fail_after(WAIT_LIMIT_S):
            await process.wait()
    text = await trio.Path(log).read_text()
    assert process.returncode == 0, text[-2000:]
    assert '"level": "ERROR"' not in text, [line for line in text.splitlines() if "ERROR" in line]
    # The server stopped its child before it exited: none left running on its own.
    assert exited(child)
    assert list((data_dir / "processing").iterdir()) == []
    # Handed back, not failed: no attempt used, no error recorded.
    assert _jobs(data_dir / "trioflix.sqlite3") == [("queued", 0, None)]

    async with serve_process(env, port, log) as (process, client):
        with trio.fail_after(WAIT_LIMIT_S * 2):
            while (await _video(client, token))["state"] != "ready":  # noqa: ASYNC110
                await trio.sleep(0.2)
    assert _jobs(data_dir / "trioflix.sqlite3") == [("done", 1, None)]
