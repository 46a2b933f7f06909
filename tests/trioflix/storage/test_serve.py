"""``trioflix serve`` with each storage URL: it starts on storage that works, else refuses.

Real processes against the session's SeaweedFS: the start-up probe must turn
wrong credentials, a missing bucket or an unreachable endpoint into exit status
2 and one line naming the cause, before the server answers anything.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import trio

from tests.ports import free_port
from tests.seaweedfs import ACCESS_KEY_ID, SECRET_ACCESS_KEY, create_bucket
from tests.trioflix.test_cli import SHUTDOWN_LIMIT_S, TRIOFLIX, _env, _running
from tests.waiting import wait_healthy

if TYPE_CHECKING:
    from tests.seaweedfs import SeaweedServer

pytestmark = pytest.mark.slow

REFUSAL_LIMIT_S = 30.0  # a server that started after all would run until killed


def _s3_env(
    data_dir: Path, url: str, endpoint: str, secret: str = SECRET_ACCESS_KEY
) -> dict[str, str]:
    return _env(
        data_dir,
        TRIOFLIX_RTMP="127.0.0.1:0",
        TRIOFLIX_STORAGE_URL=url,
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID=ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY=secret,
    )


def _serve_until_healthy(env: dict[str, str], log: Path) -> str:
    """Run ``trioflix serve`` until it answers ``/healthz``, then stop it; its stderr."""
    port = free_port()
    with _running([*TRIOFLIX, "serve", "--http", f"127.0.0.1:{port}"], env, log) as proc:
        wait_healthy(f"http://127.0.0.1:{port}", proc)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=SHUTDOWN_LIMIT_S + 5)
    stderr = log.read_text()
    assert code in (0, 130), stderr
    assert "Traceback" not in stderr
    return stderr


def _refused(env: dict[str, str]) -> str:
    """Run ``trioflix serve``, which must refuse to start; the line it ends with."""
    result = subprocess.run(
        [*TRIOFLIX, "serve", "--http", f"127.0.0.1:{free_port()}"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=REFUSAL_LIMIT_S,
    )
    assert result.returncode == 2, result.stderr
    # The log before it records the failed start-up with its traceback, as for
    # any refusal; the command's own last word is one plain line.
    last = result.stderr.splitlines()[-1]
    assert last.startswith("trioflix: storage probe could not write probe/"), result.stderr
    # Refused before the services: no database was opened.
    assert not (Path(env["TRIOFLIX_DATA_DIR"]) / "trioflix.sqlite3").exists()
    return last


def _keys(server: SeaweedServer, bucket: str) -> list[str]:
    client = server.client()
    try:
        listed = client.list_objects_v2(Bucket=bucket)
    finally:
        client.close()
    return [item["Key"] for item in listed.get("Contents", [])]


async def test_s3_storage_that_works_starts(seaweed: SeaweedServer, tmp_path: Path) -> None:
    bucket = await create_bucket(seaweed)
    env = _s3_env(tmp_path / "data", f"s3://{bucket}/site", seaweed.endpoint_url)
    stderr = await trio.to_thread.run_sync(_serve_until_healthy, env, tmp_path / "stderr.log")
    assert f'"storage": "s3://{bucket}/site/ at {seaweed.endpoint_url}"' in stderr
    # The probe deleted its object; the media directory was not used.
    assert await trio.to_thread.run_sync(_keys, seaweed, bucket) == []
    assert not (tmp_path / "data" / "media").exists()


@pytest.mark.parametrize("url", [None, "file:"])
def test_local_storage_starts_as_before(tmp_path: Path, url: str | None) -> None:
    data_dir = tmp_path / "data"
    env = _env(data_dir, TRIOFLIX_RTMP="127.0.0.1:0")
    if url is not None:
        env["TRIOFLIX_STORAGE_URL"] = url
    _serve_until_healthy(env, tmp_path / "stderr.log")
    # The store is the data directory's media/, and the probe left no object in it.
    objects = data_dir / "media" / "objects"
    assert objects.is_dir()
    assert [path for path in objects.rglob("*") if path.is_file()] == []


async def test_wrong_secret_is_refused(seaweed: SeaweedServer, tmp_path: Path) -> None:
    bucket = await create_bucket(seaweed)
    env = _s3_env(tmp_path / "data", f"s3://{bucket}", seaweed.endpoint_url, secret="not-it")
    refusal = await trio.to_thread.run_sync(_refused, env)
    assert "the credentials were refused" in refusal


async def test_missing_bucket_is_refused(seaweed: SeaweedServer, tmp_path: Path) -> None:
    env = _s3_env(tmp_path / "data", "s3://no-such-bucket/site", seaweed.endpoint_url)
    refusal = await trio.to_thread.run_sync(_refused, env)
    assert "the bucket does not exist" in refusal


def test_closed_endpoint_is_refused(tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    refusal = _refused(_s3_env(tmp_path / "data", "s3://media", closed))
    assert "the storage is unreachable" in refusal
