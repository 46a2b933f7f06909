"""``trioflix upload``, run as a real subprocess against a served instance.

The client is a separate process, so the in-process server keeps serving while
the test awaits it; every check of the result is made on the server's side
(the stored bytes, the upload status, the video).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from functools import partial
from typing import TYPE_CHECKING, Any

import pytest
import trio

from trioflix.client.arguments import parse_size
from trioflix.client.errors import EXIT_AUTH, EXIT_ERROR, EXIT_USAGE, EXIT_VIDEO_FAILED
from trioflix.client.resume import ResumeStore
from trioflix.client.retry import Backoff, Transient
from trioflix.client.transfer import Throttled

from .helpers import auth, head, video_source

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import Server

MIB = 1024 * 1024
PASSWORD = "correct horse"  # Server.register's default

# The bytes are checked in the store after the video may be ready: keep its source.
pytestmark = pytest.mark.settings(keep_originals=True)


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("TRIOFLIX_") and k != "JWT_SECRET"
    }
    env.update(XDG_CACHE_HOME=str(tmp_path / "cache"), **extra)
    return env


def _command(server_url: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "trioflix", "upload", "--server", server_url, *args]


async def _upload(
    server_url: str, tmp_path: Path, *args: str, stdin: bytes = b"", **env: str
) -> subprocess.CompletedProcess[bytes]:
    return await trio.run_process(
        _command(server_url, *args),
        stdin=stdin,
        capture_stdout=True,
        capture_stderr=True,
        check=False,
        env=_env(tmp_path, **env),
    )


def _result(done: subprocess.CompletedProcess[bytes]) -> dict[str, Any]:
    assert done.returncode == 0, done.stderr.decode()
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _remembered(tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "cache" / "trioflix" / "uploads.json"
    return dict(json.loads(path.read_text())) if path.exists() else {}


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("login", "checksum"), [("token", "auto"), ("password", "sha1"), ("token", "md5")]
)
async def test_upload_stores_the_exact_file(
    server: Server, tmp_path: Path, login: str, checksum: str
) -> None:
    token, _ = await server.register("alice")
    data = os.urandom(5 * MIB + 7)
    source = tmp_path / "holiday.mp4"
    source.write_bytes(data)
    credentials = ["--user", "alice", "--password-stdin"] if login == "password" else []
    with trio.fail_after(60):
        done = await _upload(
            server.url,
            tmp_path,
            str(source),
            *credentials,
            "--chunk-size",
            "1M",
            "--checksum",
            checksum,
            "--title",
            "Holiday",
            "--description",
            "by the sea",
            "--json",
            stdin=f"{PASSWORD}\n".encode(),
            **({"TRIOFLIX_TOKEN": token} if login == "token" else {}),
        )
    result = _result(done)
    assert _sha256(await video_source(server, result["video_id"])) == _sha256(data)
    assert result["video_url"] == f"{server.url}/api/videos/{result['video_id']}"
    status = await server.client.get(
        f"/api/upload/status/{result['upload_id']}", headers=auth(token)
    )
    assert status.json()["upload"]["received"] == len(data)
    assert status.json()["upload"]["filename"] == "holiday.mp4"
    video = await server.client.get(f"/api/videos/{result['video_id']}", headers=auth(token))
    assert video.json()["video"]["title"] == "Holiday"
    assert video.json()["video"]["description"] == "by the sea"
    assert _remembered(tmp_path) == {}  # a finished upload is forgotten


async def _wait_for_progress(server: Server, token: str, tmp_path: Path, at_least: int) -> str:
    """The upload URL the client remembered, once the server received ``at_least`` bytes.

    Polls the status route, not HEAD: a HEAD is a request for the upload, which
    would evict the client's PATCH (uploads.md, "One request per upload").
    """
    while True:
        entries = list(_remembered(tmp_path).values())
        if entries:
            url = str(entries[0]["url"])
            upload_id = url.rsplit("/", 1)[1]
            response = await server.client.get(
                f"/api/upload/status/{upload_id}", headers=auth(token)
            )
            if response.json()["upload"]["received"] >= at_least:
                return url
        await trio.sleep(0.05)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_killed_client_resumes_where_the_server_stands(
    server: Server, tmp_path: Path
) -> None:
    token, _ = await server.register("alice")
    data = os.urandom(12 * MIB + 3)
    source = tmp_path / "long.mkv"
    source.write_bytes(data)
    log = tmp_path / "first.log"
    with log.open("wb") as stderr, trio.fail_after(60):
        # 2 MiB/s in 256 KiB requests: several seconds, so the kill lands mid-upload.
        process = await trio.lowlevel.open_process(
            _command(
                server.url, str(source), "--chunk-size", "256K", "--limit-rate", "2M", "--json"
            ),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=_env(tmp_path, TRIOFLIX_TOKEN=token),
        )
        url = await _wait_for_progress(server, token, tmp_path, 2 * MIB)
        process.send_signal(signal.SIGKILL)
        assert await process.wait() == -signal.SIGKILL
    kept = int(
        (await head(server.client, token, url.removeprefix(server.url))).headers["Upload-Offset"]
    )
    assert 2 * MIB <= kept < len(data)

    with trio.fail_after(60):
        done = await _upload(
            server.url, tmp_path, str(source), "--chunk-size", "4M", "--json", TRIOFLIX_TOKEN=token
        )
    result = _result(done)
    assert f"resuming {url} at byte {kept} of {len(data)}" in done.stderr.decode()
    assert url.endswith("/" + result["upload_id"])  # the same upload, not a new one
    assert _sha256(await video_source(server, result["video_id"])) == _sha256(data)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_a_changed_file_is_uploaded_anew(server: Server, tmp_path: Path) -> None:
    """The resume key includes size and mtime: a rewritten file never continues an old upload."""
    token, _ = await server.register("alice")
    source = tmp_path / "clip.mp4"
    source.write_bytes(os.urandom(MIB))
    stale_url = f"{server.url}/api/upload/video/tus/does-not-exist"
    stat = source.stat()
    key = ResumeStore.key(server.url, source.resolve(), stat.st_size, stat.st_mtime_ns)
    ResumeStore(tmp_path / "cache" / "trioflix" / "uploads.json").put(key, stale_url, source)
    with trio.fail_after(60):
        done = await _upload(server.url, tmp_path, str(source), "--json", TRIOFLIX_TOKEN=token)
    result = _result(done)
    assert "no longer has the earlier upload" in done.stderr.decode()
    assert await video_source(server, result["video_id"]) == source.read_bytes()


class _CuttingProxy:
    """A loopback TCP proxy that cuts the first connection after ``cut_after`` bytes
    from the client: a network failure in the middle of a PATCH."""

    def __init__(self, upstream_port: int, cut_after: int) -> None:
        self.upstream_port = upstream_port
        self.cut_after = cut_after
        self.cuts = 0

    async def handle(self, client: trio.SocketStream) -> None:
        cut = self.cuts == 0
        async with client, await trio.open_tcp_stream("127.0.0.1", self.upstream_port) as up:
            async with trio.open_nursery() as nursery:

                async def upstream() -> None:
                    sent = 0
                    async for data in client:
                        if cut and sent + len(data) > self.cut_after:
                            self.cuts += 1
                            nursery.cancel_scope.cancel()
                            return
                        sent += len(data)
                        await up.send_all(data)
                    await up.send_eof()

                async def downstream() -> None:
                    async for data in up:
                        await client.send_all(data)
                    nursery.cancel_scope.cancel()

                nursery.start_soon(upstream)
                nursery.start_soon(downstream)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_a_dropped_connection_is_retried_and_resumed(
    server: Server, tmp_path: Path, nursery: trio.Nursery
) -> None:
    token, _ = await server.register("alice")
    data = os.urandom(6 * MIB)
    source = tmp_path / "clip.mp4"
    source.write_bytes(data)
    proxy = _CuttingProxy(int(server.url.rsplit(":", 1)[1]), cut_after=3 * MIB)
    listeners = await nursery.start(partial(trio.serve_tcp, proxy.handle, 0, host="127.0.0.1"))
    proxy_url = f"http://127.0.0.1:{listeners[0].socket.getsockname()[1]}"
    with trio.fail_after(60):
        done = await _upload(
            proxy_url,
            tmp_path,
            str(source),
            "--chunk-size",
            "6M",
            "--checksum",
            "none",
            "--json",
            TRIOFLIX_TOKEN=token,
        )
    result = _result(done)
    assert proxy.cuts == 1
    assert "retrying in" in done.stderr.decode()
    assert _sha256(await video_source(server, result["video_id"])) == _sha256(data)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_bad_credentials_are_a_clear_error(server: Server, tmp_path: Path) -> None:
    await server.register("alice")
    source = tmp_path / "clip.mp4"
    source.write_bytes(b"not much")
    with trio.fail_after(60):
        wrong_password = await _upload(
            server.url, tmp_path, str(source), "--user", "alice", "--password-stdin", stdin=b"no\n"
        )
        bad_token = await _upload(server.url, tmp_path, str(source), "--token", "not-a-token")
        no_login = await _upload(server.url, tmp_path, str(source))
    assert wrong_password.returncode == EXIT_AUTH
    assert b"cannot log in as alice: wrong username or password" in wrong_password.stderr
    assert bad_token.returncode == EXIT_AUTH
    assert b"the server refused the token" in bad_token.stderr
    assert no_login.returncode == EXIT_USAGE
    assert b"--token" in no_login.stderr
    assert _remembered(tmp_path) == {}  # nothing was created


async def test_an_unreachable_server_gives_up_after_the_retries(tmp_path: Path) -> None:
    source = tmp_path / "clip.mp4"
    source.write_bytes(b"x")
    with trio.fail_after(30):
        done = await _upload(
            "http://127.0.0.1:9", tmp_path, str(source), "--token", "t", "--retries", "1"
        )
    assert done.returncode == EXIT_ERROR
    assert b"gave up after 1 retries" in done.stderr


def _ffmpeg_video(path: Path) -> None:
    subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=25:duration=2",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=2",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
            str(path),
        ],
        check=True,
    )


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_wait_follows_processing_until_ready(server: Server, tmp_path: Path) -> None:
    token, _ = await server.register("alice")
    source = tmp_path / "test card.mp4"
    _ffmpeg_video(source)
    with trio.fail_after(120):
        done = await _upload(
            server.url, tmp_path, str(source), "--wait", "--json", TRIOFLIX_TOKEN=token
        )
    result = _result(done)
    assert result["state"] == "ready", result
    assert result["hls_url"] == f"{server.url}/videos/{result['video_id']}/master.m3u8"
    playlist = await server.client.get(result["hls_url"].removeprefix(server.url))
    assert playlist.status_code == 200 and playlist.text.startswith("#EXTM3U")
    video = (await server.client.get(f"/api/videos/{result['video_id']}")).json()["video"]
    assert video["state"] == "ready" and video["title"] == "test card"


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_wait_reports_a_video_that_failed(server: Server, tmp_path: Path) -> None:
    token, _ = await server.register("alice")
    source = tmp_path / "noise.mp4"
    source.write_bytes(os.urandom(64 * 1024))
    with trio.fail_after(120):
        done = await _upload(server.url, tmp_path, str(source), "--wait", TRIOFLIX_TOKEN=token)
    assert done.returncode == EXIT_VIDEO_FAILED, done.stderr.decode()
    out = done.stdout.decode()
    assert ": failed" in out and "reason:" in out


# --- the pure parts ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "size"),
    [("1048576", MIB), ("8M", 8 * MIB), ("64MiB", 64 * MIB), ("1g", 1024 * MIB), ("256K", 262144)],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "0", "-1", "8X", "1.5M"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not a size"):
        parse_size(text)


def test_backoff_doubles_caps_and_gives_up() -> None:
    slept: list[float] = []
    said: list[str] = []
    backoff = Backoff(8, sleep=slept.append, jitter=lambda: 0.5)
    for _ in range(8):
        backoff.pause(Transient("boom"), said.append)
    assert slept == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    with pytest.raises(Exception, match="gave up after 8 retries"):
        backoff.pause(Transient("boom"), said.append)
    backoff.reset()
    backoff.pause(Transient("locked", retry_after=5), said.append)
    assert slept[-1] == 5.0  # Retry-After wins when longer


def test_throttle_paces_to_the_rate() -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    sent: list[int] = []
    blocks = iter([b"x" * 1000] * 10)
    out = list(Throttled(blocks, 1000, sent.append, clock=lambda: now[0], sleep=sleep))
    assert b"".join(out) == b"x" * 10_000
    assert sum(sent) == 10_000
    assert now[0] == pytest.approx(9.0)  # the last of 10 s of data leaves at 9 s
