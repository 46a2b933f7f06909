"""Soak: one ``trioflix serve`` on PostgreSQL and Redis under mixed load for an hour.

    nox -s soak                                    # 60 minutes of load, full size
    nox -s soak -- --minutes 5 --publishers 3 --viewers 20 --hls-players 4 \\
        --chatters 50 --upload-min-mib 20 --upload-max-mib 60   # a smoke run
    python -m bench.soak --help                    # from the repository root, in .venv

At the same time: ``--publishers`` ffmpeg publishers (two of them at 360p with the
live ladder, the rest at 180p, source only), dropped at random moments and back
within the reconnect grace or past it; ``--viewers`` HTTP-FLV/WS-FLV viewers and
``--hls-players`` HLS players joining and leaving at random; ``--chatters`` chat
connections sending about one message a minute each, some SuperChats, each channel's
owner deleting messages and timing people out; ``--uploaders`` tus uploads of
generated videos between ``--upload-min-mib`` and ``--upload-max-mib``, cut off and
resumed, each one waited for until processed, checked and deleted
(``bench/soak/loads.py``).

Faults, at fixed shares of the load time (printed when they happen): PostgreSQL
restarted (``pg_ctl stop -m fast``, started again at once), PostgreSQL stopped for
10 s, Redis restarted, Redis stopped for 10 s, PostgreSQL restarted again.

Load returns to zero after a third and two thirds of the load time and at the end:
every client leaves, the server finishes its own work (live sessions end after the
grace, recordings and uploads are processed), then a quiet minute; its last sample
is compared with the baseline taken before any load.

Every 10 s a sample (``bench/soak/samples.py``) goes to ``samples.jsonl`` in the work
folder; at the end ``soak.png`` (``bench/soak/plot.py``), the recordings are checked,
the log is scanned for ERROR lines, and every goal is printed PASS or FAIL with its
figures (``bench/soak/goals.py``). The exit status is 1 if any goal failed.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import signal
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
import trio

from bench._machine import load_average, machine
from bench._proc import HOST
from bench._site import SiteServices, prepare_services
from bench.live import STOP_TIMEOUT_S, running_process
from bench.soak.goals import check_goals
from bench.soak.loads import (
    PASSWORD,
    TOPUP_CENTS,
    Channel,
    Loads,
    Tally,
    Uploader,
    UploadOutcome,
    geometric_sizes,
    make_publisher_sample,
    make_upload_sources,
    playable,
    video_page,
)
from bench.soak.plot import plot
from bench.soak.samples import INTERVAL_S, Sampler, sample_forever
from bench.soak.site import Restartable, SoakHost, restartable_services

MIB = 1024**2
BASELINE_S = 60.0
QUIET_S = 60.0
DRAIN_LIMIT_S = 10 * 60.0  # live sessions end, recordings and uploads processed
OUTAGE_S = 10.0
# trioflix serve's start (imports, migrations); a shared machine at a load average of 30
# on 2 cores took longer than the 30 s bench.live allows.
STARTUP_TIMEOUT_S = 120.0
RECOVERY_LIMIT_S = 120.0
REGISTER_AT_ONCE = 4  # Argon2id hashing runs in the server's worker threads
# (share of the load time, what, service, seconds down)
FAULTS = (
    (0.20, "PostgreSQL restart (pg_ctl stop -m fast, start)", "postgres", 0.0),
    (0.27, "PostgreSQL stopped for 10 s", "postgres", OUTAGE_S),
    (0.45, "Redis restart", "redis", 0.0),
    (0.55, "Redis stopped for 10 s", "redis", OUTAGE_S),
    (0.85, "PostgreSQL restart (pg_ctl stop -m fast, start)", "postgres", 0.0),
)
QUIET_AT = (1 / 3, 2 / 3, 1.0)  # shares of the load time after which load drops to zero


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__.split("\n")[0]
    )
    add = parser.add_argument
    add("--minutes", type=float, default=60.0, help="minutes of load (quiet minutes come on top)")
    add("--publishers", type=int, default=10)
    add("--ladder-channels", type=int, default=2, help="publishers at 360p, with the ladder")
    add("--recorded", type=int, default=4, help="channels whose stream key records")
    add("--viewers", type=int, default=200, help="HTTP-FLV and WS-FLV viewers")
    add("--hls-players", type=int, default=20)
    add("--chatters", type=int, default=500)
    add("--chat-accounts", type=int, default=100, help="accounts the chatters share")
    add("--uploaders", type=int, default=1, help="uploads running at once")
    add("--upload-min-mib", type=int, default=200)
    add("--upload-max-mib", type=int, default=2048)
    add("--upload-sizes", type=int, default=3, help="source files, sizes spread min to max")
    add("--upload-pause", type=float, default=30.0, help="seconds between an uploader's uploads")
    add("--grace", type=float, default=10.0, help="the server's reconnect grace, seconds")
    add("--warmup-minutes", type=float, default=10.0, help="RSS growth is judged after this")
    add("--no-faults", action="store_true", help="run without the PostgreSQL and Redis faults")
    add(
        "--server-wrapper",
        type=shlex.split,
        default=[],
        metavar="COMMAND",
        help="run the server under this command, e.g. 'heaptrack -o DIR/heaptrack' (it must"
        " run the server as its child and end when the server does)",
    )
    add("--seed", type=int, default=1)
    add("--workdir", type=Path, help="work folder (default: a new one under /tmp, kept)")
    add("--plot", type=Path, help="also copy the plot here (docs/images/soak.png)")
    add(
        "--summarize",
        type=Path,
        metavar="WORKDIR",
        help="no run: check the goals and plot again from a work folder's files (a run cut short)",
    )
    return parser.parse_args(argv)


class Run:
    """The run's moment: phase, faults since the last sample, client counts."""

    def __init__(self) -> None:
        self.phase = "baseline"
        self.events: list[str] = []
        self.tally = Tally()
        self.faults: list[dict[str, Any]] = []
        self.started = time.monotonic()

    def state(self) -> tuple[str, str | None, dict[str, int]]:
        events, self.events = self.events, []
        return self.phase, "; ".join(events) or None, dict(self.tally.active)

    def say(self, text: str) -> None:
        print(f"[{(time.monotonic() - self.started) / 60:6.1f} min] {text}", flush=True)


async def _register(client: httpx.AsyncClient, name: str) -> str:
    answer = await client.post("/api/auth/register", json={"username": name, "password": PASSWORD})
    answer.raise_for_status()
    return str(answer.json()["token"])


async def setup(
    base_url: str, args: argparse.Namespace, samples: tuple[Path, Path]
) -> tuple[list[Channel], list[str], str]:
    """Channel owners with stream keys, chat accounts with money, the uploader."""
    channels: list[Channel] = []
    chat_tokens: list[str] = []
    limiter = trio.CapacityLimiter(REGISTER_AT_ONCE)
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        for index in range(args.publishers):
            token = await _register(client, f"soak{index:02d}")
            record = index < args.recorded
            answer = await client.post(
                "/api/streaming/keys",
                headers={"Authorization": f"Bearer {token}"},
                json={"name": "soak", "record": record},
            )
            answer.raise_for_status()
            sample = samples[0] if index < args.ladder_channels else samples[1]
            channels.append(
                Channel(f"soak{index:02d}", token, answer.json()["key"]["key"], sample, record)
            )

        async def chat_account(index: int) -> None:
            async with limiter:
                token = await _register(client, f"chatter{index:03d}")
                answer = await client.post(
                    "/api/wallet/topups",
                    headers={"Authorization": f"Bearer {token}"},
                    json={"amount": TOPUP_CENTS, "currency": "USD"},
                )
                answer.raise_for_status()
                chat_tokens.append(token)

        async with trio.open_nursery() as nursery:
            for index in range(min(args.chat_accounts, max(args.chatters, 1))):
                nursery.start_soon(chat_account, index)
        uploader = await _register(client, "soakuploader")
    return channels, chat_tokens, uploader


async def _faults(
    run: Run,
    services: dict[str, Restartable],
    base_url: str,
    start_s: float,
    end_s: float,
    load_s: float,
) -> None:
    """Inject the faults whose moment falls in this load segment ``[start_s, end_s)``."""
    segment_start = trio.current_time()
    for share, what, name, down_s in FAULTS:
        at = share * load_s
        if not start_s <= at < end_s:
            continue
        await trio.sleep_until(segment_start + at - start_s)
        run.say(f"fault: {what}")
        run.events.append(what)
        began = time.monotonic()
        # Shielded (and bounded): the end of the segment never leaves a service down,
        # nor a fault unrecorded.
        with trio.CancelScope(shield=True):
            await services[name].outage(down_s)
            back = time.monotonic()
            recovered = await _healthy_after(base_url)
        run.faults.append(
            {
                "at_min": round((began - run.started) / 60, 1),
                "fault": what,
                "down_s": round(back - began, 1),
                "healthz_ok_after_s": recovered,
            }
        )
        run.say(f"  {name} back after {back - began:.1f} s; /healthz 200 {recovered} s after that")


async def _healthy_after(base_url: str) -> float | None:
    """Seconds until ``/healthz`` answers 200 (the database is reachable again)."""
    began = time.monotonic()
    async with httpx.AsyncClient(base_url=base_url, timeout=5) as client:
        with trio.move_on_after(RECOVERY_LIMIT_S):
            while True:
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        return round(time.monotonic() - began, 1)
                except httpx.HTTPError:
                    pass
                await trio.sleep(0.2)
    return None


async def _drain_then_quiet(run: Run, sampler: Sampler) -> None:
    """No clients: wait for the server's own work to finish, then a quiet minute."""
    run.phase = "drain"
    run.say("load to zero: waiting for live sessions to end and the job queue to empty")
    with trio.move_on_after(DRAIN_LIMIT_S) as limit:
        while True:
            await trio.sleep(INTERVAL_S)
            last = sampler.rows[-1] if sampler.rows else {}
            if (
                last.get("live_channels") == 0
                and last.get("children") == 0
                and (last.get("jobs_queued"), last.get("jobs_running")) == (0, 0)
            ):
                break
    if limit.cancelled_caught:
        run.say("  the server's work did not finish within the drain limit")
    run.phase = "quiet"
    run.say("quiet minute")
    await trio.sleep(QUIET_S)


async def check_recordings(
    base_url: str, channels: list[Channel], scratch: Path
) -> list[dict[str, Any]]:
    """Every recording of the run: ready, and its first segment decodes; a listing
    the server answered with an error is a row that is not playable, with the error."""
    results = []
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        for channel in channels:
            headers = {"Authorization": f"Bearer {channel.token}"}
            before = None
            while True:
                params: dict[str, Any] = {"mine": 1, "origin": "live", "limit": 100}
                if before is not None:
                    params["before"] = before
                try:
                    response = await client.get("/api/videos", params=params, headers=headers)
                except httpx.HTTPError as exc:  # timed out, refused: as an error answer
                    results.append(_unlisted(channel, f"GET /api/videos: {exc!r}"))
                    break
                page = video_page(response)
                if isinstance(page, str):  # this channel's recordings cannot be listed
                    results.append(_unlisted(channel, page))
                    break
                videos, before = page
                for video in videos:
                    problem = None
                    if video["state"] != "ready":
                        problem = f"state {video['state']}: {video.get('failure')}"
                    else:
                        problem = await playable(client, video["playback"]["hls"], scratch)
                    results.append(
                        {
                            "channel": channel.name,
                            "video_id": video["id"],
                            "duration": video["duration"],
                            "playable": problem is None,
                            "detail": problem or "",
                        }
                    )
                if before is None:
                    break
    return results


def _unlisted(channel: Channel, problem: str) -> dict[str, Any]:
    """A recording row for a listing the server refused: the goal fails, the soak goes on."""
    return {
        "channel": channel.name,
        "video_id": None,
        "duration": None,
        "playable": False,
        "detail": problem,
    }


async def soak(args: argparse.Namespace, workdir: Path) -> int:
    run = Run()
    meta = {
        "machine": machine(),
        "command": "python -m bench.soak " + " ".join(sys.argv[1:]),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_start": load_average(),
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    run.say(f"work folder {workdir}; load average {meta['load_start']}")
    media = workdir / "media"
    media.mkdir(exist_ok=True)
    samples = (
        await make_publisher_sample(media / "publish-360p.flv", "640x360", 25, 600),
        await make_publisher_sample(media / "publish-180p.flv", "320x180", 15, 150),
    )
    sizes = geometric_sizes(args.upload_min_mib * MIB, args.upload_max_mib * MIB, args.upload_sizes)
    sources = await make_upload_sources(media, sizes) if args.uploaders else []
    run.say(f"media made: upload sources of {[s // MIB for s in sizes]} MiB")
    commands = await prepare_services(workdir)
    postgres, redis = restartable_services(commands, workdir)
    try:
        await postgres.start()
        await redis.start()
        services = SiteServices(commands.database_url, commands.redis_url, ())
        host = SoakHost(workdir, services, args.grace)
        log = workdir / "trioflix.log"
        command = [*args.server_wrapper, *host.command()]
        async with running_process(command, log, workdir) as started:
            with trio.fail_after(STARTUP_TIMEOUT_S):
                await host.wait_ready()
            pid = server_pid(started) if args.server_wrapper else started
            base_url = f"http://{HOST}:{host.http_port}"
            code = await _serve_load(
                args,
                run,
                workdir,
                meta,
                pid,
                base_url,
                host,
                sources,
                samples,
                log,
                {"postgres": postgres, "redis": redis},
            )
            if args.server_wrapper:  # the server first, so that the wrapper ends with it
                await stop_wrapped(pid)
    finally:
        await redis.close()
        await postgres.close()
    return code


def server_pid(wrapper: int) -> int:
    """The ``trioflix serve`` process that ``--server-wrapper``'s process ``wrapper`` runs
    (the wrapper itself when it runs the server in its own process). The wrapper's own
    command line names the server's too (``heaptrack -o ... python -m trioflix serve``):
    its descendants are asked first."""
    process = psutil.Process(wrapper)
    for candidate in [*process.children(recursive=True), process]:
        if "trioflix" in candidate.cmdline():
            return int(candidate.pid)
    raise RuntimeError(f"no trioflix process under the server wrapper (pid {wrapper})")


async def stop_wrapped(pid: int) -> None:
    """SIGTERM the wrapped server ``pid`` and wait until it has exited."""
    server = psutil.Process(pid)
    server.terminate()
    await trio.to_thread.run_sync(server.wait, STOP_TIMEOUT_S * 4)


async def _serve_load(
    args: argparse.Namespace,
    run: Run,
    workdir: Path,
    meta: dict[str, Any],
    pid: int,
    base_url: str,
    host: SoakHost,
    sources: list[tuple[Path, str]],
    samples: tuple[Path, Path],
    log: Path,
    services: dict[str, Restartable],
) -> int:
    channels, chat_tokens, uploader_token = await setup(base_url, args, samples)
    run.say(f"{len(channels)} channels, {len(chat_tokens)} chat accounts registered")
    sampler = Sampler(pid, base_url, workdir / "samples.jsonl", run.started, services["redis"].port)
    outcomes: list[UploadOutcome] = []
    loads = Loads(
        http_port=host.http_port,
        rtmp_port=host.rtmp_port,
        channels=channels,
        chat_tokens=chat_tokens,
        tally=run.tally,
        grace_s=args.grace,
        log=workdir / "ffmpeg.log",
        seed=args.seed,
    )
    uploaders = [
        Uploader(
            http_port=host.http_port,
            token=uploader_token,
            sources=sources,
            store=host.data_dir / "media",
            scratch=workdir / f"segment-{i}.ts",
            outcomes=outcomes,
            journal=workdir / "uploads.jsonl",
            tally=run.tally,
            pause_s=args.upload_pause,
            seed=args.seed + i,
        )
        for i in range(args.uploaders)
    ]
    load_s = args.minutes * 60
    async with trio.open_nursery() as nursery:
        nursery.start_soon(sample_forever, sampler, run.state)
        run.say("baseline: no load")
        await trio.sleep(BASELINE_S)
        start_s = 0.0
        for share in QUIET_AT:
            end_s = share * load_s
            run.phase = "load"
            run.say(f"load until {end_s / 60:.1f} min of load")
            async with trio.open_nursery() as clients:
                clients.start_soon(
                    lambda: loads.run(
                        publishers=args.publishers,
                        viewers=args.viewers,
                        players=args.hls_players,
                        chatters=args.chatters,
                    )
                )
                for uploader in uploaders:
                    clients.start_soon(uploader.run)
                if not args.no_faults:
                    clients.start_soon(_faults, run, services, base_url, start_s, end_s, load_s)
                await trio.sleep(end_s - start_s)
                clients.cancel_scope.cancel()
            run.tally.active.clear()
            await _drain_then_quiet(run, sampler)
            start_s = end_s
        run.phase = "checks"
        recordings = await check_recordings(base_url, channels, workdir / "recording-segment.ts")
        await sampler.sample(*run.state())
        nursery.cancel_scope.cancel()
    text = await trio.Path(log).read_text(errors="replace")
    error_lines = [line for line in text.splitlines() if '"level": "ERROR"' in line]
    goals = check_goals(
        sampler.rows,
        warmup_s=BASELINE_S + args.warmup_minutes * 60,
        error_lines=error_lines,
        uploads=[asdict(o) for o in outcomes],
        recordings=recordings,
    )
    meta["load_end"] = load_average()
    meta["duration_s"] = round(time.monotonic() - run.started)
    summary = {
        "meta": meta,
        "goals": [asdict(g) for g in goals],
        "faults": run.faults,
        "counts": dict(run.tally.counts),
        "uploads": [asdict(o) for o in outcomes],
        "recordings": recordings,
        "error_lines": error_lines[:50],
    }
    (workdir / "summary.json").write_text(json.dumps(summary, indent=2))
    title = (
        f"trioflix soak: {args.minutes:g} min of load, {args.publishers} publishers, {args.viewers}"
        f" FLV viewers, {args.hls_players} HLS players, {args.chatters} chatters, {args.uploaders}"
        f" uploader(s) {args.upload_min_mib}-{args.upload_max_mib} MiB ({meta['date']})"
    )
    plot(sampler.rows, workdir / "soak.png", title)
    if args.plot:
        shutil.copyfile(workdir / "soak.png", args.plot)
    print()
    print(f"load average {meta['load_start']} at the start, {meta['load_end']} at the end")
    for fault in run.faults:
        back = fault["healthz_ok_after_s"]
        print(f"fault at {fault['at_min']} min: {fault['fault']}; /healthz 200 {back} s later")
    print("counts: " + ", ".join(f"{k} {v}" for k, v in sorted(run.tally.counts.items())))
    for goal in goals:
        print(goal.line())
    print(f"samples, summary.json, soak.png and the server's log are in {workdir}")
    return 0 if all(g.passed for g in goals) else 1


async def _until_signalled(args: argparse.Namespace, workdir: Path) -> int:
    """:func:`soak`, cut short by SIGTERM or SIGINT: cancelled, so every process it
    started is stopped on the way out (``python -bb`` under ``timeout`` included)."""
    code = 128 + signal.SIGTERM
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:

            async def stop_on_signal() -> None:
                async for _ in signals:
                    print("stopping: signal received", flush=True)
                    nursery.cancel_scope.cancel()

            async def run() -> None:
                nonlocal code
                code = await soak(args, workdir)
                nursery.cancel_scope.cancel()

            nursery.start_soon(stop_on_signal)
            nursery.start_soon(run)
    return code


def summarize(args: argparse.Namespace, workdir: Path) -> int:
    """The goals and the plot from what a run left in ``workdir``: its samples, the
    uploads checked so far, the recordings if the run got to them, the server's log."""

    def lines(name: str) -> list[dict[str, Any]]:
        path = workdir / name
        text = path.read_text() if path.exists() else ""
        return [json.loads(line) for line in text.splitlines() if line]

    rows = lines("samples.jsonl")
    summary = workdir / "summary.json"
    recordings = json.loads(summary.read_text())["recordings"] if summary.exists() else []
    log = (workdir / "trioflix.log").read_text(errors="replace")
    errors = [line for line in log.splitlines() if '"level": "ERROR"' in line]
    goals = check_goals(
        rows,
        warmup_s=BASELINE_S + args.warmup_minutes * 60,
        error_lines=errors,
        uploads=lines("uploads.jsonl"),
        recordings=recordings,
    )
    plot(rows, workdir / "soak.png", f"trioflix soak, {workdir.name} (summarized again)")
    if args.plot:
        shutil.copyfile(workdir / "soak.png", args.plot)
    for goal in goals:
        print(goal.line())
    return 0 if all(g.passed for g in goals) else 1


def main() -> None:
    args = parse_args(sys.argv[1:])
    if args.summarize:
        sys.exit(summarize(args, args.summarize))
    workdir = args.workdir or Path(f"/tmp/trioflix-soak-{datetime.now(UTC):%Y%m%d-%H%M%S}")
    workdir.mkdir(parents=True, exist_ok=True)
    sys.exit(trio.run(_until_signalled, args, workdir))


if __name__ == "__main__":
    main()
