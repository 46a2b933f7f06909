"""Glass-to-glass latency of the channel page's players, and server CPU per LL-HLS viewer.

    nox -s bench -- latency            # full run: 60 s per player, ~10 min
    nox -s bench -- latency --quick    # 10 s per player, ~3 min
    python -m bench.latency --help     # from the repository root, in .venv

One ``trioflix serve`` (embedded defaults: SQLite, local files; ``--hls-ladder off``
so that no transcoder competes with the players for the machine, WebRTC host
candidates on 127.0.0.1) and one publisher for the whole run: a thread of this
process draws, 30 times a second, a 640x360 frame whose blocks spell the milliseconds
since the run's epoch at which the frame is handed to ffmpeg
(``bench/_frame_clock.py``), and another thread a frame's length of a tone; ffmpeg
encodes them (libx264 ``veryfast``, ``-tune zerolatency``, a keyframe every second,
no B-frames, AAC) and publishes over RTMP.

- glass to glass: headless Chromium (Playwright, the system's ``/usr/bin/chromium``)
  opens the channel page with its latency mode set to LL-HLS, HLS, HTTP-FLV or
  WebRTC in turn: the player users see, not a page of the benchmark's own. For
  every frame the page shows (``requestVideoFrameCallback``) it draws the picture
  to a canvas, reads the blocks and records its expected display time
  (``performance.timeOrigin`` + ``expectedDisplayTime``, the same clock as the
  publisher's ``time.time()``) minus the frame's time. The players run one after
  another, never side by side: four decoders at once on two shared cores would
  measure the machine, not the server. Rounds alternate the order so drift in the
  machine's load falls on all four. Reported per player: p50/p95/max, frames
  read and not readable, stalls (the picture frozen > 500 ms), and for the HLS
  modes hls.js's own latency estimate beside it: the difference is the time a
  frame takes from the encoder into a playlist.
- the server's share: before the browser, the channel's HTTP-FLV read on a socket
  and decoded by PyAV as it arrives, each frame's clock against ``time.time()``:
  what the encoder, RTMP and the server take, which no player can shorten.
- CPU per HTTP viewer: N simple players in this process (httpx, one connection
  each) against the same channel: LL-HLS ones follow ``ll.m3u8`` with blocking
  reloads (``_HLS_msn`` and ``_HLS_part`` of the preload hint) and fetch every new
  part, classic ones reload ``index.m3u8`` every target duration (half that when
  nothing was new, as hls.js does) and fetch every new segment. LL-HLS players run
  twice: as players do (their connection opens with LL-HLS requests, which the
  front door answers on the socket) and with a connection that opened with another
  request (``/healthz``), which hypercorn and Quart then serve: the path LL-HLS
  took before the front door served it, in the same run. The server's CPU time
  (its process tree, from ``/proc``) over a window with N viewers, less a window
  with none, divided by N; windows alternate so drift falls on all.

``--cpu-only`` measures the CPU per viewer alone (no browser, ~2 min quick).
"""

from __future__ import annotations

import argparse
import array
import itertools
import json
import math
import os
import re
import socket
import statistics
import sys
import threading
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

import httpx
import trio

from bench._frame_clock import (
    CLOCK_HEIGHT_PX,
    DECODE_JS,
    HEIGHT,
    WIDTH,
    decode_luma,
    frame_yuv420p,
)
from bench._machine import (
    add_run_options,
    report_header,
    run_in_workdir,
    run_meta,
)
from bench._proc import exit_on_sigterm
from bench.live import HOST, STOP_TIMEOUT_S, Trioflix, cpu_seconds, percentile, serving
from tests.browser.helpers import in_browser, new_context

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from playwright.sync_api import Browser

FPS = 30
KEYFRAME_EVERY_S = 1
VIDEO_KBPS = 1500
AUDIO_RATE = 48_000
# A frame shown this long after the one before is a stall a viewer sees (the picture
# stops), as the LL-HLS browser test counts them.
STALL_MS = 500
# The channel page's latency modes; the table names the engine each page really ran.
MODES = ("ll-hls", "hls", "http-flv", "webrtc")
MODE_KEY = "trioflix.latencyMode"  # where the channel page keeps the viewer's choice
PLAY_TIMEOUT_MS = 30_000  # page load to the first frame read: a fresh HLS player needs ~6 s
CPU_WARMUP_S = 3.0  # players joined, first playlists and parts fetched
SEGMENT_REQUEST_TIMEOUT_S = 15.0  # a blocking reload waits at most 3 target durations (6 s)
RUN_BUDGET_S = 30 * 60  # the full run takes ~10 min; past this something is stuck
LIVE_TIMEOUT_S = 30.0  # publisher start to the LL master playlist answering
TAP_WARMUP_S = 3.0  # the GOP cache's burst at the start arrives late by design
MAX_HEAD_BYTES = 4096  # an HTTP response head; more is not the server
MASTER_ATTEMPTS = 10  # a second apart: the channel is live, a master answers at once
PART_URI = re.compile(r"ll-[^/?\"]*-(\d+)\.(\d+)\.m4s")


@dataclass(frozen=True)
class Plan:
    watch_s: float  # per player and round, after the warm-up
    warmup_s: float  # page loaded and playing to the window's start: LL-HLS catches up
    rounds: int
    viewers: int  # HTTP players per CPU window
    cpu_window_s: float
    cpu_repeats: int


# Ten HTTP players a window: the players share the machine with the server, and at
# twenty on a loaded 2-core machine the LL-HLS ones fell behind the stream.
FULL = Plan(watch_s=30.0, warmup_s=10.0, rounds=2, viewers=10, cpu_window_s=20.0, cpu_repeats=2)
QUICK = Plan(watch_s=10.0, warmup_s=6.0, rounds=1, viewers=5, cpu_window_s=6.0, cpu_repeats=1)


class LatencyServer(Trioflix):
    """``trioflix serve`` as :class:`bench.live.Trioflix` runs it, with live HLS on
    (source rendition only) and WebRTC host candidates on loopback."""

    def command(self) -> list[str]:
        command = super().command()
        command[command.index("--hls") + 1] = "on"
        return [*command, "--hls-ladder", "off", "--webrtc-addresses", HOST]

    def describe(self) -> str:
        return (
            "trioflix (this tree), `trioflix serve --hls-ladder off --webrtc-addresses"
            " 127.0.0.1`, otherwise the defaults (SQLite, 2 s segments, 300 ms LL-HLS parts);"
            " stream key with `record: false`"
        )


# --- the publisher -----------------------------------------------------------------------


def encoder_command(output: str, *, audio_fd: int | None = None) -> list[str]:
    """ffmpeg reading raw ``yuv420p`` frames from stdin (and, given ``audio_fd``, raw
    48 kHz mono audio from that descriptor), publishing H.264 (+ AAC) FLV to ``output``
    as a live encoder set for low latency would: x264 ``zerolatency`` (no lookahead, no
    B-frames, which WebRTC needs), a keyframe every second."""
    command = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y"]
    command += ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{WIDTH}x{HEIGHT}"]
    command += ["-framerate", str(FPS), "-thread_queue_size", "64", "-i", "pipe:0"]
    if audio_fd is not None:
        # Written beside each frame, so the muxer's interleaving never waits for audio.
        command += ["-f", "s16le", "-ar", str(AUDIO_RATE), "-ac", "1", "-analyzeduration", "0"]
        command += ["-thread_queue_size", "64", "-i", f"pipe:{audio_fd}"]
        command += ["-map", "0:v", "-map", "1:a", "-c:a", "aac", "-b:a", "96k"]
    command += [
        "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-bf", "0",
        "-g", str(FPS * KEYFRAME_EVERY_S), "-keyint_min", str(FPS * KEYFRAME_EVERY_S),
        "-sc_threshold", "0", "-b:v", f"{VIDEO_KBPS}k", "-maxrate", f"{VIDEO_KBPS}k",
        "-bufsize", f"{VIDEO_KBPS}k", "-pix_fmt", "yuv420p", "-f", "flv", output,
    ]  # fmt: skip
    return command


def _paced(pipe: int, chunk: Callable[[int], bytes], stop: threading.Event) -> int:
    """Write ``chunk(index)`` to the file descriptor ``pipe`` every 1/FPS s (absolute
    deadlines, so no drift) until ``stop`` is set or the reader leaves, then close it
    (the encoder sees the end); the number of chunks written. Blocks: run in a thread."""
    start = time.monotonic()
    index = 0
    with open(pipe, "wb") as out:
        while not stop.is_set():
            time.sleep(max(0.0, start + index / FPS - time.monotonic()))
            try:
                out.write(chunk(index))
                out.flush()
            except BrokenPipeError:
                break
            index += 1
    return index


def write_clock_frames(video: int, epoch: float, stop: threading.Event) -> int:
    """Frames to ``video`` at FPS until ``stop``, each showing the milliseconds since
    ``epoch`` (``time.time()``) read just before it is written (see :func:`_paced`)."""
    return _paced(
        video, lambda index: frame_yuv420p(round((time.time() - epoch) * 1000), index), stop
    )


def write_tone(audio: int, stop: threading.Event) -> int:
    """A 480 Hz tone to ``audio``, a frame's length at a time at FPS, until ``stop``.

    In a thread of its own, beside the frames' (one thread writing both would
    deadlock: ffmpeg reads its inputs in turn while it opens them).
    """
    samples = AUDIO_RATE // FPS  # 1600: 16 periods of 480 Hz, so every chunk is the same
    tone = array.array(
        "h", (round(8000 * math.sin(2 * math.pi * 480 * n / AUDIO_RATE)) for n in range(samples))
    ).tobytes()
    return _paced(audio, lambda index: tone, stop)


# --- glass to glass in the browser -------------------------------------------------------


def _measuring_script(mode: str, epoch_ms: float) -> str:
    """The init script of every page: the latency mode the player starts in, and a
    reader of every shown frame's clock into ``window.g2g``."""
    return f"""
localStorage.setItem({json.dumps(MODE_KEY)}, {json.dumps(mode)});
{DECODE_JS}
window.g2g = {{ frames: [], unreadable: 0 }};
document.addEventListener("DOMContentLoaded", () => {{
  const video = document.querySelector(".player video");
  if (!video) return;
  const canvas = document.createElement("canvas");
  const context = canvas.getContext("2d", {{ willReadFrequently: true }});
  const onFrame = (_now, meta) => {{
    const width = video.videoWidth;
    if (width) {{
      const height = Math.ceil(width * {CLOCK_HEIGHT_PX} / {WIDTH});
      if (canvas.width !== width) {{ canvas.width = width; canvas.height = height; }}
      context.drawImage(video, 0, 0, width, video.videoHeight);
      const value = g2gDecode(context.getImageData(0, 0, width, height).data, width);
      const shown = performance.timeOrigin + meta.expectedDisplayTime;
      if (value === null) window.g2g.unreadable += 1;
      else window.g2g.frames.push([shown, shown - ({epoch_ms} + value)]);
    }}
    video.requestVideoFrameCallback(onFrame);
  }};
  video.requestVideoFrameCallback(onFrame);
}});
"""


ENGINE_LATENCY_JS = (
    "(() => { const e = window.trioflix && trioflix.player.engine;"
    " return e ? e.latency() : null; })()"
)


def _watch(browser: Browser, url: str, mode: str, epoch: float, plan: Plan) -> dict[str, Any]:
    """One player on the channel page in ``mode``: frames read over the window."""
    context = new_context(browser, url)
    context.add_init_script(_measuring_script(mode, epoch * 1000))
    page = context.new_page()
    # The player's requests for media and playlists: what the HTTP players of the CPU
    # measurement stand in for.
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    try:
        page.goto(f"/channel/{Trioflix.channel(0)}")
        page.wait_for_function("() => window.g2g.frames.length > 0", timeout=PLAY_TIMEOUT_MS)
        engine = page.locator(".player").get_attribute("data-engine")
        page.wait_for_timeout(plan.warmup_s * 1000)
        page.evaluate("window.g2g.frames = []; window.g2g.unreadable = 0")
        del requests[:]
        estimates = []
        for _ in range(round(plan.watch_s)):
            page.wait_for_timeout(1000)
            estimate = page.evaluate(ENGINE_LATENCY_JS)
            if estimate is not None:
                estimates.append(float(estimate) * 1000)
        frames, unreadable = page.evaluate("[window.g2g.frames, window.g2g.unreadable]")
        return {
            "engine": engine,
            "frames": frames,
            "unreadable": unreadable,
            "engine_ms": estimates,
            "requests": sum("/live/" in url for url in requests),
        }
    finally:
        context.close()


def _summary(runs: list[dict[str, Any]], watch_s: float) -> dict[str, Any]:
    latencies = [ms for run in runs for _, ms in run["frames"]]
    stalls = []
    for run in runs:
        shown = [at for at, _ in run["frames"]]
        stalls += [b - a for a, b in itertools.pairwise(shown) if b - a > STALL_MS]
    estimates = [ms for run in runs for ms in run["engine_ms"]]
    return {
        "engines": sorted({str(run["engine"]) for run in runs}),
        "frames": len(latencies),
        "fps": round(len(latencies) / (watch_s * len(runs)), 1),
        "unreadable": sum(run["unreadable"] for run in runs),
        "p50_ms": round(percentile(latencies, 0.5)) if latencies else None,
        "p95_ms": round(percentile(latencies, 0.95)) if latencies else None,
        "max_ms": round(max(latencies)) if latencies else None,
        "min_ms": round(min(latencies)) if latencies else None,
        "stalls": len(stalls),
        "longest_stall_ms": round(max(stalls)) if stalls else 0,
        "engine_p50_ms": round(statistics.median(estimates)) if estimates else None,
        "requests_per_s": round(sum(run["requests"] for run in runs) / (watch_s * len(runs)), 1),
    }


async def glass_to_glass(url: str, epoch: float, plan: Plan) -> dict[str, Any]:
    """Every mode, round after round (the order reversed each round), in one Chromium."""

    def scenario(browser: Browser) -> dict[str, list[dict[str, Any]]]:
        runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
        order = list(MODES)
        for _ in range(plan.rounds):
            for mode in order:
                print(f"glass to glass: {mode}", file=sys.stderr)
                runs[mode].append(_watch(browser, url, mode, epoch, plan))
            order.reverse()
        return runs

    runs = await in_browser(scenario)
    return {mode: _summary(mode_runs, plan.watch_s) for mode, mode_runs in runs.items()}


def read_flv_clock(port: int, epoch: float, seconds: float) -> dict[str, Any]:
    """The server's HTTP-FLV output of the channel, decoded by PyAV as it arrives: the
    latency of each frame at its decode, for ``seconds`` after a warm-up.

    No browser: this is what the encoder and the server alone take (plus one decode),
    the part of every player's figure that the player cannot shorten. Runs in a thread
    (blocking socket reads and decoding).
    """
    import av  # only this measurement decodes

    latencies: list[float] = []
    with socket.create_connection((HOST, port), timeout=SEGMENT_REQUEST_TIMEOUT_S) as sock:
        # HTTP/1.0: the body is the FLV stream itself, not chunked.
        request = f"GET /live/{Trioflix.channel(0)}.flv HTTP/1.0\r\nHost: {HOST}\r\n\r\n"
        sock.sendall(request.encode())
        stream = sock.makefile("rb", buffering=0)  # a read returns what has arrived
        head = b""
        while not head.endswith(b"\r\n\r\n") and len(head) < MAX_HEAD_BYTES:
            head += stream.read(1)
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"the channel's FLV answered {head[:40]!r}")
        # No probing ahead and no frame threads: each frame is decoded as it arrives.
        options = {"fflags": "nobuffer", "probesize": "32", "analyzeduration": "0"}
        with av.open(stream, mode="r", format="flv", options=options) as container:
            video = container.streams.video[0]
            video.thread_type = "NONE"
            start = time.monotonic()
            media_bytes = 0
            for packet in container.demux():
                elapsed = time.monotonic() - start
                if elapsed > TAP_WARMUP_S + seconds:
                    break
                if elapsed > TAP_WARMUP_S:
                    media_bytes += packet.size
                if packet.stream is not video:
                    continue
                for frame in video.decode(packet):
                    now = time.time()
                    plane = frame.planes[0]
                    value = decode_luma(bytes(plane), plane.line_size)
                    if value is not None and elapsed > TAP_WARMUP_S:
                        latencies.append(now * 1000 - (epoch * 1000 + value))
    return {
        "kbps": round(8 * media_bytes / seconds / 1000),
        "frames": len(latencies),
        "p50_ms": round(percentile(latencies, 0.5)),
        "p95_ms": round(percentile(latencies, 0.95)),
        "max_ms": round(max(latencies)),
    }


# --- CPU per HTTP viewer -----------------------------------------------------------------


@dataclass
class PlayerStats:
    bytes: int = 0
    requests: int = 0
    errors: int = 0


async def _get(client: httpx.AsyncClient, url: str, stats: PlayerStats) -> httpx.Response | None:
    stats.requests += 1
    try:
        with trio.fail_after(SEGMENT_REQUEST_TIMEOUT_S):
            answer = await client.get(url)
    except (httpx.TransportError, trio.TooSlowError):
        stats.errors += 1
        return None
    if answer.status_code != 200:
        stats.errors += 1
        return None
    stats.bytes += len(answer.content)
    return answer


async def _variant(client: httpx.AsyncClient, master: str, stats: PlayerStats) -> str:
    """The first variant playlist's URL (with its ``vs`` token) of a master playlist.

    Raises:
        RuntimeError: the master playlist did not answer in :data:`MASTER_ATTEMPTS` tries.
    """
    for _ in range(MASTER_ATTEMPTS):
        if (answer := await _get(client, master, stats)) is not None:
            lines = answer.text.splitlines()
            return urljoin(master, next(line for line in lines if not line.startswith("#")))
        await trio.sleep(1)
    raise RuntimeError(f"{master} did not answer")


async def ll_hls_player(client: httpx.AsyncClient, channel: str, stats: PlayerStats) -> None:
    """Follow the LL-HLS playlist as hls.js does at the live edge: the init section
    once, then a blocking reload for the part the preload hint names, and every part
    newer than the last one fetched."""
    playlist = await _variant(client, f"/live/{channel}/master-ll.m3u8", stats)
    newest: tuple[int, int] | None = None
    reload = playlist
    fetched_map = False
    while True:
        answer = await _get(client, reload, stats)
        if answer is None:
            await trio.sleep(0.5)
            reload = playlist
            continue
        text = answer.text
        if not fetched_map and (found := re.search(r'#EXT-X-MAP:URI="([^"]+)"', text)):
            await _get(client, urljoin(playlist, found[1]), stats)
            fetched_map = True
        parts = []
        for line in text.splitlines():
            if line.startswith("#EXT-X-PART:") and (found := PART_URI.search(line)):
                parts.append(((int(found[1]), int(found[2])), line.split('URI="')[1].split('"')[0]))
        if newest is None and parts:
            newest = parts[-1][0]  # join at the live edge, not three segments back
        for number, uri in parts:
            if newest is not None and number > newest:
                await _get(client, urljoin(playlist, uri), stats)
                newest = number
        hint = next((line for line in text.splitlines() if line.startswith("#EXT-X-PRELOAD")), "")
        found = PART_URI.search(hint)
        if found is None:  # ended or not live: plain reloads
            await trio.sleep(1)
            reload = playlist
            continue
        reload = f"{playlist}&_HLS_msn={found[1]}&_HLS_part={found[2]}"


async def hls_player(client: httpx.AsyncClient, channel: str, stats: PlayerStats) -> None:
    """Follow the TS playlist as hls.js does: reload every target duration (half of it
    when nothing was new), fetch every new segment, starting three from the end."""
    playlist = await _variant(client, f"/live/{channel}/master.m3u8", stats)
    newest: int | None = None
    while True:
        answer = await _get(client, playlist, stats)
        if answer is None:
            await trio.sleep(1)
            continue
        lines = answer.text.splitlines()
        target = float(next(line for line in lines if "TARGETDURATION" in line).split(":")[1])
        sequence = int(next(line for line in lines if "MEDIA-SEQUENCE" in line).split(":")[1])
        uris = [line for line in lines if line and not line.startswith("#")]
        last = sequence + len(uris) - 1
        if newest is None:
            newest = last - 3
        fresh = False
        for number, uri in enumerate(uris, start=sequence):
            if number > newest:
                await _get(client, urljoin(playlist, uri), stats)
                newest, fresh = number, True
        await trio.sleep(target if fresh else target / 2)


async def ll_hls_asgi_player(client: httpx.AsyncClient, channel: str, stats: PlayerStats) -> None:
    """:func:`ll_hls_player` on a connection that opened with ``/healthz``: hypercorn's
    from then on, so every LL-HLS request goes through ASGI and Quart."""
    await _get(client, "/healthz", stats)
    await ll_hls_player(client, channel, stats)


PLAYERS = {"ll-hls": ll_hls_player, "ll-hls-asgi": ll_hls_asgi_player, "hls": hls_player}


async def _cpu_window(
    url: str, pid: int, kind: str | None, plan: Plan
) -> tuple[float, list[PlayerStats]]:
    """Server CPU (% of a core) over a window with ``plan.viewers`` players of
    ``kind`` (None: none), and what each player fetched in it."""
    stats = [PlayerStats() for _ in range(plan.viewers if kind else 0)]
    # One connection per player, as a browser's player has: the first request on it
    # decides who serves it (the front door or hypercorn).
    limits = httpx.Limits(max_connections=1)
    async with AsyncExitStack() as stack, trio.open_nursery() as nursery:
        for player in stats:
            assert kind is not None
            client = httpx.AsyncClient(base_url=url, limits=limits, timeout=None)
            await stack.enter_async_context(client)
            nursery.start_soon(PLAYERS[kind], client, Trioflix.channel(0), player)
        await trio.sleep(CPU_WARMUP_S)
        for player in stats:
            player.bytes = player.requests = player.errors = 0
        start_cpu, start = cpu_seconds(pid), time.monotonic()
        await trio.sleep(plan.cpu_window_s)
        share = 100 * (cpu_seconds(pid) - start_cpu) / (time.monotonic() - start)
        nursery.cancel_scope.cancel()
    return share, stats


async def cpu_per_viewer(url: str, pid: int, plan: Plan) -> dict[str, Any]:
    shares: dict[str, list[float]] = {"none": [], **{kind: [] for kind in PLAYERS}}
    fetched: dict[str, list[PlayerStats]] = {kind: [] for kind in PLAYERS}
    order = list(PLAYERS)
    for _ in range(plan.cpu_repeats):
        for kind in [None, *order]:
            print(f"CPU: {plan.viewers if kind else 0} {kind or ''} viewers", file=sys.stderr)
            share, stats = await _cpu_window(url, pid, kind, plan)
            shares[kind or "none"].append(share)
            if kind:
                fetched[kind] += stats
        order.reverse()
    base = statistics.mean(shares["none"])
    result: dict[str, Any] = {"viewers": plan.viewers, "idle_cpu_pct": round(base, 1)}
    for kind in order:
        total = statistics.mean(shares[kind])
        players = fetched[kind]
        result[kind] = {
            "cpu_pct": round(total, 1),
            "per_viewer_pct": round((total - base) / plan.viewers, 3),
            "kbps_per_viewer": round(
                8 * sum(p.bytes for p in players) / len(players) / plan.cpu_window_s / 1000
            ),
            "requests_per_viewer_s": round(
                sum(p.requests for p in players) / len(players) / plan.cpu_window_s, 1
            ),
            "errors": sum(p.errors for p in players),
        }
    classic = result["hls"]["per_viewer_pct"]
    for kind, key in (("ll-hls", "ratio"), ("ll-hls-asgi", "ratio_asgi")):
        ll_hls = result[kind]["per_viewer_pct"]
        result[key] = round(ll_hls / classic, 2) if classic > 0 else None
    return result


# --- the run -----------------------------------------------------------------------------


async def _wait_ll_live(url: str) -> None:
    """Return once the channel's LL-HLS master playlist answers (it waits for a part)."""
    async with httpx.AsyncClient(base_url=url, timeout=None) as client:
        with trio.fail_after(LIVE_TIMEOUT_S):
            while True:
                answer = await client.get(f"/live/{Trioflix.channel(0)}/master-ll.m3u8")
                if answer.status_code == 200:
                    return
                await trio.sleep(0.5)


async def run(plan: Plan, workdir: Path, meta: dict[str, Any], *, cpu_only: bool) -> dict[str, Any]:
    server = LatencyServer(workdir)
    meta["servers"] = {server.name: server.describe()}
    async with serving(server, "latency") as running:
        await server.create_channels(1)
        url = f"http://{HOST}:{server.http_port}"
        epoch = time.time()
        # Written by threads: plain blocking writes, paced by the clock.
        frames_in, frames_out = os.pipe()
        sound_in, sound_out = os.pipe()
        with (workdir / "ffmpeg.log").open("wb") as log:
            encoder = await trio.lowlevel.open_process(
                encoder_command(server.publish_url(0), audio_fd=sound_in),
                stdin=frames_in,
                stderr=log,
                pass_fds=[sound_in],
            )
            os.close(frames_in)
            os.close(sound_in)
            stop = threading.Event()
            try:
                async with trio.open_nursery() as nursery:
                    writer = partial(write_clock_frames, frames_out, epoch, stop)
                    nursery.start_soon(partial(trio.to_thread.run_sync, writer))
                    tone = partial(write_tone, sound_out, stop)
                    nursery.start_soon(partial(trio.to_thread.run_sync, tone))
                    try:
                        await _wait_ll_live(url)
                        if not cpu_only:
                            print("glass to glass: the server's FLV in PyAV", file=sys.stderr)
                            tap = await trio.to_thread.run_sync(
                                read_flv_clock, server.http_port, epoch, plan.watch_s
                            )
                            g2g = await glass_to_glass(url, epoch, plan)
                        cpu = await cpu_per_viewer(url, running.pid, plan)
                    finally:
                        stop.set()  # the writer threads return: the nursery can close
            finally:
                encoder.terminate()
                with trio.move_on_after(STOP_TIMEOUT_S, shield=True):
                    await encoder.wait()
        meta["errors_logged"] = running.errors_logged()
    if cpu_only:
        return {"meta": meta, "cpu": cpu}
    return {"meta": meta, "server_flv": tap, "glass_to_glass": g2g, "cpu": cpu}


def render(report: dict[str, Any]) -> str:
    lines = _render_latency(report) if "glass_to_glass" in report else []
    cpu = report["cpu"]
    lines += [
        f"Server CPU per HTTP viewer ({cpu['viewers']} viewers a window, idle"
        f" {cpu['idle_cpu_pct']} % of a core with the publisher alone):",
        "",
        "| player | server CPU % | per viewer (% of a core) | kbit/s per viewer"
        " | requests/s per viewer | errors |",
        "|---|---|---|---|---|---|",
    ]
    for kind in PLAYERS:
        row = cpu[kind]
        lines.append(
            f"| {kind} | {row['cpu_pct']} | {row['per_viewer_pct']} | {row['kbps_per_viewer']}"
            f" | {row['requests_per_viewer_s']} | {row['errors']} |"
        )
    if "server_flv" in report:
        lines += [
            "",
            f"The stream: {report['server_flv']['kbps']} kbit/s of audio and video (as the"
            " server's FLV carried it); a player keeping up fetches about that much.",
        ]
    lines += [
        "",
        f"LL-HLS / classic HLS CPU per viewer: {cpu['ratio']} (goal: <= 1.5);"
        f" through ASGI: {cpu['ratio_asgi']}",
        f"Server log lines at ERROR: {report['meta']['errors_logged']}",
    ]
    return "\n".join(lines)


def _render_latency(report: dict[str, Any]) -> list[str]:
    plan = report["meta"]["plan"]
    lines = [
        f"Glass to glass ({plan['rounds']} x {plan['watch_s']:.0f} s per player after"
        f" {plan['warmup_s']:.0f} s warm-up; ms):",
        "",
        "| player (engine) | p50 | p95 | max | frames/s | not readable | stalls > 500 ms"
        " | player's own estimate, p50 | requests/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    tap = report["server_flv"]
    lines.append(
        f"| the server's HTTP-FLV in PyAV, no browser | {tap['p50_ms']} | {tap['p95_ms']}"
        f" | {tap['max_ms']} | {tap['frames'] / report['meta']['plan']['watch_s']:.1f}"
        " | - | - | - | - |"
    )
    for mode, row in report["glass_to_glass"].items():
        own = "-" if row["engine_p50_ms"] is None else str(row["engine_p50_ms"])
        stalls = f"{row['stalls']}" + (
            f" (longest {row['longest_stall_ms']})" if row["stalls"] else ""
        )
        lines.append(
            f"| {mode} ({', '.join(row['engines'])}) | {row['p50_ms']} | {row['p95_ms']}"
            f" | {row['max_ms']} | {row['fps']} | {row['unreadable']} | {stalls} | {own}"
            f" | {row['requests_per_s']} |"
        )
    return [*lines, ""]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.latency", description=__doc__.split("\n\n")[0]
    )
    add_run_options(parser, quick="a short smoke run (~3 min)")
    parser.add_argument(
        "--cpu-only", action="store_true", help="only the CPU per HTTP viewer (no browser)"
    )
    args = parser.parse_args(argv)
    exit_on_sigterm()
    plan = QUICK if args.quick else FULL
    command = (
        "nox -s bench -- latency"
        + (" --quick" if args.quick else "")
        + (" --cpu-only" if args.cpu_only else "")
    )
    meta = run_meta(command, plan)
    report = run_in_workdir(
        lambda workdir: trio.run(partial(_bounded, plan, workdir, meta, cpu_only=args.cpu_only)),
        prefix="trioflix-bench-latency-",
        keep=args.keep,
        json_path=args.json,
    )
    m = report["meta"]
    print(report_header(m, versions=m["machine"]["ffmpeg"], servers=m["servers"]))
    print()
    print(render(report))
    return 0


async def _bounded(plan: Plan, workdir: Path, meta: dict[str, Any], *, cpu_only: bool) -> Any:
    with trio.fail_after(RUN_BUDGET_S):
        return await run(plan, workdir, meta, cpu_only=cpu_only)


if __name__ == "__main__":
    raise SystemExit(main())
