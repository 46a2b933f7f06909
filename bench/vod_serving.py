"""VOD serving benchmark: a ready video's segments through the host, or by redirect to S3.

    nox -s bench -- vod_serving            # 128 segments of 2 MiB (256 MiB) per way
    nox -s bench -- vod_serving --quick    # 32 segments
    python -m bench.vod_serving --help     # from the repository root, in .venv

One ``trioflix serve`` process (SQLite, its own data directory) serves one ready
video whose segments are random bytes already in its store, and a client
fetches every segment one after the other, as a player does, three ways:

* ``local, through the host``: the store on local disk; the host reads each
  segment and streams it (the only way on local disk);
* ``s3, through the host``: the store in SeaweedFS (``weed mini``, loopback);
  the host GETs each segment from S3 and streams it on;
* ``s3, redirect``: the host answers each segment with a 302 to a presigned
  URL and the client fetches it from SeaweedFS itself.

Per way: the latency of one segment as the client sees it (request to last
byte, redirect included: median and 95th percentile), the server's CPU
seconds per GiB served (user + system of the ``trioflix serve`` process, from
``/proc``), and SeaweedFS's. Through the host, the objects are named as
images (``bench_NNN.jpg``), which the route streams on every backend; the
redirected ones are segments (``.ts``). The ways take turns, round by round.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import httpx

from bench._machine import load_average, machine
from bench._proc import cpu_seconds, free_port
from bench._seaweedfs import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, seaweedfs

if TYPE_CHECKING:
    from collections.abc import Iterator

HOST = "127.0.0.1"
BUCKET = "vod-serving"
MIB = 1024 * 1024
SEGMENT_BYTES = 2 * MIB  # about 4 s of 480p-720p video: a typical HLS segment
START_TIMEOUT_S = 60.0
REQUEST_TIMEOUT_S = 60.0
TOKEN = secrets.token_hex(16)
WAYS = ("local, through the host", "s3, through the host", "s3, redirect")


@dataclass
class Result:
    way: str
    latencies_ms: list[float] = field(default_factory=list)
    server_cpu_s: float = 0.0
    weed_cpu_s: float = 0.0
    bytes: int = 0


@contextlib.contextmanager
def trioflix_serve(data_dir: Path, env: dict[str, str]) -> Iterator[tuple[str, int]]:
    """``trioflix serve`` on a loopback port, with ``env`` added to its environment;
    yields (base URL, pid)."""
    port = free_port()
    url = f"http://{HOST}:{port}"
    full = (
        os.environ
        | {
            "TRIOFLIX_DATA_DIR": str(data_dir),
            "TRIOFLIX_HTTP": f"{HOST}:{port}",
            "TRIOFLIX_RTMP": f"{HOST}:0",
            "TRIOFLIX_LOG_LEVEL": "WARNING",
        }
        | env  # the caller's settings win (the RTMP address, say)
    )
    with (data_dir.parent / f"{data_dir.name}.log").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "trioflix", "serve"], env=full, stdout=log, stderr=log
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"trioflix serve did not start; see {log.name}")
            time.sleep(0.2)
        yield url, proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _ready_video(url: str, data_dir: Path) -> None:
    """A user and video 1, ready, whose objects are under ``videos/1-TOKEN/``."""
    answer = httpx.post(
        f"{url}/api/auth/register", json={"username": "bench", "password": "password1"}
    )
    answer.raise_for_status()
    with contextlib.closing(sqlite3.connect(data_dir / "trioflix.sqlite3", timeout=30)) as db, db:
        db.execute(
            "INSERT INTO videos (id, user_id, title, description, origin, state, progress,"
            " created_at, updated_at, media_token)"
            " VALUES (1, 1, 'bench', '', 'upload', 'ready', 1, 0, 0, ?)",
            (TOKEN,),
        )


def _names(count: int, way: str) -> list[str]:
    if way.endswith("redirect"):
        return [f"480p/seg_{n:05d}.ts" for n in range(count)]
    return [f"bench_{n:03d}.jpg" for n in range(count)]


def _fill_local(data_dir: Path, count: int, payload: bytes) -> None:
    root = data_dir / "media" / "objects" / f"videos/1-{TOKEN}"
    root.mkdir(parents=True, exist_ok=True)
    for name in _names(count, "local"):
        (root / name).write_bytes(payload)


def _fill_s3(endpoint: str, count: int, payload: bytes) -> None:
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
        region_name=REGION,
    )
    for way in WAYS[1:]:
        for name in _names(count, way):
            client.put_object(Bucket=BUCKET, Key=f"site/videos/1-{TOKEN}/{name}", Body=payload)


def _fetch_all(url: str, names: list[str], result: Result, server_pid: int, weed_pid: int) -> None:
    with httpx.Client(timeout=REQUEST_TIMEOUT_S) as client:
        client.get(f"{url}/videos/1/{names[0]}", follow_redirects=True)  # warm: connections
        server_cpu, weed_cpu = cpu_seconds(server_pid), cpu_seconds(weed_pid)
        for name in names:
            started = time.perf_counter()
            answer = client.get(f"{url}/videos/1/{name}", follow_redirects=True)
            result.latencies_ms.append((time.perf_counter() - started) * 1000)
            if answer.status_code != 200 or len(answer.content) != SEGMENT_BYTES:
                raise RuntimeError(f"{name}: {answer.status_code}, {len(answer.content)} bytes")
            result.bytes += len(answer.content)
        result.server_cpu_s += cpu_seconds(server_pid) - server_cpu
        result.weed_cpu_s += cpu_seconds(weed_pid) - weed_cpu


def run(count: int, rounds: int, workdir: Path) -> list[Result]:
    payload = os.urandom(SEGMENT_BYTES)
    results = {way: Result(way) for way in WAYS}
    (workdir / "weed").mkdir()
    with seaweedfs(workdir / "weed", BUCKET) as weed:
        endpoint, weed_pid = weed.endpoint, weed.pid
        _fill_s3(endpoint, count, payload)
        s3_env = {
            "TRIOFLIX_STORAGE_URL": f"s3://{BUCKET}/site",
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "AWS_REGION": REGION,
        }
        local_dir, s3_dir = workdir / "local", workdir / "s3"
        local_dir.mkdir()
        s3_dir.mkdir()
        with (
            trioflix_serve(local_dir, {}) as (local_url, local_pid),
            trioflix_serve(s3_dir, s3_env) as (s3_url, s3_pid),
        ):
            _fill_local(local_dir, count, payload)
            _ready_video(local_url, local_dir)
            _ready_video(s3_url, s3_dir)
            servers = {WAYS[0]: (local_url, local_pid)}
            servers |= {WAYS[1]: (s3_url, s3_pid), WAYS[2]: (s3_url, s3_pid)}
            for round_ in range(rounds):
                for way in WAYS[round_ % 3 :] + WAYS[: round_ % 3]:
                    url, pid = servers[way]
                    _fetch_all(url, _names(count, way), results[way], pid, weed_pid)
    return list(results.values())


def render(results: list[Result], meta: dict[str, str]) -> str:
    lines = [
        f"### Run of {meta['when']}",
        "",
        f"{meta['machine']}; load average {meta['load_before']} before, {meta['load_after']}"
        f" after; {meta['segments']} segments of {SEGMENT_BYTES // MIB} MiB per way and round,"
        f" {meta['rounds']} rounds.",
        "",
        "| way | median ms | p95 ms | server CPU-s/GiB | SeaweedFS CPU-s/GiB |",
        "|---|---:|---:|---:|---:|",
    ]
    for result in results:
        gib = result.bytes / 1024**3
        p95 = statistics.quantiles(result.latencies_ms, n=20)[-1]
        lines.append(
            f"| {result.way} | {statistics.median(result.latencies_ms):.1f} | {p95:.1f} |"
            f" {result.server_cpu_s / gib:.2f} | {result.weed_cpu_s / gib:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="32 segments, one round")
    args = parser.parse_args(argv)
    count, rounds = (32, 1) if args.quick else (128, 3)
    workdir = Path(tempfile.mkdtemp(prefix="trioflix-vod-bench-"))
    meta = {
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": ", ".join(f"{k} {v}" for k, v in machine().items()),
        "load_before": load_average(),
        "segments": str(count),
        "rounds": str(rounds),
    }
    try:
        results = run(count, rounds, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    meta["load_after"] = load_average()
    print(render(results, meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
