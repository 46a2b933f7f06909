"""The two servers ``bench/chat.py`` compares, started as child processes on 127.0.0.1.

- trioflix: ``.venv/bin/trioflix serve`` with its own data directory, HLS ladder off,
  production chat limits (the benchmark's senders are moderators, see ``chat.py``).
- socket.io: a pinned ``socket.io`` installed with npm into the run's temporary
  folder (never into the repository), and the broadcast room server below.

Both are watched through ``/proc/PID``: CPU seconds from ``stat`` (utime + stime),
run-queue wait from ``schedstat``, resident memory from ``status`` (VmRSS, and VmHWM
for the peak).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx
import trio

from bench._proc import free_port

__all__ = ["SOCKETIO_VERSION", "ServerProcess", "start_socketio", "start_trioflix"]

SOCKETIO_VERSION = "4.8.4"  # exact: the figures are only comparable for one version
NPM_TIMEOUT_S = 240.0  # a cold npm cache downloads ~20 small packages
START_TIMEOUT_S = 30.0  # trioflix migrates a fresh SQLite database first
STOP_TIMEOUT_S = 10.0  # trioflix stops in well under 5 s (docs/architecture.md)
CLK_TCK = os.sysconf("SC_CLK_TCK")
REPO = Path(__file__).resolve().parent.parent

# Written by us for this benchmark: every socket joins one room; a "chat" event is
# stamped with an id, a time and its author and broadcast to the whole room
# (sender included, as trioflix does), then acknowledged to the sender.
SERVER_JS = """\
"use strict";
const http = require("http");
const { Server } = require("socket.io");

const port = Number(process.argv[2]);
const httpServer = http.createServer();
const io = new Server(httpServer, { transports: ["websocket"], serveClient: false });
let seq = 0;

io.on("connection", (socket) => {
  socket.join("room");
  socket.on("chat", (text, ack) => {
    if (typeof text !== "string" || text.length > 500) return;
    seq += 1;
    io.to("room").emit("chat", {
      id: seq, ts: Date.now() / 1000, user: { id: 1, name: "sender" }, text,
    });
    if (typeof ack === "function") ack(seq);
  });
});

httpServer.listen(port, "127.0.0.1", () => console.log("ready"));
"""


@dataclass
class ServerProcess:
    name: str
    process: trio.Process
    port: int
    log: Path

    @property
    def pid(self) -> int:
        return int(self.process.pid)

    def cpu_s(self) -> float:
        """CPU seconds (user + system) the server has used so far."""
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (proc(5) 14, 15)

    def runqueue_wait_s(self) -> float:
        """Seconds the server's main thread (the event loop) was runnable but not running.

        ``/proc/PID/schedstat`` field 2 (kernel docs, sched-stats): time spent waiting on
        a run queue. It grows when other processes hold the CPUs, so it tells a busy
        machine's delays apart from the server's own.
        """
        with open(f"/proc/{self.pid}/schedstat") as f:
            return int(f.read().split()[1]) / 1e9

    def memory_kib(self) -> dict[str, int]:
        """VmRSS (now) and VmHWM (peak so far) in KiB."""
        out: dict[str, int] = {}
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    out[key] = int(value.split()[0])
        return out

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()  # SIGTERM: both servers stop gracefully
            with trio.move_on_after(STOP_TIMEOUT_S):
                await self.process.wait()
            if self.process.returncode is None:
                self.process.kill()
                await self.process.wait()


async def _wait_http(server: ServerProcess, path: str, ok: set[int]) -> None:
    url = f"http://127.0.0.1:{server.port}{path}"
    async with httpx.AsyncClient(timeout=2) as client:
        with trio.fail_after(START_TIMEOUT_S):
            while True:
                if server.process.returncode is not None:
                    raise RuntimeError(f"{server.name} exited:\n{server.tail()}")
                try:
                    if (await client.get(url)).status_code in ok:
                        return
                except httpx.TransportError:
                    pass
                await trio.sleep(0.1)


async def start_trioflix(nursery: trio.Nursery, workdir: Path) -> ServerProcess:
    port = free_port()
    log = workdir / "trioflix.log"
    exe = Path(sys.executable).parent / "trioflix"
    command = [
        str(exe if exe.exists() else REPO / ".venv/bin/trioflix"),
        "serve",
        "--http",
        f"127.0.0.1:{port}",
        "--rtmp",
        f"127.0.0.1:{free_port()}",
        "--data-dir",
        str(workdir / "trioflix-data"),
        "--hls-ladder",
        "off",
        "--log-level",
        "WARNING",
        "--jwt-secret",
        "bench-" + os.urandom(24).hex(),
    ]
    with log.open("wb") as out:
        process = await nursery.start(
            partial(trio.run_process, command, stdout=out, stderr=subprocess.STDOUT, check=False)
        )
    server = ServerProcess("trioflix", process, port, log)
    await _wait_http(server, "/healthz", {200})
    return server


async def install_socketio(workdir: Path) -> Path:
    """``npm install socket.io@SOCKETIO_VERSION`` into ``workdir/socketio``; returns that folder."""
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise RuntimeError("node and npm are needed for the socket.io side (apt-get install npm)")
    folder = workdir / "socketio"
    folder.mkdir()
    (folder / "package.json").write_text('{"name": "bench-socketio", "private": true}\n')
    (folder / "server.js").write_text(SERVER_JS)
    with trio.fail_after(NPM_TIMEOUT_S):
        await trio.run_process(
            [
                npm,
                "install",
                "--no-audit",
                "--no-fund",
                "--save-exact",
                f"socket.io@{SOCKETIO_VERSION}",
            ],
            cwd=folder,
            capture_stdout=True,
            capture_stderr=True,
        )
    return folder


async def start_socketio(nursery: trio.Nursery, folder: Path) -> ServerProcess:
    port = free_port()
    log = folder / "server.log"
    node = shutil.which("node")
    assert node is not None
    with log.open("wb") as out:
        process = await nursery.start(
            partial(
                trio.run_process,
                [node, "server.js", str(port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                check=False,
                cwd=folder,
            )
        )
    server = ServerProcess("socket.io", process, port, log)
    # Engine.IO answers a polling request with 400 when only websockets are allowed.
    await _wait_http(server, "/socket.io/?EIO=4&transport=polling", {200, 400})
    return server
