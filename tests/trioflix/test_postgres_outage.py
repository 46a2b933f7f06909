"""A dropped connection, a database restart or a 10 s outage: 503 for that time, then
recovery by itself; live streams and chat go on meanwhile, and nothing acknowledged is lost."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import httpx
import pytest
import trio

from tests.conftest import open_server
from tests.trioflix.chat.helpers import auth, chat, topup
from tests.trioflix.live_hls.helpers import start_publisher, wait_live
from tests.trioflix.uploads.helpers import create, finished_bytes, head, patch
from tests.waiting import WAIT_LIMIT_S, wait_until
from trioflix.config import Settings
from trioflix.jobs import queue
from trioflix.jobs.process import JobFailed
from trioflix.jobs.worker import JobType, JobWorkers
from trioflix.server import serve_app
from trioflix.store import open_database
from trioflix.store._postgres import _acquire, _conn_execute, _release, open_postgres

if TYPE_CHECKING:
    import logging
    from pathlib import Path

    from tests.conftest import PostgresCluster, Server
    from tests.interop.media import Sample

OUTAGE_S = 10.0
RECOVERY_S = 2.0  # API calls work again within this long of the database's return


@pytest.mark.slow
async def test_database_restart_gives_503_then_recovers(
    private_pg_cluster: PostgresCluster, tmp_path: Path, nursery: trio.Nursery
) -> None:
    cluster = private_pg_cluster
    settings = Settings(
        data_dir=tmp_path,
        database_url=cluster.url(cluster.create_database()),
        jwt_secret="s" * 64,
        http="127.0.0.1:0",
    )
    stop = trio.Event()
    binds = await nursery.start(
        lambda task_status: serve_app(settings, shutdown_trigger=stop.wait, task_status=task_status)
    )
    async with httpx.AsyncClient(base_url=binds[0], timeout=20) as client:
        register = await client.post(
            "/api/auth/register", json={"username": "alice", "password": "password1"}
        )
        assert register.status_code == 201
        token = register.json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        assert (await client.get("/api/auth/me", headers=headers)).status_code == 200

        await trio.to_thread.run_sync(cluster.stop, "immediate")
        down = await client.get("/api/auth/me", headers=headers)
        assert down.status_code == 503
        assert down.json()["error"]["code"] == "database_unavailable"
        assert down.headers["Retry-After"] == "1"
        health = await client.get("/healthz")
        assert health.status_code == 503
        assert health.json()["error"]["code"] == "database_unavailable"

        await trio.to_thread.run_sync(cluster.start)
        # The pool's connections died with the server; the first request after the
        # restart may still meet one of them (503), after which the pool has replaced it.
        statuses = []
        for _ in range(20):
            response = await client.get("/api/auth/me", headers=headers)
            statuses.append(response.status_code)
            if response.status_code == 200:
                break
            await trio.sleep(0.25)
        assert statuses[-1] == 200, statuses
        assert set(statuses) <= {200, 503}
        assert (await client.get("/healthz")).status_code == 200
    stop.set()


async def _superchat(server: Server, token: str, text: str) -> httpx.Response:
    return await server.client.post(
        "/api/chat/streamer/superchats",
        json={"amount": 500, "currency": "USD", "text": text},
        headers=auth(token),
    )


def _segments(server: Server) -> int:
    session = server.app.trioflix.hls.session("streamer")
    assert session is not None
    return session.source.segments_added


@pytest.mark.slow
@pytest.mark.interop
async def test_a_10_s_outage_under_live_load(
    private_pg_cluster: PostgresCluster, tmp_path: Path, nursery: trio.Nursery, sample: Sample
) -> None:
    cluster = private_pg_cluster
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=cluster.url(cluster.create_database()),
        jwt_secret="s" * 64,
        http="127.0.0.1:0",
        rtmp="127.0.0.1:0",
        hls_ladder="off",
        dev_payments=True,
        check_uploads=False,  # the upload is random bytes, read back from the job's source
    )
    async with open_server(settings, nursery) as server:
        streamer, _ = await server.register("streamer")
        fan, _ = await server.register("fan")
        await topup(server.client, fan, 5000)
        assert (await _superchat(server, fan, "before")).status_code == 201
        data = os.urandom(3 * 1024 * 1024)
        upload = await create(server.tus, fan, len(data))
        assert (await patch(server.tus, fan, upload, 0, data[: 1024**2])).status_code == 204
        await server.client.post(
            "/api/streaming/start", json={"title": "t"}, headers=auth(streamer)
        )
        key = await server.create_key(streamer)
        publisher = await start_publisher(nursery, server, key, sample.path, loops=-1)
        await wait_live(server, "streamer")
        status = await server.client.get("/api/streaming/status", headers=auth(streamer))
        session_id = status.json()["session"]["id"]
        async with (
            chat(server.url, "streamer", streamer) as (speaker, _),
            chat(server.url, "streamer") as (watcher, _),
        ):
            last = await speaker.say("before")
            await trio.to_thread.run_sync(cluster.stop, "fast")
            stopped = trio.current_time()
            segments = _segments(server)
            # A PATCH during the outage: whatever it acknowledges must be kept.
            during = await patch(server.tus, fan, upload, 1024**2, data[1024**2 : 2 * 1024**2])
            assert during.status_code in (204, 503), during.text
            kept = 2 * 1024**2 if during.status_code == 204 else 1024**2
            while trio.current_time() < stopped + OUTAGE_S:
                down = await server.client.get("/api/auth/me", headers=auth(streamer))
                assert down.status_code == 503, down.text
                assert down.json()["error"]["code"] == "database_unavailable"
                assert int(down.headers["Retry-After"]) >= 1
                refused = await _superchat(server, fan, "during")  # not acknowledged
                assert refused.status_code == 503, refused.text
                # Chat goes on: said, acknowledged and heard, ids going forward.
                said = await speaker.say("during")
                assert said > last
                last = said
                with trio.fail_after(WAIT_LIMIT_S):
                    while (await watcher.until("message"))["id"] != said:
                        pass
                await trio.sleep(0.5)
            assert _segments(server) > segments, "live HLS stalled during the outage"
            assert server.app.trioflix.registry.get("streamer") is not None

            await trio.to_thread.run_sync(cluster.start)
            back = trio.current_time()
            while (
                await server.client.get("/api/auth/me", headers=auth(streamer))
            ).status_code != 200:
                assert trio.current_time() - back < RECOVERY_S, "the API did not recover in time"
                await trio.sleep(0.05)
            assert await speaker.say("after") > last
        offset = int((await head(server.tus, fan, upload)).headers["Upload-Offset"])
        assert offset >= kept
        assert (await patch(server.tus, fan, upload, offset, data[offset:])).status_code == 204
        assert await finished_bytes(server, fan, upload) == data
        # Nothing acknowledged was lost: the SuperChat's debit, the live session's record.
        ledger = (await server.client.get("/api/wallet/ledger", headers=auth(fan))).json()
        assert sorted(entry["amount"] for entry in ledger["entries"]) == [-500, 5000]
        state = await server.app.trioflix.db.fetchval(
            "SELECT state FROM live_sessions WHERE id = $1", session_id
        )
        assert state == "live"
        publisher.terminate()


def _unrecorded(record: logging.LogRecord) -> bool:
    return record.getMessage().startswith("cannot record the end of job")


@pytest.mark.slow
async def test_a_job_that_ends_during_an_outage_is_recorded_once_the_database_is_back(
    private_pg_cluster: PostgresCluster, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The workers wait for the database to record how an attempt ended, rather than
    die with the outage and take every service down with them."""
    cluster = private_pg_cluster
    settings = Settings(data_dir=tmp_path, database_url=cluster.url(cluster.create_database()))
    ran: list[str] = []

    started = trio.Event()
    database_down = trio.Event()

    async def run(job: queue.Job) -> None:
        ran.append(job.payload["name"])
        if job.payload["name"] == "first":
            started.set()
            await database_down.wait()
            raise JobFailed("failed while the database was away")

    async def gave_up(job: queue.Job, reason: str) -> None:
        raise AssertionError(reason)

    async with open_database(settings) as db:
        workers = JobWorkers(lambda: db, concurrency=1)
        workers.register(JobType("demo", run, gave_up))
        async with trio.open_nursery() as nursery:
            await nursery.start(workers.run)
            first = await queue.enqueue(db, "demo", {"name": "first"})
            workers.wake()
            with trio.fail_after(WAIT_LIMIT_S):
                await started.wait()
            # The job fails once the database is stopped: recording that meets the outage.
            await trio.to_thread.run_sync(cluster.stop, "fast")
            database_down.set()
            # The worker tried to record the failure, met the outage, and waits.
            await wait_until(lambda: any(_unrecorded(r) for r in caplog.records))
            await trio.to_thread.run_sync(cluster.start)
            with trio.fail_after(WAIT_LIMIT_S):
                while workers.running:  # noqa: ASYNC110
                    await trio.sleep(0.1)
            job = await queue.get_job(db, first)
            assert job is not None and job.state == "queued", job
            assert job.last_error == "failed while the database was away"
            # The workers are alive: the next job runs.
            await queue.enqueue(db, "demo", {"name": "second"})
            workers.wake()
            with trio.fail_after(WAIT_LIMIT_S):
                while len(ran) < 2:  # noqa: ASYNC110
                    await trio.sleep(0.05)
            nursery.cancel_scope.cancel()
    assert ran == ["first", "second"]


async def test_a_report_from_asyncpg_is_logged_and_the_database_goes_on(
    pg_cluster: PostgresCluster, caplog: pytest.LogCaptureFixture
) -> None:
    # asyncpg tells the loop's exception handler when it releases a connection whose
    # transaction is still open (here: BEGIN, then back to the pool, as when a
    # transaction's ROLLBACK could not run during a restart). trio-asyncio's own
    # handler raised that into the loop, which stopped the database for good.
    url = pg_cluster.url(pg_cluster.create_database())
    async with open_postgres(url) as db:
        conn = await db._call(_acquire, db._pool)
        await db._call(_conn_execute, conn, "BEGIN", ())
        await db._call(_release, db._pool, conn)
        for _ in range(3):
            assert await db.fetch("SELECT 1 AS one") == [{"one": 1}]
        assert db.pool_use()[0] == 0
    reports = [r for r in caplog.records if r.name == "trioflix.store._postgres"]
    assert [r.levelname for r in reports] == ["WARNING"], reports
    assert "Resetting connection with an active transaction" in reports[0].getMessage()
