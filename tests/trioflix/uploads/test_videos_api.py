"""The video library API: visibility, pagination, edits, deletion (files and running jobs)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
import trio

from tests.waiting import wait_until
from trioflix.jobs.queue import enqueue, get_job
from trioflix.media.library import create_video, video_subject
from trioflix.uploads import records

from .helpers import (
    V,
    auth,
    create,
    job_children,
    job_work_dirs,
    make_video,
    metadata,
    patch,
    upload_id,
    video_prefix,
)

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import Server


async def _ready_video(server: Server, token: str, source: Path, title: str) -> int:
    data = await trio.Path(source).read_bytes()
    path = await create(
        server.client, token, len(data), **{"Upload-Metadata": metadata(title=title)}
    )
    assert (await patch(server.client, token, path, 0, data)).status_code == 204
    status_url = f"/api/upload/status/{path.rsplit('/', 1)[1]}"
    with trio.fail_after(60):
        while (
            status := (await server.client.get(status_url, headers=auth(token))).json()["upload"]
        )["state"] != "ready":
            assert status["state"] != "failed", status
            await trio.sleep(0.1)
    return int(status["video_id"])


@pytest.mark.slow
async def test_library_listing_edit_and_delete(server: Server, tmp_path: Path) -> None:
    alice, _ = await server.register("alice")
    bob, _ = await server.register("bob")
    source = tmp_path / "in.mp4"
    make_video(source, seconds=2)
    ids = [await _ready_video(server, alice, source, f"clip {n}") for n in range(3)]

    first = (await server.client.get("/api/videos", params={"limit": "2"})).json()
    assert [v["id"] for v in first["videos"]] == [ids[2], ids[1]]  # newest first, public
    assert first["videos"][0]["thumbnails"]["poster"] == f"/videos/{ids[2]}/poster.jpg"
    second = (
        await server.client.get(
            "/api/videos", params={"limit": "2", "before": str(first["next_before"])}
        )
    ).json()
    assert [v["id"] for v in second["videos"]] == [ids[0]] and second["next_before"] is None
    by_channel = (await server.client.get("/api/videos", params={"channel": "bob"})).json()
    assert by_channel["videos"] == []
    assert (await server.client.get("/api/videos", params={"limit": "0"})).status_code == 422
    assert (await server.client.get("/api/videos", params={"mine": "1"})).status_code == 401

    edited = await server.client.patch(
        f"/api/videos/{ids[0]}",
        json={"title": "Renamed", "description": "new words"},
        headers=auth(alice),
    )
    assert edited.status_code == 200 and edited.json()["video"]["title"] == "Renamed"
    assert (
        await server.client.patch(f"/api/videos/{ids[0]}", json={"title": "x"}, headers=auth(bob))
    ).status_code == 404
    assert (
        await server.client.patch(f"/api/videos/{ids[0]}", json={"title": ""}, headers=auth(alice))
    ).status_code == 422

    assert (
        await server.client.delete(f"/api/videos/{ids[0]}", headers=auth(bob))
    ).status_code == 404
    objects = server.app.trioflix.objects
    prefix = await video_prefix(server, ids[0])
    assert f"{prefix}master.m3u8" in {info.key for info in await objects.list_prefix(prefix)}
    assert (
        await server.client.delete(f"/api/videos/{ids[0]}", headers=auth(alice))
    ).status_code == 204
    assert await objects.list_prefix(prefix) == []
    assert len(await objects.list_prefix("videos/")) > 0  # the other two videos stay
    assert (await server.client.get(f"/api/videos/{ids[0]}")).status_code == 404
    assert (await server.client.get(f"/videos/{ids[0]}/master.m3u8")).status_code == 404


@pytest.mark.slow
@pytest.mark.settings(media_workers=1)
async def test_deleting_a_video_while_it_is_processed_stops_the_work(
    server: Server, tmp_path: Path
) -> None:
    token, _ = await server.register("alice")
    source = tmp_path / "long.mp4"
    make_video(source, seconds=60, width=1280, height=720)
    data = await trio.Path(source).read_bytes()
    path = await create(server.client, token, len(data))
    assert (await patch(server.client, token, path, 0, data)).status_code == 204
    status_url = f"/api/upload/status/{path.rsplit('/', 1)[1]}"
    with trio.fail_after(60):
        while True:
            status = (await server.client.get(status_url, headers=auth(token))).json()["upload"]
            if status["processing_percent"]:
                break  # the child process is encoding
            await trio.sleep(0.05)
    video_id = status["video_id"]
    assert job_children()  # what the end of this test waits to see gone
    prefix = await video_prefix(server, video_id)
    deleted = await server.client.delete(f"/api/videos/{video_id}", headers=auth(token))
    assert deleted.status_code == 204
    objects = server.app.trioflix.objects
    assert await objects.list_prefix(prefix) == []
    assert await objects.list_prefix("uploads/") == []  # the job's source went with it
    job_id = await server.app.trioflix.db.fetchval(
        "SELECT id FROM jobs WHERE subject = $1", f"video:{video_id}"
    )
    job = await get_job(server.app.trioflix.db, job_id)
    assert job is not None and job.state == "cancelled"
    # The cancelled job's child process is gone, so nothing can write files any more.
    await wait_until(lambda: not job_children())
    assert await objects.list_prefix(prefix) == []
    await wait_until(lambda: job_work_dirs(server) == [])  # cancelled: its files went too


async def test_videos_say_whether_they_are_recordings_or_uploads(server: Server) -> None:
    token, user = await server.register("alice")
    db = server.app.trioflix.db
    recording = await create_video(
        db, user_id=user["id"], title="Friday stream", description="", origin="live"
    )
    upload = await create_video(
        db, user_id=user["id"], title="holiday.mp4", description="", origin="upload"
    )
    mine = (await server.client.get("/api/videos?mine=1", headers=auth(token))).json()["videos"]
    assert [(v["id"], v["origin"], v["state"]) for v in mine] == [
        (upload, "upload", "processing"),
        (recording, "live", "processing"),
    ]
    one = await server.client.get(f"/api/videos/{recording}", headers=auth(token))
    assert one.json()["video"]["origin"] == "live"


async def test_recordings_or_uploads_alone_are_listed_by_origin(server: Server) -> None:
    token, user = await server.register("alice")
    db = server.app.trioflix.db
    ids = {
        origin: await create_video(
            db, user_id=user["id"], title=origin, description="", origin=origin
        )
        for origin in ("live", "upload")
    }
    await db.execute("UPDATE videos SET state = 'ready'")
    for origin, video_id in ids.items():
        for query in ({"mine": "1"}, {"channel": "alice"}, {}):
            listed = await server.client.get(
                "/api/videos", params={**query, "origin": origin}, headers=auth(token)
            )
            assert [v["id"] for v in listed.json()["videos"]] == [video_id], query
    latest = await server.client.get(
        "/api/videos", params={"channel": "alice", "origin": "live", "limit": "1"}
    )
    assert latest.json() == {"videos": [latest.json()["videos"][0]], "next_before": ids["live"]}
    refused = await server.client.get("/api/videos", params={"origin": "film"})
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "invalid_query"


async def test_unfinished_uploads_are_listed_for_their_owner_until_deleted(
    server: Server,
) -> None:
    alice, _ = await server.register("alice")
    bob, _ = await server.register("bob")
    waiting = await create(
        server.client, alice, 100, **{"Upload-Metadata": metadata(filename="trip.mp4")}
    )
    assert (await patch(server.client, alice, waiting, 0, b"x" * 40)).status_code == 204
    await create(server.client, alice, 10, **{"Upload-Concat": "partial"})  # a piece, not a file
    finished = await create(server.client, alice, 3)
    assert (await patch(server.client, alice, finished, 0, b"abc")).status_code == 204

    listed = await server.client.get("/api/upload/unfinished", headers=auth(alice))
    assert [
        (u["id"], u["filename"], u["received"], u["percent"], u["state"])
        for u in listed.json()["uploads"]
    ] == [(waiting.rsplit("/", 1)[1], "trip.mp4", 40, 40.0, "uploading")]
    others = await server.client.get("/api/upload/unfinished", headers=auth(bob))
    assert others.json() == {"uploads": []}
    anonymous = await server.client.get("/api/upload/unfinished")
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "unauthorized"

    deleted = await server.client.delete(waiting, headers={**V, **auth(alice)})
    assert deleted.status_code == 204
    listed = await server.client.get("/api/upload/unfinished", headers=auth(alice))
    assert listed.json() == {"uploads": []}


async def test_queued_work_is_shown_as_queued_with_the_jobs_ahead(server: Server) -> None:
    """Through every route the pages read: the upload's status, its events, the video."""
    token, user = await server.register("alice")
    db = server.app.trioflix.db
    # A kind no worker here runs: the jobs stay queued, in the order the queue takes them.
    ahead = [await enqueue(db, "test.held", {}, subject=f"other:{n}") for n in range(3)]
    video_id = await create_video(
        db, user_id=user["id"], title="clip", description="", origin="upload"
    )
    await enqueue(db, "test.held", {}, subject=video_subject(video_id))
    path = await create(server.client, token, 10)
    await records.mark(db, upload_id(path), "complete", video_id=video_id)
    await db.execute("UPDATE jobs SET state = 'done' WHERE id = $1", ahead[0])
    queued = {"state": "queued", "ahead": 2, "retry_at": None}

    status_url = f"/api/upload/status/{upload_id(path)}"
    status = (await server.client.get(status_url, headers=auth(token))).json()["upload"]
    assert (status["state"], status["queue"]) == ("processing", queued), status
    video = (await server.client.get(f"/api/videos/{video_id}", headers=auth(token))).json()
    assert video["video"]["queue"] == queued, video
    listed = await server.client.get("/api/videos", params={"mine": "1"}, headers=auth(token))
    assert [v["queue"] for v in listed.json()["videos"]] == [queued]

    await db.execute("UPDATE jobs SET state = 'running' WHERE subject = $1", f"video:{video_id}")
    status = (await server.client.get(status_url, headers=auth(token))).json()["upload"]
    assert status["queue"] == {"state": "running", "ahead": None, "retry_at": None}, status

    # The events say it too, until the video is ready (which ends them).
    await db.execute("UPDATE jobs SET state = 'queued' WHERE subject = $1", f"video:{video_id}")
    make_ready = ("UPDATE videos SET state = 'ready' WHERE id = $1", video_id)
    seen = []
    with trio.fail_after(30):
        async with server.client.stream(
            "GET", f"{status_url}/events", params={"token": token}, timeout=None
        ) as events:
            async for line in events.aiter_lines():
                if line.startswith("data: "):
                    seen.append(json.loads(line[len("data: ") :]))
                    if len(seen) == 1:
                        await db.execute(*make_ready)
                        server.app.trioflix.uploads.hub.notify(user["id"])
    assert [(s["state"], s["queue"]) for s in seen] == [("processing", queued), ("ready", None)]
