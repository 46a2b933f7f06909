"""The floor of reading publishers as their bytes arrive, in Python: waking up and
reading, with no parsing at all, against nginx-rtmp's whole ingest over the same window.

``python -m bench._read_floor [--publishers 25] [--window 10]``

Two receivers, each a process of its own, accept N TCP connections and discard
what arrives, each burst read as soon as it is readable (no read clock):

- ``trio-tasks``: a Trio task per connection, ``wait_readable`` then one ``readv``
  into a shared buffer: what ``RTMPSession`` does per read, minus the RTMP;
- ``epoll``: a plain level-triggered ``select.epoll`` loop, no Trio: Python's floor.

ffmpeg ``-re -c copy`` sends each receiver's connections the sample of
``bench/live.py`` as plain FLV over TCP, every tag one write when its timestamp
comes (the connections start 0.1 s apart). At the same time nginx-rtmp
(:class:`bench.live.NginxLive`) and trioflix with its read clock off
(``--rtmp-read-interval-ms 0``) each ingest N ffmpeg ``-re -c copy`` publishers of
the same sample. CPU is ``utime + stime`` per stream-second over one window for all
four. If a receiver that only reads costs more than a multiple of nginx-rtmp's
whole ingest, no RTMP server built the same way (on Trio, or on a plain epoll loop)
can cost less than that multiple.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import trio

from bench import live
from bench._machine import load_average

RECEIVERS = ("trio-tasks", "epoll")
READ_BYTES = 256 * 1024  # as RTMPSession's reads
_BUFFERS = (bytearray(READ_BYTES),)


_reads = [0]  # reads that brought data: printed on SIGUSR1 (see _read_counts)


def _read(fd: int) -> int:
    try:
        count = os.readv(fd, _BUFFERS)
    except BlockingIOError:
        return -1
    except OSError:
        return 0
    _reads[0] += 1
    return count


def _report_reads(signum: int, frame: object) -> None:
    print(f"reads {_reads[0]}", file=sys.stderr, flush=True)


async def _serve_tasks(listener: trio.SocketListener) -> None:
    async def reader(stream: trio.SocketStream) -> None:
        fd = stream.socket.fileno()
        while True:
            await trio.lowlevel.wait_readable(fd)
            if _read(fd) == 0:
                return

    await trio.serve_listeners(reader, [listener])


def _serve_epoll(port: int) -> None:
    server = socket.create_server((live.HOST, port))
    epoll = select.epoll()
    epoll.register(server.fileno(), select.EPOLLIN)
    sockets = {}
    while True:
        for fd, _ in epoll.poll():
            if fd == server.fileno():
                conn, _ = server.accept()
                conn.setblocking(False)
                sockets[conn.fileno()] = conn
                epoll.register(conn.fileno(), select.EPOLLIN)
            elif _read(fd) == 0:
                epoll.unregister(fd)
                sockets.pop(fd).close()


def serve(mode: str, port: int) -> None:
    """Run receiver ``mode`` on ``port`` until killed; SIGUSR1 prints its read count."""
    signal.signal(signal.SIGUSR1, _report_reads)
    if mode == "epoll":
        _serve_epoll(port)
        return

    async def main() -> None:
        (listener,) = await trio.open_tcp_listeners(port, host=live.HOST)
        await _serve_tasks(listener)

    trio.run(main)


def _ask_reads(receivers: list[live.Running]) -> None:
    for receiver in receivers:
        os.kill(receiver.pid, signal.SIGUSR1)


def _read_counts(log: Path) -> int:
    """The last two counts a receiver printed: its reads over the window."""
    counts = [
        int(line.split()[1]) for line in log.read_text().splitlines() if line.startswith("reads ")
    ]
    return counts[-1] - counts[-2]


class Receiver(live.Server):
    def __init__(self, workdir: Path, mode: str) -> None:
        super().__init__(workdir)
        self.name = mode

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "bench._read_floor",
            "--serve",
            self.name,
            str(self.rtmp_port),
        ]

    async def wait_ready(self) -> None:
        for _ in range(live.POLLS):
            if await live.port_open(self.rtmp_port):
                return
            await trio.sleep(live.POLL_INTERVAL_S)
        raise TimeoutError(f"{self.name} does not accept connections")


async def _send(sample: Path, port: int, log: Path) -> None:
    """ffmpeg ``-re -c copy`` of ``sample`` as plain FLV over TCP: each tag one write
    when its time comes (``-flush_packets 1``), as an RTMP publisher's message is one
    burst (the header and body writes of RTMP are not there: fewer wake-ups)."""
    with log.open("ab") as errors:
        await trio.run_process(
            [
                "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-re",
                "-i", str(sample), "-c", "copy", "-flush_packets", "1",
                "-f", "flv", f"tcp://{live.HOST}:{port}",
            ],
            check=False,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )  # fmt: skip


async def run(publishers: int, window_s: float, workdir: Path) -> dict[str, Any]:
    sample = await live.make_sample(Path.home() / ".cache" / "trioflix-bench")
    receivers = [Receiver(workdir, mode) for mode in RECEIVERS]
    ours, nginx = live.Trioflix(workdir, read_interval_ms=0), live.NginxLive(workdir)
    async with live.serving(ours, "setup"):
        await ours.create_channels(publishers)
    everyone: list[live.Server] = [*receivers, ours, nginx]
    async with AsyncExitStack() as stack:
        running = [await stack.enter_async_context(live.serving(s, "floor")) for s in everyone]
        async with trio.open_nursery() as nursery:
            started = time.monotonic()
            for index in range(publishers):
                for receiver in receivers:
                    log = workdir / f"ffmpeg-{receiver.name}-{index}.log"
                    nursery.start_soon(_send, sample, receiver.rtmp_port, log)
                for server in (ours, nginx):
                    nursery.start_soon(
                        live.run_ffmpeg,
                        sample,
                        server.publish_url(index),
                        live.SAMPLE_SECONDS,
                        workdir / f"ffmpeg-{server.name}-{index}.log",
                        live.PublisherRun(),
                    )
                await trio.sleep(live.PUBLISHER_STAGGER_S)
            await live.sleep_until(time.monotonic() + live.WARMUP_S)
            _ask_reads(running[: len(receivers)])
            cpu0, t0 = [live.cpu_seconds(r.pid) for r in running], time.monotonic()
            await live.sleep_until(t0 + window_s)
            cpu1, t1 = [live.cpu_seconds(r.pid) for r in running], time.monotonic()
            _ask_reads(running[: len(receivers)])
            await trio.sleep(0.5)  # for the receivers to print
            # On a machine so busy that starting took most of the sample, the first
            # streams ended inside the window: not a measurement.
            if t1 > started + live.SAMPLE_SECONDS - 1.0:
                raise RuntimeError(f"starting {publishers} publishers took too long")
            nursery.cancel_scope.cancel()
    cpu = {
        server.name: (cpu1[i] - cpu0[i]) / (publishers * (t1 - t0))
        for i, server in enumerate(everyone)
    }
    return {
        "publishers": publishers,
        "window_s": t1 - t0,
        "cpu_per_stream_s": cpu,
        "ratio_to_nginx": {name: cpu[name] / cpu[nginx.name] for name in (*RECEIVERS, ours.name)},
        # Reads that brought data (each one wake-up of the reader) per stream-second.
        "reads_per_stream_s": {
            receiver.name: _read_counts(run.log) / (publishers * (t1 - t0))
            for receiver, run in zip(receivers, running, strict=False)
        },
        "load": load_average(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench._read_floor", description=__doc__)
    parser.add_argument("--publishers", type=int, default=25)
    parser.add_argument("--window", type=float, default=10.0, help="seconds measured")
    parser.add_argument("--serve", nargs=2, metavar=("MODE", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]))
        return
    workdir = Path(tempfile.mkdtemp(prefix="trioflix-bench-floor-"))
    report = trio.run(run, args.publishers, args.window, workdir)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
