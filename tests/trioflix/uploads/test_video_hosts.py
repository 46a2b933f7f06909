"""A video processed on any host of a site and played from another, on local disk and on S3.

Two ``trioflix serve`` hosts of one site (tests/trioflix/cluster/rig.py) share the
PostgreSQL database and the media store: the data directory on local disk (as
hosts share a network filesystem), a bucket on S3. The host running the
processing job is killed mid-job; the other host's worker takes the job over
once its lease has run out and finishes it.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.api import auth
from tests.interop.media import ffprobe
from tests.trioflix.cluster.rig import Rig, RigHost
from trioflix.jobs.worker import LEASE_S

from .helpers import TUS, V, job_children, make_video

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from tests.conftest import PostgresCluster, RedisServer
    from tests.seaweedfs import SeaweedServer

pytestmark = [pytest.mark.slow, pytest.mark.interop]

STEP_LIMIT_S = 60.0
TAKEOVER_LIMIT_S = LEASE_S + 60.0  # the lease runs out, then a poll and the whole job again
SECONDS, FPS = 10, 25


@pytest.fixture
def site(
    media_storage: str, pg_cluster: PostgresCluster, redis_server: RedisServer, tmp_path: Path
) -> Iterator[tuple[Rig, RigHost, RigHost]]:
    """Two hosts sharing the database, redis and the media store (``media_storage``)."""
    # The AWS variables media_storage set are in this process's environment, which
    # the hosts inherit.
    rig = Rig(
        database_url=pg_cluster.url(pg_cluster.create_database()),
        redis_server=redis_server,
        data_dir=tmp_path / "data",
        workdir=tmp_path,
        site_env={"TRIOFLIX_STORAGE_URL": media_storage, "TRIOFLIX_MEDIA_WORKERS": "1"},
    )
    try:
        yield rig, rig.start("a"), rig.start("b")
    finally:
        rig.stop()


def _until(what: str, check: Callable[[], object], limit_s: float = STEP_LIMIT_S) -> None:
    """Poll ``check()`` until it is true; fail naming ``what`` after ``limit_s``."""
    deadline = time.monotonic() + limit_s
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {limit_s:.0f} s"
        time.sleep(0.1)


def _status(host: RigHost, token: str, upload_path: str) -> dict[str, object]:
    upload_id = upload_path.rsplit("/", 1)[1]
    answer = httpx.get(f"{host.url}/api/upload/status/{upload_id}", headers=auth(token))
    assert answer.status_code == 200, answer.text
    status: dict[str, object] = answer.json()["upload"]
    return status


def test_a_video_survives_its_host_and_plays_from_another(
    site: tuple[Rig, RigHost, RigHost],
    tmp_path: Path,
    media_storage: str,
    request: pytest.FixtureRequest,
) -> None:
    _rig, a, b = site
    registered = httpx.post(
        f"{a.url}/api/auth/register", json={"username": "alice", "password": "password1"}
    )
    token = registered.json()["token"]
    source = tmp_path / "in.mp4"
    make_video(source, seconds=SECONDS, width=854, height=480, fps=FPS)
    data = source.read_bytes()
    created = httpx.post(
        f"{a.url}{TUS}", headers={**V, **auth(token), "Upload-Length": str(len(data))}
    )
    path = created.headers["Location"]
    sent = httpx.patch(
        f"{a.url}{path}",
        content=data,
        headers={
            **V,
            **auth(token),
            "Content-Type": "application/offset+octet-stream",
            "Upload-Offset": "0",
        },
        timeout=60,
    )
    assert sent.status_code == 204, sent.text

    # Whichever host's worker took the job dies with its child mid-job, as a lost
    # machine does: no clean shutdown hands the job back.
    _until(
        "a job child at work", lambda: job_children(a.process.pid) or job_children(b.process.pid)
    )
    worker, other = (a, b) if job_children(a.process.pid) else (b, a)
    _until("some progress", lambda: _status(other, token, path)["processing_percent"])
    children = list(job_children(worker.process.pid))
    worker.kill()
    for pid in children:
        os.kill(pid, 9)
    status = _status(other, token, path)
    assert status["state"] == "processing", status
    video_id = status["video_id"]

    _until(
        "the video ready on the other host",
        lambda: _status(other, token, path)["state"] == "ready",
        TAKEOVER_LIMIT_S,
    )
    detail = httpx.get(f"{other.url}/api/videos/{video_id}").json()["video"]
    assert [r["name"] for r in detail["renditions"]] == ["480p", "360p"]
    for rendition in detail["renditions"]:
        url = f"{other.url}/videos/{video_id}/{rendition['name']}/index.m3u8"
        report, errors = ffprobe(
            url, "-count_frames", "-show_entries", "stream=codec_type,nb_read_frames"
        )
        frames = {s["codec_type"]: int(s["nb_read_frames"]) for s in report["streams"]}
        assert abs(frames["video"] - SECONDS * FPS) <= 2, (rendition, frames)
        # Following a segment's redirect to S3, ffmpeg notes that it opens a new
        # connection for the other host: that is all it may have to say.
        errors = "\n".join(
            line for line in errors.splitlines() if "Cannot reuse HTTP connection" not in line
        )
        assert frames["audio"] > 0 and errors == "", (rendition, errors)
    master = httpx.get(f"{other.url}/videos/{video_id}/master.m3u8")
    assert master.status_code == 200 and "480p/index.m3u8" in master.text

    deleted = httpx.delete(f"{other.url}/api/videos/{video_id}", headers=auth(token))
    assert deleted.status_code == 204
    assert httpx.get(f"{other.url}/videos/{video_id}/master.m3u8").status_code == 404
    if media_storage:
        seaweed: SeaweedServer = request.getfixturevalue("seaweed")
        bucket, _, prefix = media_storage.removeprefix("s3://").partition("/")
        listed = seaweed.client().list_objects_v2(Bucket=bucket, Prefix=prefix)
        # The site's own id object (the hosts' proof of one store) is not media.
        left = [
            item["Key"]
            for item in listed.get("Contents", [])
            if item["Key"] != f"{prefix}/cluster/storage-id"
        ]
    else:
        objects = tmp_path / "data" / "media" / "objects"
        left = [str(p.relative_to(objects)) for p in objects.rglob("*") if p.is_file()]
    assert left == []  # the upload's source went when the video was ready, the rest now
