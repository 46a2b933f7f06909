"""tus uploads into S3: trioflix against @tus/server with @tus/s3-store, into one SeaweedFS.

    nox -s bench -- uploads_s3            # full run: 1 GiB uploads, 3 rounds
    nox -s bench -- uploads_s3 --quick    # smoke run: 256 MiB, one round
    python -m bench.uploads_s3 --trioflix-src /path/to/checkout   # another trioflix

One file of random bytes is uploaded with tus, in PATCH requests of 8 MiB and
of 64 MiB, to trioflix (``TRIOFLIX_STORAGE_URL=s3://BUCKET/trioflix``) and to
@tus/server with @tus/s3-store (installed with npm into a temporary folder at
run time, at the exact versions :data:`~bench._tus_servers.TUS_SERVER_VERSION`
and :data:`S3_STORE_VERSION`, its part size and concurrency left at their
defaults, and like trioflix's client no flexible checksums). Both write to the
same SeaweedFS (``weed mini``, started here on loopback ports), each upload
into a bucket of its own, emptied and removed after it. The client is the one
of ``bench/uploads.py`` (bench/_tus_client.py): a raw HTTP/1.1 request per
PATCH whose body leaves with ``sendfile``, so it costs next to no CPU; the clock
runs from the creation ``POST`` to the last PATCH's answer.

Each server is started fresh for each upload; the runs go in rounds, one per
(chunk size, round), the two servers taking turns at going first, so that on a
shared machine both see the same load. Measured per upload:

* **MiB/s**;
* **server CPU per GiB**: user + system time of the server process alone (all
  its threads, not its children: trioflix's processing job for the upload runs
  in a child process) over the upload; **SeaweedFS's CPU per GiB** apart, over
  the same window;
* **peak RSS**: the server's ``VmHWM`` after the upload, reset (``clear_refs``)
  just before it; "idle" is its RSS then;
* **peak local disk**: the most the server's folders grew during the upload,
  sampled every 20 ms by walking them (allocated blocks, as ``du``): trioflix's
  data folder, and for both servers the ``TMPDIR`` it is given (where
  @tus/s3-store buffers each part before sending it);
* **exact**: after the server has stopped, whether the bucket holds an object
  of the upload's size whose SHA-256 is the file's (the object is looked up by
  size, as each server names it its own way).

``--trioflix-src PATH`` runs the ``trioflix`` and ``protocols`` packages in PATH
(through ``PYTHONPATH``) instead of this checkout's, with this checkout's
Python environment. Everything talks to 127.0.0.1 only, every step is bounded in
time, and the servers, SeaweedFS and the work folder are gone on exit.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench._files import DiskPeak, make_random_file
from bench._machine import (
    add_run_options,
    load_average,
    node_version,
    report_header,
    run_meta,
)
from bench._proc import cpu_seconds, exit_on_sigterm, reset_peak_rss, status_kib
from bench._seaweedfs import (
    ACCESS_KEY_ID,
    REGION,
    SECRET_ACCESS_KEY,
    Weed,
    seaweedfs,
    weed_version,
)
from bench._tus_client import upload
from bench._tus_servers import TUS_SERVER_VERSION, install_node_server, node_server, trioflix
from trioflix.storage._s3 import create_s3_client

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from contextlib import AbstractContextManager

    from types_boto3_s3 import S3Client

    from bench._tus_servers import Server

S3_STORE_VERSION = "2.0.7"  # @tus/s3-store, exact: figures are only comparable per version
MIB = 1024 * 1024
GIB = 1024 * MIB
TRIOFLIX_PREFIX = "trioflix"  # TRIOFLIX_STORAGE_URL=s3://BUCKET/trioflix
READ_BYTES = 8 * MIB  # per read while checking an object's bytes
SERVERS = ("trioflix", "@tus/server")


@dataclass(frozen=True)
class Plan:
    size: int  # bytes per upload
    chunks: tuple[int, ...]  # PATCH sizes
    rounds: int  # each (server, chunk size) is measured this many times


FULL = Plan(1024 * MIB, (8 * MIB, 64 * MIB), 3)  # 3 rounds: the machine is shared
QUICK = Plan(256 * MIB, (8 * MIB, 64 * MIB), 1)


_TUS_S3_SERVER = """\
import http from "node:http";
import { S3Store } from "@tus/s3-store";
import { Server } from "@tus/server";

// The identity and region come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
// AWS_REGION; parts are buffered in os.tmpdir(), that is TMPDIR.
const [port, endpoint, bucket] = process.argv.slice(2);
const datastore = new S3Store({
  s3ClientConfig: {
    bucket,
    endpoint,
    forcePathStyle: true,
    // As trioflix's client: no CRC of every body (not every S3 server checks it).
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  },
});
const tus = new Server({ path: "/files", datastore });
http.createServer((req, res) => tus.handle(req, res)).listen(Number(port), "127.0.0.1");
process.on("SIGINT", () => process.exit(0));
"""


def _aws_env(weed: Weed) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL_S3": weed.endpoint,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        "AWS_REGION": REGION,
    }


@contextlib.contextmanager
def _with_tmpdir(workdir: Path, name: str) -> Iterator[Path]:
    tmp = workdir / f"{name}-tmp"
    tmp.mkdir()
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def trioflix_s3(
    workdir: Path, size: int, weed: Weed, bucket: str, source: Path | None
) -> Iterator[tuple[Server, list[Path]]]:
    """trioflix storing in ``bucket``; with the folders whose disk use is measured."""
    with _with_tmpdir(workdir, "trioflix") as tmp:
        env = _aws_env(weed) | {
            "TRIOFLIX_STORAGE_URL": f"s3://{bucket}/{TRIOFLIX_PREFIX}",
            "TMPDIR": str(tmp),
        }
        with trioflix(workdir, size, source=source, env=env) as server:
            yield server, [server.data_dir, tmp]


@contextlib.contextmanager
def tus_s3(
    workdir: Path, root: Path, weed: Weed, bucket: str
) -> Iterator[tuple[Server, list[Path]]]:
    """@tus/server + @tus/s3-store storing in ``bucket``; its ``TMPDIR`` is measured."""
    tmp = workdir / "tus-node-tmp"
    describe = (
        f"@tus/server {TUS_SERVER_VERSION} + @tus/s3-store {S3_STORE_VERSION}, "
        f"Node.js {node_version()}"
    )
    with node_server(
        workdir,
        root,
        describe=describe,
        args=[weed.endpoint, bucket],
        data_dir=tmp,
        env=_aws_env(weed) | {"TMPDIR": str(tmp)},
    ) as server:
        yield server, [tmp]


# --- the bucket ------------------------------------------------------------------------


def _keys(client: S3Client, bucket: str) -> Iterator[tuple[str, int]]:
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            yield item["Key"], item["Size"]


def _sha256(client: S3Client, bucket: str, key: str) -> str:
    body = client.get_object(Bucket=bucket, Key=key)["Body"]
    digest = hashlib.sha256()
    while chunk := body.read(READ_BYTES):
        digest.update(chunk)
    body.close()
    return digest.hexdigest()


def check_bytes(client: S3Client, bucket: str, size: int, expected: str) -> str:
    """Whether ``bucket`` holds an object of ``size`` bytes whose SHA-256 is ``expected``.

    Returns:
        "yes", or "no: " and why not.
    """
    candidates = [key for key, length in _keys(client, bucket) if length == size]
    if not candidates:
        return "no: no object of the upload's size"
    if any(_sha256(client, bucket, key) == expected for key in candidates):
        return "yes"
    return "no: different bytes"


def remove_bucket(client: S3Client, bucket: str) -> None:
    """Abort the bucket's multipart uploads, delete its objects, then the bucket."""
    for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
        for pending in page.get("Uploads", []):
            client.abort_multipart_upload(
                Bucket=bucket, Key=pending["Key"], UploadId=pending["UploadId"]
            )
    for key, _ in list(_keys(client, bucket)):
        client.delete_object(Bucket=bucket, Key=key)
    client.delete_bucket(Bucket=bucket)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(READ_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


# --- the run ---------------------------------------------------------------------------


def measure(
    start: Callable[[str], AbstractContextManager[tuple[Server, list[Path]]]],
    client: S3Client,
    weed: Weed,
    source: Path,
    chunk: int,
    bucket: str,
    expected: str,
) -> tuple[str, dict[str, Any]]:
    """One upload to a fresh server in a fresh bucket; its description and figures."""
    client.create_bucket(Bucket=bucket)
    try:
        with start(bucket) as (server, folders):
            pid = server.proc.pid
            idle = status_kib(pid, "VmRSS")
            reset_peak_rss(pid)  # the peak of this upload, not of start-up
            cpu, weed_cpu = cpu_seconds(pid), cpu_seconds(weed.pid)
            with DiskPeak(folders) as disk:
                seconds = upload(server, source, chunk)
            cpu, weed_cpu = cpu_seconds(pid) - cpu, cpu_seconds(weed.pid) - weed_cpu
            peak = status_kib(pid, "VmHWM")
        size = source.stat().st_size
        exact = check_bytes(client, bucket, size, expected)
    finally:
        remove_bucket(client, bucket)
    return server.describe, {
        "chunk": chunk,
        "seconds": seconds,
        "mib_s": size / MIB / seconds,
        "cpu_s_per_gib": cpu / (size / GIB),
        "weed_cpu_s_per_gib": weed_cpu / (size / GIB),
        "idle_rss_mib": idle / 1024,
        "peak_rss_mib": peak / 1024,
        "peak_disk_mib": (disk.peak - disk.start) / MIB,
        "exact": exact,
    }


def run(
    plan: Plan, workdir: Path, meta: dict[str, Any], trioflix_src: Path | None
) -> dict[str, Any]:
    source = workdir / "upload.bin"
    print(f"writing {plan.size // MIB} MiB of random bytes", file=sys.stderr)
    make_random_file(source, plan.size)
    expected = file_sha256(source)
    node_root = workdir / "tus-node"
    print(
        f"installing @tus/server@{TUS_SERVER_VERSION} @tus/s3-store@{S3_STORE_VERSION} "
        f"into {node_root}",
        file=sys.stderr,
    )
    install_node_server(
        node_root,
        {"@tus/server": TUS_SERVER_VERSION, "@tus/s3-store": S3_STORE_VERSION},
        _TUS_S3_SERVER,
    )
    weed_dir = workdir / "weed"
    weed_dir.mkdir()
    uploads: list[dict[str, Any]] = []
    described: dict[str, str] = {}
    with seaweedfs(weed_dir, "bench") as weed:
        client = create_s3_client(weed.endpoint, REGION, ACCESS_KEY_ID, SECRET_ACCESS_KEY)
        servers: dict[str, Callable[[str], AbstractContextManager[tuple[Server, list[Path]]]]] = {
            "trioflix": lambda bucket: trioflix_s3(workdir, plan.size, weed, bucket, trioflix_src),
            "@tus/server": lambda bucket: tus_s3(workdir, node_root, weed, bucket),
        }
        meta["load_start"] = load_average()
        for round_number in range(plan.rounds):
            for index, chunk in enumerate(plan.chunks):
                # Each server goes first in turn, for every chunk size across the rounds.
                turn = (round_number + index) % len(SERVERS)
                for name in SERVERS[turn:] + SERVERS[:turn]:
                    bucket = f"r{round_number}-{chunk // MIB}m-{SERVERS.index(name)}"
                    described[name], figures = measure(
                        servers[name], client, weed, source, chunk, bucket, expected
                    )
                    print(
                        f"round {round_number + 1}, {chunk // MIB} MiB chunks, {name}: "
                        f"{figures['mib_s']:.0f} MiB/s, {figures['cpu_s_per_gib']:.2f} CPU-s/GiB, "
                        f"peak disk {figures['peak_disk_mib']:.0f} MiB, exact: {figures['exact']}",
                        file=sys.stderr,
                    )
                    uploads.append({"server": name, **figures})
        meta["load_end"] = load_average()
        client.close()
    meta["servers"] = described
    return {"meta": meta, "size": plan.size, "uploads": uploads}


def render(report: dict[str, Any]) -> str:
    """The markdown table of ``docs/benchmarks.md`` for this run.

    Medians over the rounds, but the peaks (RSS, disk): the highest; "exact"
    counts the uploads whose bytes in the bucket were right.
    """
    plan = report["meta"]["plan"]
    lines = [
        f"tus upload of {report['size'] // MIB} MiB of random bytes into S3 (SeaweedFS), "
        f"{plan['rounds']} rounds; medians over the rounds, peaks the highest. CPU: the server "
        "process alone; SeaweedFS's apart.",
        "",
        "| server | chunks | MiB/s | server CPU-s/GiB | SeaweedFS CPU-s/GiB | idle RSS MiB "
        "| peak RSS MiB | peak local disk MiB | bytes exact |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for chunk in plan["chunks"]:
        for name in SERVERS:
            runs = [r for r in report["uploads"] if r["server"] == name and r["chunk"] == chunk]

            def median(key: str, runs: list[dict[str, Any]] = runs) -> float:
                return float(statistics.median(r[key] for r in runs))

            exact = sum(r["exact"] == "yes" for r in runs)
            wrong = sorted({r["exact"] for r in runs if r["exact"] != "yes"})
            lines.append(
                f"| {name} | {chunk // MIB} MiB | {median('mib_s'):.0f} | "
                f"{median('cpu_s_per_gib'):.2f} | {median('weed_cpu_s_per_gib'):.2f} | "
                f"{median('idle_rss_mib'):.0f} | {max(r['peak_rss_mib'] for r in runs):.0f} | "
                f"{max(r['peak_disk_mib'] for r in runs):.0f} | "
                f"{exact}/{len(runs)}{''.join(f' ({why})' for why in wrong)} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    doc = __doc__ or ""
    parser = argparse.ArgumentParser(
        prog="python -m bench.uploads_s3", description=doc.split("\n")[0]
    )
    add_run_options(parser, quick="a short smoke run (256 MiB)")
    parser.add_argument(
        "--dir", type=Path, default=None, help="work folder parent (the disk used; default /tmp)"
    )
    parser.add_argument(
        "--trioflix-src",
        type=Path,
        help="run the trioflix and protocols packages in this folder (default: this checkout's)",
    )
    args = parser.parse_args(argv)
    exit_on_sigterm()
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            parser.error(f"{tool} is not on PATH")
    trioflix_src = args.trioflix_src.resolve() if args.trioflix_src else None
    if trioflix_src is not None and not (trioflix_src / "trioflix").is_dir():
        parser.error(f"no trioflix package in {trioflix_src}")
    plan = QUICK if args.quick else FULL
    command = (
        "nox -s bench -- uploads_s3"
        + (" --quick" if args.quick else "")
        + (f" --trioflix-src {trioflix_src}" if trioflix_src else "")
    )
    meta = run_meta(command, plan)
    meta["weed"] = weed_version()
    workdir = Path(tempfile.mkdtemp(prefix="trioflix-bench-uploads-s3-", dir=args.dir))
    started = time.monotonic()
    try:
        report = run(plan, workdir, meta, trioflix_src)
    finally:
        if args.keep:
            print(f"work folder kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    report["meta"]["duration_s"] = round(time.monotonic() - started)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    m = report["meta"]
    print(report_header(m, versions=m["weed"], servers=m["servers"]))
    print()
    print(render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
