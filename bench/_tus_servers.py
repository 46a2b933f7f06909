"""The tus servers the upload benchmarks start: trioflix, and @tus/server under Node.js.

Each runs as a fresh process on a free 127.0.0.1 port for one measurement and
is stopped (SIGINT, then SIGKILL) when the ``with`` block ends, its folder
removed. :attr:`Server.data_dir` is where it keeps what it writes to local
disk, for the benchmarks that measure that.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from bench._proc import HOST, free_port, wait4

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from pathlib import Path

__all__ = [
    "TUS_PATH",
    "TUS_SERVER_VERSION",
    "Server",
    "install_node_server",
    "node_server",
    "trioflix",
]

TUS_SERVER_VERSION = "2.4.5"  # @tus/server, exact: figures are only comparable per version
STARTUP_TIMEOUT_S = 30.0  # trioflix runs migrations first; node starts in about 1 s
STOP_TIMEOUT_S = 15.0  # both stop within a second or two of SIGINT
NPM_TIMEOUT_S = 240.0
TUS_PATH = "/api/upload/video/tus"
PASSWORD = "bench password, not secret"
MIB = 1024 * 1024


@dataclass
class Server:
    name: str
    describe: str
    proc: subprocess.Popen[bytes]
    port: int
    create_path: str  # where the creation POST goes
    headers: dict[str, str]  # sent with every request (trioflix's login)
    data_dir: Path  # what the server writes to local disk goes under here

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            if wait4(self.proc, STOP_TIMEOUT_S) is None:
                self.proc.kill()
                self.proc.wait()


def _wait_up(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the server exited:\n{log.read_text()[-2000:]}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.options(url, headers={"Tus-Resumable": "1.0.0"}, timeout=1).status_code < 500:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url}: the server did not come up")
        time.sleep(0.1)


def _describe_trioflix(source: Path | None) -> str:
    if source is None:
        from trioflix import __version__

        return f"trioflix {__version__} (hypercorn, 1 process)"
    commit = subprocess.run(
        ["git", "-C", str(source), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return f"trioflix (hypercorn, 1 process) from {source}" + (f" at {commit}" if commit else "")


@contextlib.contextmanager
def trioflix(
    workdir: Path,
    size: int,
    *,
    source: Path | None = None,
    name: str = "trioflix",
    env: Mapping[str, str] | None = None,
) -> Iterator[Server]:
    """``trioflix serve`` with a fresh data folder and one signed-up user.

    Args:
        workdir: The run's folder; the data folder and the log go there.
        size: The largest upload it must accept, in bytes.
        source: A folder holding the ``trioflix`` and ``protocols`` packages to
            run instead of this checkout's (an older version, or another
            branch), imported through ``PYTHONPATH``.
        name: The name in the tables.
        env: More environment variables (the storage settings, say).
    """
    data = workdir / "trioflix-data"
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TRIOFLIX_")}
    environ.pop("DATABASE_URL", None)
    environ.update(
        TRIOFLIX_DATA_DIR=str(data),
        TRIOFLIX_RTMP=f"{HOST}:0",
        TRIOFLIX_LOG_LEVEL="WARNING",
        TRIOFLIX_MAX_UPLOAD=str(max(size, 1024 * MIB)),
        # The uploads are random bytes: the check that a finished upload is a
        # video would refuse them and delete them before the benchmark looks at
        # them, and add a decode attempt to the server's CPU.
        TRIOFLIX_CHECK_UPLOADS="off",
        JWT_SECRET="bench-" + "x" * 40,
    )
    environ.update(env or {})
    cwd = None  # ``python -m`` finds this checkout's package first
    if source is not None:
        environ["PYTHONPATH"] = str(source)
        cwd = workdir  # where no trioflix package shadows the source's
    log = workdir / "trioflix.log"
    with log.open("ab") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "trioflix", "serve", "--http", f"{HOST}:{port}"],
            env=environ,
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    server = Server(name, _describe_trioflix(source), proc, port, TUS_PATH, {}, data)
    try:
        _wait_up(proc, f"http://{HOST}:{port}{TUS_PATH}", log)
        registered = httpx.post(
            f"http://{HOST}:{port}/api/auth/register",
            json={"username": "bench", "password": PASSWORD},
            timeout=30,
        )
        registered.raise_for_status()
        server.headers = {"Authorization": f"Bearer {registered.json()['token']}"}
        yield server
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)


def install_node_server(root: Path, packages: Mapping[str, str], script: str) -> None:
    """npm-install ``packages`` (name: exact version) into ``root``, beside ``script``.

    ``script`` becomes ``root/server.mjs``: run as ``node server.mjs PORT ARGS...``,
    it serves tus under ``/files`` on 127.0.0.1 and exits on SIGINT.
    """
    root.mkdir(exist_ok=True)
    (root / "package.json").write_text(json.dumps({"private": True, "type": "module"}) + "\n")
    (root / "server.mjs").write_text(script)
    subprocess.run(
        [
            "npm",
            "install",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            *(f"{package}@{version}" for package, version in packages.items()),
        ],
        cwd=root,
        stdout=subprocess.DEVNULL,
        check=True,
        timeout=NPM_TIMEOUT_S,
    )


@contextlib.contextmanager
def node_server(
    workdir: Path,
    root: Path,
    *,
    describe: str,
    args: list[str],
    data_dir: Path,
    env: Mapping[str, str] | None = None,
) -> Iterator[Server]:
    """``node root/server.mjs PORT ARGS...`` (see :func:`install_node_server`) as "@tus/server".

    ``data_dir`` is created before and removed after.
    """
    data_dir.mkdir()
    port = free_port()
    log = workdir / "tus-node.log"
    with log.open("ab") as stderr:
        proc = subprocess.Popen(
            ["node", str(root / "server.mjs"), str(port), *args],
            cwd=root,
            env={**os.environ, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    server = Server("@tus/server", describe, proc, port, "/files", {}, data_dir)
    try:
        _wait_up(proc, f"http://{HOST}:{port}/files", log)
        yield server
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
