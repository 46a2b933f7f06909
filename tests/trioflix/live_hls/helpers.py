"""Publishing with ffmpeg, reading HLS over HTTP, and checking it against RFC 8216.

The playlist parser here is deliberately independent of ``protocols.hls`` (which
wrote the playlists): a test that parsed with the writer's own code would agree
with any mistake it makes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import trio

from tests.api import auth as auth  # the tests import it from here
from tests.interop.media import FFMPEG, ffprobe, probe_packets, require
from tests.ports import free_port
from tests.waiting import wait_until

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from tests.conftest import Server

LIVE_TIMEOUT_S = 15.0


async def _run(cmd: list[str], *, task_status: trio.TaskStatus[trio.Process]) -> None:
    await trio.run_process(cmd, check=False, task_status=task_status, stdin=b"")


async def start_publisher(
    nursery: trio.Nursery, server: Server, key: str, source: Path, *, loops: int = 0
) -> trio.Process:
    """ffmpeg pushes ``source`` in real time with ``-c copy``, as OBS would push live."""
    ffmpeg = require(FFMPEG, "ffmpeg")
    cmd = [ffmpeg, "-hide_banner", "-loglevel", "error", "-re"]
    if loops:
        cmd += ["-stream_loop", str(loops)]
    cmd += ["-i", str(source), "-c", "copy", "-f", "flv", f"{server.rtmp_url}/{key}"]
    process: trio.Process = await nursery.start(_run, cmd)
    return process


async def wait_live(server: Server, channel: str, live: bool = True) -> None:
    """Poll the registry (another process publishes: there is no event to wait on)."""
    with trio.fail_after(LIVE_TIMEOUT_S):
        while (server.app.trioflix.registry.get(channel) is not None) != live:  # noqa: ASYNC110
            await trio.sleep(0.05)


@dataclass(frozen=True)
class LiveChannel:
    """A channel live from a sample (:func:`go_live`).

    Attributes:
        token: Its streamer's API token.
        user: Its streamer's account, as signing up answered it.
        key: The stream key ffmpeg publishes with.
        publisher: The ffmpeg process, in the test's nursery.
    """

    token: str
    user: dict[str, Any]
    key: str
    publisher: trio.Process


async def go_live(
    nursery: trio.Nursery,
    server: Server,
    source: Path,
    *,
    channel: str = "alice",
    loops: int = 0,
    ll_variants: int = 0,
) -> LiveChannel:
    """``channel`` signs up, makes a stream key and publishes ``source``
    (:func:`start_publisher`); back once the channel is live and, with ``ll_variants``,
    once that many renditions are in its ``master-ll.m3u8`` (a ladder's rungs join
    once they have a part and an MPEG-TS segment)."""
    token, user = await server.register(channel)
    key = await server.create_key(token)
    publisher = await start_publisher(nursery, server, key, source, loops=loops)
    await wait_live(server, channel)
    if ll_variants:
        # The HLS session opens beside the live stream, not before it: on a loaded
        # machine it may not be there yet when the channel is listed live.
        def variants() -> int:
            session = server.app.trioflix.hls.session(channel)
            return -1 if session is None else len(session.ll_variants())

        await wait_until(lambda: variants() == ll_variants)
    return LiveChannel(token, user, key, publisher)


def serve_env(data_dir: Path) -> tuple[dict[str, str], int]:
    """The environment of a one-host ``trioflix serve`` on ``data_dir`` (its own SQLite),
    without the ladder, and the RTMP port it listens on."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "JWT_SECRET")}
    rtmp_port = free_port()
    env.update(
        TRIOFLIX_DATA_DIR=str(data_dir),
        TRIOFLIX_RTMP=f"127.0.0.1:{rtmp_port}",
        TRIOFLIX_HLS_LADDER="off",
    )
    return env, rtmp_port


@asynccontextmanager
async def serve_process(
    env: dict[str, str],
    port: int,
    log: Path,
    *,
    python: str = sys.executable,
    cwd: Path | None = None,
    new_session: bool = False,
) -> AsyncIterator[tuple[trio.Process, httpx.AsyncClient]]:
    """``trioflix serve`` as a child process, up once ``/healthz`` answers; killed on exit.

    ``python``: the interpreter whose trioflix runs (another virtual environment's).
    ``new_session``: in a session and process group of its own (its pid is the group's
    id), as a server started from a terminal is: a signal to the group reaches its
    children too, as a terminal's Ctrl-C does.
    """
    with log.open("ab") as stderr:
        process = await trio.lowlevel.open_process(
            [python, "-m", "trioflix", "serve", "--http", f"127.0.0.1:{port}"],
            env=env,
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=new_session,
        )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            with trio.fail_after(30):
                while True:
                    if process.returncode is not None:
                        raise AssertionError(await trio.Path(log).read_text())
                    try:
                        if (await client.get("/healthz")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    await trio.sleep(0.1)
            yield process, client
    finally:
        if process.returncode is None:
            process.kill()
        with trio.move_on_after(10, shield=True):
            await process.wait()


# --- playlists ------------------------------------------------------------------------


@dataclass
class Segment:
    uri: str
    duration_ms: int
    discontinuity: bool
    program_date_time: str | None


@dataclass
class MediaPlaylistText:
    text: str
    target_duration: int
    media_sequence: int
    discontinuity_sequence: int
    segments: list[Segment] = field(default_factory=list)
    ended: bool = False


def parse_media_playlist(text: str) -> MediaPlaylistText:
    lines = text.splitlines()
    assert lines[0] == "#EXTM3U", text
    target = media_sequence = discontinuity_sequence = -1
    segments: list[Segment] = []
    ended = False
    pending_disc = False
    pending_pdt: str | None = None
    pending_ms: int | None = None
    for line in lines[1:]:
        if line.startswith("#EXT-X-TARGETDURATION:"):
            target = int(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            media_sequence = int(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-DISCONTINUITY-SEQUENCE:"):
            discontinuity_sequence = int(line.split(":", 1)[1])
        elif line == "#EXT-X-DISCONTINUITY":
            pending_disc = True
        elif line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            pending_pdt = line.split(":", 1)[1]
        elif line.startswith("#EXTINF:"):
            pending_ms = round(float(line.split(":", 1)[1].rstrip(",")) * 1000)
        elif line == "#EXT-X-ENDLIST":
            ended = True
        elif line and not line.startswith("#"):
            assert pending_ms is not None, f"URI without EXTINF: {line}"
            segments.append(Segment(line, pending_ms, pending_disc, pending_pdt))
            pending_disc, pending_pdt, pending_ms = False, None, None
    assert target >= 1 and media_sequence >= 0, text
    return MediaPlaylistText(
        text, target, media_sequence, max(discontinuity_sequence, 0), segments, ended
    )


def parse_master_playlist(text: str) -> list[tuple[dict[str, str], str]]:
    """``[(attributes, uri)]`` for each EXT-X-STREAM-INF."""
    lines = text.splitlines()
    assert lines[0] == "#EXTM3U", text
    variants = []
    for i, line in enumerate(lines):
        if line.startswith("#EXT-X-STREAM-INF:"):
            attrs: dict[str, str] = {}
            rest = line.split(":", 1)[1]
            while rest:
                name, _, rest = rest.partition("=")
                if rest.startswith('"'):
                    value, _, rest = rest[1:].partition('"')
                    rest = rest.removeprefix(",")
                else:
                    value, _, rest = rest.partition(",")
                attrs[name] = value
            variants.append((attrs, lines[i + 1]))
    return variants


def check_playlist_rules(playlist: MediaPlaylistText, target_ms: int) -> None:
    """RFC 8216's rules on one playlist, and ours on segment durations (docs/hls.md)."""
    for segment in playlist.segments:
        # 4.3.3.1: EXTINF rounded to the nearest integer MUST be <= EXT-X-TARGETDURATION.
        assert round(segment.duration_ms / 1000) <= playlist.target_duration, segment
        assert segment.program_date_time is not None, segment
    # Within 10 % of the target, except the last one before a discontinuity or the end.
    for i, segment in enumerate(playlist.segments[:-1]):
        if playlist.segments[i + 1].discontinuity:
            continue
        assert abs(segment.duration_ms - target_ms) <= target_ms / 10, (i, segment)


# --- media ----------------------------------------------------------------------------


async def copy_with_ffmpeg(url: str, out: Path) -> None:
    """What ffmpeg reads from the playlist at ``url``, copied into the Matroska file
    ``out`` (run as a Trio process: the server it reads from may be this process)."""
    with trio.fail_after(60):
        played = await trio.run_process(
            [
                *(require(FFMPEG, "ffmpeg"), "-hide_banner", "-v", "error", "-i", url),
                *("-f", "matroska", "-c", "copy", "-y", str(out)),
            ],
            capture_stderr=True,
            check=False,
        )
    assert played.returncode == 0, played.stderr


def video_pts_ms(path: Path) -> list[int]:
    return sorted(p.pts_ms for p in probe_packets(path) if p.codec_type == "video")


def decode_errors(path: Path) -> str:
    """What ffprobe reports while decoding every frame of ``path`` (empty: clean); also
    checks that every video packet decoded to a picture."""
    report, errors = ffprobe(
        path,
        "-count_frames",
        "-count_packets",
        "-show_entries",
        "stream=codec_type,nb_read_frames,nb_read_packets",
    )
    for stream in report["streams"]:
        if stream["codec_type"] == "video":
            assert stream["nb_read_frames"] == stream["nb_read_packets"], (path, stream)
    return errors


def stream_info(path: Path) -> list[dict[str, Any]]:
    report, _ = ffprobe(path, "-show_entries", "stream=codec_type,codec_name,width,height,profile")
    streams: list[dict[str, Any]] = report["streams"]
    return streams
