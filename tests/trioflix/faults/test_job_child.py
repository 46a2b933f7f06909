"""A video job's child process dies (SIGKILL, or out of memory): the job is retried
with backoff, and the server goes on serving."""

from __future__ import annotations

import os
import signal
import time
from typing import TYPE_CHECKING

import pytest
import trio

from tests.trioflix.uploads.helpers import create, job_children, job_work_dirs, make_video, patch
from tests.waiting import WAIT_LIMIT_S, wait_until
from trioflix.jobs import queue

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tests.conftest import Server

pytestmark = [
    pytest.mark.slow,
    pytest.mark.backends("sqlite", reason="the job queue's retries are tested on both elsewhere"),
]


async def _upload_video(server: Server, tmp_path: Path) -> int:
    """Upload a 2 s video; its processing job's id."""
    token, _ = await server.register("alice")
    source = tmp_path / "in.mp4"
    make_video(source, seconds=2)
    data = source.read_bytes()
    path = await create(server.client, token, len(data))
    assert (await patch(server.client, token, path, 0, data)).status_code == 204
    job_id = await server.app.trioflix.db.fetchval("SELECT id FROM jobs")
    assert isinstance(job_id, int)
    return job_id


async def _wait_job(server: Server, job_id: int, check: Callable[[queue.Job], bool]) -> queue.Job:
    with trio.fail_after(WAIT_LIMIT_S):
        while True:
            job = await queue.get_job(server.app.trioflix.db, job_id)
            assert job is not None
            if check(job):
                return job
            await trio.sleep(0.05)


async def _assert_serving(server: Server) -> None:
    assert (await server.client.get("/healthz")).status_code == 200
    assert (await server.client.get("/api/videos")).status_code == 200


async def _retry_now(server: Server, job_id: int) -> None:
    """Let the backoff pass at once."""
    await server.app.trioflix.db.execute("UPDATE jobs SET run_after = 0 WHERE id = $1", job_id)
    server.app.trioflix.jobs.wake()


async def test_a_killed_job_child_is_retried_after_its_backoff(
    server: Server, tmp_path: Path
) -> None:
    job_id = await _upload_video(server, tmp_path)
    await wait_until(lambda: bool(job_children()))
    (child,) = job_children()
    os.kill(child, signal.SIGKILL)
    failed = await _wait_job(server, job_id, lambda job: job.state == "queued")
    assert failed.attempts == 1
    assert failed.last_error is not None and "killed by SIGKILL" in failed.last_error
    assert failed.run_after >= time.time() + queue.backoff_s(1) - 2  # not retried at once
    await _assert_serving(server)
    assert job_work_dirs(server) == []  # the dead attempt's files are gone
    await _retry_now(server, job_id)
    done = await _wait_job(server, job_id, lambda job: job.state in ("done", "failed"))
    assert done.state == "done" and done.attempts == 2
    (video,) = (await server.client.get("/api/videos")).json()["videos"]
    assert video["state"] == "ready"


@pytest.mark.settings(media_memory_limit=200)  # MiB: enough to start, not to encode
async def test_a_job_child_out_of_memory_is_retried_with_growing_backoff(
    server: Server, tmp_path: Path
) -> None:
    job_id = await _upload_video(server, tmp_path)
    first = await _wait_job(server, job_id, lambda job: job.last_error is not None)
    assert first.state == "queued" and first.attempts == 1
    assert first.run_after >= time.time() + queue.backoff_s(1) - 2
    assert "exited with status 1" in (first.last_error or "")
    await _assert_serving(server)
    await _retry_now(server, job_id)
    second = await _wait_job(
        server, job_id, lambda job: job.state != "running" and job.attempts == 2
    )
    assert second.state == "queued"
    assert second.run_after >= time.time() + queue.backoff_s(2) - 2
    await _assert_serving(server)
