"""The command line as a user runs it: real processes, real signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.ports import free_port
from tests.waiting import wait_healthy
from trioflix.store import MIGRATIONS

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.conftest import PostgresCluster

TRIOFLIX = [sys.executable, "-m", "trioflix"]
SHUTDOWN_LIMIT_S = 5.0


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "JWT_SECRET")}
    env.update({"TRIOFLIX_DATA_DIR": str(data_dir), **extra})
    return env


@contextmanager
def _running(cmd: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``cmd`` with stderr in ``log``; kill it if the test leaves it running."""
    with log.open("wb") as stderr:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_serve_help_documents_every_setting() -> None:
    from trioflix.config import OPTIONS

    out = subprocess.run(
        [*TRIOFLIX, "serve", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for option in OPTIONS:
        assert option.flag in out and option.env in out


def test_version_names_the_release_and_the_checkout_commit() -> None:
    root = Path(__file__).resolve().parents[2]
    commit = subprocess.run(
        ["git", "-C", str(root), "describe", "--always", "--dirty", "--abbrev=12"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    out = subprocess.run([*TRIOFLIX, "--version"], capture_output=True, text=True, check=True)
    assert out.stdout == f"trioflix {version('trioflix')} (commit {commit})\n"


def test_bad_setting_is_a_clear_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [*TRIOFLIX, "serve", "--http", "nonsense"],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        check=False,
    )
    assert result.returncode == 2
    assert "TRIOFLIX_HTTP must be HOST:PORT" in result.stderr
    assert "Traceback" not in result.stderr


# The command as installed without the "upload" extra: tqdm cannot be imported.
WITHOUT_TQDM = [
    sys.executable,
    "-c",
    "import sys; sys.modules['tqdm'] = None; "
    "from trioflix.cli import main; raise SystemExit(main())",
]


def test_importing_the_cli_loads_neither_the_client_nor_tqdm() -> None:
    code = (
        "import sys, trioflix.cli; "
        "print(sorted(m for m in sys.modules if m == 'tqdm' or m.startswith('trioflix.client')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == "[]"


def test_upload_without_tqdm_names_the_extra(tmp_path: Path) -> None:
    source = tmp_path / "clip.mp4"
    source.write_bytes(b"x")
    result = subprocess.run(
        [*WITHOUT_TQDM, "upload", str(source), "--token", "t"],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        check=False,
    )
    assert result.returncode == 1
    assert "pip install 'trioflix[upload]'" in result.stderr
    assert "Traceback" not in result.stderr


# The most memory importing the server may take: 55 MiB measured (Python 3.11,
# this environment), 113 MiB when argon2's dummy hash was made at import and
# PyAV and coredis loaded with the server.
IMPORT_PEAK_LIMIT_KIB = 64 * 1024


@pytest.mark.slow
def test_importing_the_server_stays_small() -> None:
    code = (
        "import trioflix.server; "
        "print(next(line.split()[1] for line in open('/proc/self/status') "
        "if line.startswith('VmHWM:')))"
    )
    peak = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert int(peak) < IMPORT_PEAK_LIMIT_KIB, f"{int(peak) // 1024} MiB"


# Libraries a host on the embedded defaults does not use, and what each costs it
# resident: PyAV 17 MiB (thumbnails and the ladder load it when they run; the
# media child processes import it themselves), coredis 13 MiB (only with
# REDIS_URL), boto3 25 MiB with its S3 client (only with an s3:// store), aiortc
# with aioice and pylibsrtp (only with the first WebRTC viewer), cryptography 12 MiB
# (PyJWT loads it when installed; HS256 does not need it), rich and pygments 3 MiB
# (httpx's command-line client loads them when installed).
NOT_LOADED_BY_DEFAULT = (
    "av",
    "coredis",
    "boto3",
    "botocore",
    "aiortc",
    "aioice",
    "pylibsrtp",
    "cryptography",
    "rich",
    "pygments",
)


@pytest.mark.slow
def test_serve_on_the_defaults_loads_no_media_redis_or_s3_library(tmp_path: Path) -> None:
    report = tmp_path / "loaded.txt"
    # The server as `python -m trioflix` runs it, writing the top-level packages
    # it has loaded once it has stopped.
    cmd = [
        sys.executable,
        "-c",
        "import atexit, pathlib, sys; "
        f"atexit.register(lambda: pathlib.Path({str(report)!r}).write_text("
        "' '.join(sorted({name.split('.')[0] for name in sys.modules})))); "
        "from trioflix.cli import main; raise SystemExit(main())",
        "serve",
        "--http",
    ]
    port = free_port()
    log = tmp_path / "stderr.log"
    with _running([*cmd, f"127.0.0.1:{port}"], _env(tmp_path / "data"), log) as proc:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, proc, log=log)
        for path in ("/", "/api/videos", "/live/nobody/thumbnail.jpg"):
            assert httpx.get(url + path).status_code in (200, 404), path
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=SHUTDOWN_LIMIT_S + 5) in (0, 130), log.read_text()
    loaded = set(report.read_text().split())
    assert "trioflix" in loaded  # the report is the server's
    assert loaded.isdisjoint(NOT_LOADED_BY_DEFAULT), loaded & set(NOT_LOADED_BY_DEFAULT)


@pytest.mark.slow
def test_serve_runs_without_tqdm(tmp_path: Path) -> None:
    port = free_port()
    cmd = [*WITHOUT_TQDM, "serve", "--http", f"127.0.0.1:{port}"]
    with _running(cmd, _env(tmp_path / "data"), tmp_path / "stderr.log") as proc:
        wait_healthy(f"http://127.0.0.1:{port}", proc)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=SHUTDOWN_LIMIT_S + 5) in (0, 130)


@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["unix:", "fd://"])
def test_serve_refuses_an_address_hypercorn_would_misread(tmp_path: Path, scheme: str) -> None:
    # Both pass as HOST:PORT, but hypercorn would bind a unix socket named
    # ".../trioflix.sock:8000", or fail on the descriptor "3:8000".
    target = f"{tmp_path / 'trioflix.sock'}" if scheme == "unix:" else "3"
    result = subprocess.run(
        [*TRIOFLIX, "serve", "--http", f"{scheme}{target}:8000"],
        capture_output=True,
        text=True,
        env=_env(tmp_path / "data", TRIOFLIX_RTMP="127.0.0.1:0"),
        check=False,
        timeout=30,  # a server that started after all would run until killed
    )
    assert result.returncode == 2, result.stderr
    assert "TRIOFLIX_HTTP must be a TCP HOST:PORT" in result.stderr
    assert "does not listen on unix: or fd:// binds" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []  # refused before any socket or data dir


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_serve_shuts_down_gracefully_on_signal(tmp_path: Path, signum: int) -> None:
    port = free_port()
    data_dir = tmp_path / "data"
    log = tmp_path / "stderr.log"
    with _running([*TRIOFLIX, "serve", "--http", f"127.0.0.1:{port}"], _env(data_dir), log) as proc:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, proc)
        # The embedded defaults: SQLite file and a generated secret in the data dir.
        assert (data_dir / "trioflix.sqlite3").exists()
        assert (data_dir / "jwt-secret").stat().st_mode & 0o077 == 0
        # A slow client holds a connection open: shutdown must not wait for it forever.
        idle = httpx.Client(base_url=url)
        idle.get("/healthz")
        started = time.monotonic()
        proc.send_signal(signum)
        code = proc.wait(timeout=SHUTDOWN_LIMIT_S + 5)
        elapsed = time.monotonic() - started
        idle.close()
    stderr = log.read_text()
    assert code in (0, 130), stderr
    assert elapsed < SHUTDOWN_LIMIT_S, elapsed
    assert '"services stopped"' in stderr
    assert "Traceback" not in stderr


@pytest.mark.slow
def test_plain_hypercorn_serves_the_same_app(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "stderr.log"
    cmd = [
        sys.executable,
        "-m",
        "hypercorn",
        "-k",
        "trio",
        "-b",
        f"127.0.0.1:{port}",
        "trioflix.asgi:app",
    ]
    with _running(cmd, _env(tmp_path / "data"), log) as proc:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, proc)
        response = httpx.post(
            f"{url}/api/auth/register", json={"username": "alice", "password": "password1"}
        )
        assert response.status_code == 201
        token = response.json()["token"]
        keys = httpx.post(f"{url}/api/streaming/keys", headers={"Authorization": f"Bearer {token}"})
        assert keys.status_code == 201
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=SHUTDOWN_LIMIT_S + 5)
    stderr = log.read_text()
    # The services ran inside hypercorn's lifespan and were cancelled at shutdown.
    assert '"services started"' in stderr and '"services stopped"' in stderr


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_user_create_and_db_migrate(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    extra = {}
    if backend == "postgresql":
        cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
        extra["DATABASE_URL"] = cluster.url(cluster.create_database())
    env = _env(tmp_path / "data", **extra)

    migrate = subprocess.run(
        [*TRIOFLIX, "db", "migrate"], capture_output=True, text=True, env=env, check=True
    )
    assert f"applied migrations: {[m[0] for m in MIGRATIONS]}" in migrate.stdout
    again = subprocess.run(
        [*TRIOFLIX, "db", "migrate"], capture_output=True, text=True, env=env, check=True
    )
    assert "up to date" in again.stdout

    created = subprocess.run(
        [*TRIOFLIX, "user", "create", "streamer", "--password-stdin"],
        input="s3cret-password\n",
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert "created user streamer" in created.stdout
    taken = subprocess.run(
        [*TRIOFLIX, "user", "create", "streamer", "--password-stdin"],
        input="s3cret-password\n",
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert taken.returncode != 0 and "taken" in taken.stderr
    weak = subprocess.run(
        [*TRIOFLIX, "user", "create", "other", "--password-stdin"],
        input="short\n",
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert weak.returncode != 0 and "password" in weak.stderr

    # The account logs in through a served instance on the same storage.
    port = free_port()
    with _running(
        [*TRIOFLIX, "serve", "--http", f"127.0.0.1:{port}"], env, tmp_path / "log"
    ) as proc:
        wait_healthy(f"http://127.0.0.1:{port}", proc)
        login = httpx.post(
            f"http://127.0.0.1:{port}/api/auth/login",
            json={"username": "streamer", "password": "s3cret-password"},
        )
        assert login.status_code == 200
        assert login.json()["user"]["name"] == "streamer"
