"""The soak's clients, each a Trio task of the runner that joins and leaves at random.

- publishers: ffmpeg ``-re -stream_loop -1 -c copy`` of a generated FLV (no encoding
  at run time), SIGKILLed at a random moment (a dropped encoder) and back after a
  pause that is mostly inside the reconnect grace and sometimes past it;
- FLV viewers: HTTP-FLV (``bench/_flv_viewers.py``) or WS-FLV (the websocket of
  ``bench/_chat_client.py``), watching a random channel for a random time;
- HLS players: master playlist with their own session token, one rendition's
  playlist reloaded and its new segments fetched, the session ended on leaving;
- chatters: websockets sending at a human rate, some SuperChats; each channel's
  owner moderates (deletes messages, times people out);
- uploaders: tus uploads of generated video files (``bench/_tus_client.py``), cut
  off mid-request and resumed, then waited for, checked (sha256 of the stored
  original, a segment ffprobe decodes) and deleted, so disk use stays bounded.

Every client counts what happened to it in :class:`Tally`; what is open now is in
``Tally.active``. Everything talks to 127.0.0.1 only, and every wait is bounded.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import random
import secrets
import shutil
import subprocess
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import httpx
import trio

from bench import _tus_client as tus
from bench._chat_client import Client, Stats, Websocket
from bench._flv_viewers import ViewerResult, watch
from bench._proc import HOST

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence
    from pathlib import Path

    Talk = Callable[["Websocket"], Awaitable[None]]

__all__ = [
    "Channel",
    "Loads",
    "Tally",
    "UploadOutcome",
    "Uploader",
    "geometric_sizes",
    "make_publisher_sample",
    "make_upload_sources",
    "playable",
]

PASSWORD = "soak password, not secret"
RECV_BYTES = 65536
CONNECT_TIMEOUT_S = 15.0
HTTP_TIMEOUT_S = 30.0
# Publishers: on air for this long, then dropped.
ON_AIR_S = (60.0, 300.0)
PAST_GRACE_SHARE = 0.3  # of drops: back only after the grace (the session ends, a recording)
# Viewers and players: watch this long, then away this long.
WATCH_S = (10.0, 180.0)
AWAY_S = (1.0, 30.0)
# Chat: a message every MEAN_GAP_S on average per connection (500 connections: ~8/s),
# a connection stays CHAT_STAY_S, this share of messages are SuperChats.
MEAN_GAP_S = 60.0
CHAT_STAY_S = (60.0, 900.0)
SUPERCHAT_SHARE = 0.02
SUPERCHAT_CENTS = 200  # 2 USD: the smallest tier with text
TOPUP_CENTS = 20_000
MODERATE_EVERY_S = 20.0  # an owner deletes a recent message this often
TIMEOUT_SHARE = 0.1  # of moderation actions: a timeout of the message's author instead
TIMEOUT_S = 15
RECENT_IDS = 50
# Uploads
CHUNK = 32 * 1024**2
STATUS_POLL_S = 2.0
PROCESS_TIMEOUT_S = 30 * 60.0  # a 2 GiB upload's copy, probe and ladder; far less on a calm machine
RETRY_S = 5.0
UPLOAD_VIDEO_S = 20  # the playable part of each upload source; the rest is a `free` box
FFPROBE_TIMEOUT_S = 60.0


@dataclass
class Tally:
    """What the clients did (``counts``) and how many of each are connected now (``active``)."""

    counts: Counter[str] = field(default_factory=Counter)
    active: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class Channel:
    """A channel of the soak: its owner's name and token, its stream key and sample."""

    name: str
    token: str
    key: str
    sample: Path
    record: bool


# --- media ------------------------------------------------------------------------------


async def make_publisher_sample(path: Path, size: str, fps: int, kbps: int) -> Path:
    """A 60 s H.264/AAC FLV (testsrc and a sine) that ffmpeg loops with ``-c copy``."""
    if not await trio.Path(path).exists():
        await trio.run_process(
            [
                "ffmpeg",
                "-hide_banner",
                "-loglevel",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                f"testsrc=size={size}:rate={fps}",
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:sample_rate=44100",
                "-t",
                "60",
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-b:v",
                f"{kbps}k",
                "-g",
                str(2 * fps),
                "-keyint_min",
                str(2 * fps),
                "-pix_fmt",
                "yuv420p",
                "-c:a",
                "aac",
                "-b:a",
                "48k",
                "-f",
                "flv",
                str(path),
            ]
        )
    return path


def _pad_with_free_box(path: Path, size: int, seed: int) -> None:
    """Grow an MP4 to ``size`` bytes with a trailing ``free`` box (ISO/IEC 14496-12
    8.1.2: contents ignored) of seeded random bytes: a real video of any size."""
    missing = size - path.stat().st_size
    if missing < 8 or missing >= 2**32:
        raise ValueError(f"cannot pad {path} by {missing} bytes with one free box")
    rng = random.Random(seed)
    with path.open("ab") as file:
        file.write(missing.to_bytes(4, "big") + b"free")
        left = missing - 8
        while left:
            n = min(left, 16 * 1024**2)
            file.write(rng.randbytes(n))
            left -= n


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(1024**2):
            digest.update(block)
    return digest.hexdigest()


async def make_upload_sources(folder: Path, sizes: Sequence[int]) -> list[tuple[Path, str]]:
    """One upload source per size: a 20 s 320x240 MP4 grown to the size; with its sha256."""
    base = folder / "upload-base.mp4"
    await trio.run_process(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=15",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=660:sample_rate=44100",
            "-t",
            str(UPLOAD_VIDEO_S),
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-b:v",
            "300k",
            "-c:a",
            "aac",
            "-b:a",
            "48k",
            "-movflags",
            "+faststart",
            str(base),
        ]
    )
    sources = []
    for index, size in enumerate(sizes):
        path = folder / f"upload-{size // 1024**2}MiB.mp4"
        shutil.copyfile(base, path)
        await trio.to_thread.run_sync(_pad_with_free_box, path, size, index)
        sources.append((path, await trio.to_thread.run_sync(_sha256, path)))
    return sources


def video_page(response: httpx.Response) -> tuple[list[dict[str, Any]], int | None] | str:
    """The videos of a ``GET /api/videos`` answer and the next page's ``before``, or
    what went wrong: an error answer (an overloaded server's) with its status and body."""
    try:
        page = response.json()
    except ValueError:  # not JSON: a proxy's error page, a cut-off body
        page = None
    if response.is_success and isinstance(page, dict) and isinstance(page.get("videos"), list):
        return page["videos"], page.get("next_before")
    return f"GET {response.url}: {response.status_code} {response.text[:500]!r}"


async def playable(client: httpx.AsyncClient, master_url: str, scratch: Path) -> str | None:
    """None if the first segment of the first rendition of ``master_url`` decodes
    (ffprobe counts its video frames), else what went wrong."""
    try:
        master = await client.get(master_url)
        master.raise_for_status()
        variant = next(u for u in master.text.splitlines() if u and not u.startswith("#"))
        playlist_url = master.url.join(variant)
        playlist = await client.get(playlist_url)
        playlist.raise_for_status()
        segment = next(u for u in playlist.text.splitlines() if u and not u.startswith("#"))
        data = await client.get(playlist.url.join(segment))
        data.raise_for_status()
    except (httpx.HTTPError, StopIteration) as exc:
        return f"fetching {master_url}: {exc!r}"
    await trio.Path(scratch).write_bytes(data.content)
    with trio.fail_after(FFPROBE_TIMEOUT_S):
        probe = await trio.run_process(
            [
                "ffprobe",
                "-v",
                "error",
                "-count_frames",
                "-select_streams",
                "v:0",
                "-show_entries",
                "stream=nb_read_frames",
                "-of",
                "json",
                str(scratch),
            ],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    await trio.Path(scratch).unlink()
    if probe.returncode != 0:
        return f"ffprobe: {probe.stderr.decode(errors='replace')[-300:]}"
    streams = json.loads(probe.stdout).get("streams") or [{}]
    frames = int(streams[0].get("nb_read_frames") or 0)
    return None if frames > 0 else "no video frame decoded"


# --- live -----------------------------------------------------------------------------


async def _kill(process: trio.Process) -> None:
    process.kill()  # a dropped encoder: no goodbye on the RTMP connection


class Loads:
    """Every client task but the uploaders; :meth:`run` runs them until cancelled."""

    def __init__(
        self,
        *,
        http_port: int,
        rtmp_port: int,
        channels: Sequence[Channel],
        chat_tokens: Sequence[str],
        tally: Tally,
        grace_s: float,
        log: Path,
        seed: int,
    ) -> None:
        self.http_port = http_port
        self.rtmp_port = rtmp_port
        self.channels = channels
        self.chat_tokens = chat_tokens
        self.tally = tally
        self.grace_s = grace_s
        self.log = log
        self.rng = random.Random(seed)
        self.sent = 0  # chat frames sent: their nonces

    async def run(self, *, publishers: int, viewers: int, players: int, chatters: int) -> None:
        async with trio.open_nursery() as nursery:
            for channel in self.channels[:publishers]:
                nursery.start_soon(self.publisher, channel)
            live = [c.name for c in self.channels[:publishers]]
            for _ in range(viewers):
                nursery.start_soon(self.flv_viewer, live)
            for _ in range(players):
                nursery.start_soon(self.hls_player, live)
            for channel in self.channels[:publishers]:
                nursery.start_soon(self.moderator, channel)
            for _ in range(chatters):
                nursery.start_soon(self.chatter, live)

    async def _stagger(self) -> None:
        await trio.sleep(self.rng.uniform(0, 20))  # not all at once: people arrive

    async def publisher(self, channel: Channel) -> None:
        counts, active = self.tally.counts, self.tally.active
        url = f"rtmp://{HOST}:{self.rtmp_port}/live/{channel.key}"
        command = [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-re",
            "-stream_loop",
            "-1",
            "-i",
            str(channel.sample),
            "-c",
            "copy",
            "-f",
            "flv",
            url,
        ]
        with self.log.open("ab") as log:
            while True:
                active["publishers"] += 1
                try:
                    with trio.move_on_after(self.rng.uniform(*ON_AIR_S)) as on_air:
                        result = await trio.run_process(
                            command,
                            stdin=subprocess.DEVNULL,
                            stderr=log,
                            check=False,
                            deliver_cancel=_kill,
                        )
                finally:
                    active["publishers"] -= 1
                if not on_air.cancelled_caught:
                    counts[f"publisher_exited_{result.returncode}"] += 1
                past = self.rng.random() < PAST_GRACE_SHARE
                counts["drops_past_grace" if past else "drops_within_grace"] += 1
                pause = (
                    self.grace_s + self.rng.uniform(5, 15)
                    if past
                    else self.rng.uniform(1, self.grace_s / 2)
                )
                await trio.sleep(pause)

    async def flv_viewer(self, live: list[str]) -> None:
        counts, active = self.tally.counts, self.tally.active
        await self._stagger()
        while True:
            channel = self.rng.choice(live)
            websocket = self.rng.random() < 0.5
            kind = "ws_flv" if websocket else "http_flv"
            active[kind] += 1
            counts[f"{kind}_joins"] += 1
            try:
                with trio.move_on_after(self.rng.uniform(*WATCH_S)):
                    if websocket:
                        error = await self._watch_ws(channel)
                    else:
                        result = ViewerResult()
                        await watch(HOST, self.http_port, f"/live/{channel}.flv", result)
                        counts["flv_bytes"] += result.bytes_total
                        error = result.error
                    if error is not None:
                        counts[f"{kind}_refused" if "404" in error else f"{kind}_errors"] += 1
            finally:
                active[kind] -= 1
            await trio.sleep(self.rng.uniform(*AWAY_S))

    async def _watch_ws(self, channel: str) -> str | None:
        counts = self.tally.counts
        try:
            with trio.fail_after(CONNECT_TIMEOUT_S):
                ws = await Websocket.connect(
                    HOST, self.http_port, f"/live/{channel}.flv", "flv", Stats(), None
                )
        except (OSError, ConnectionError, EOFError, trio.TooSlowError) as exc:
            return repr(exc)
        try:
            while data := await ws.stream.receive_some(RECV_BYTES):
                counts["flv_bytes"] += len(data)
                ws.buffer += data
                await ws.parse()  # answers pings; the binary FLV frames are dropped
        except EOFError:
            return None if ws.close_code in (1000, None) else f"closed {ws.close_code}"
        except (OSError, trio.BrokenResourceError) as exc:
            return repr(exc)
        finally:
            await ws.stream.aclose()
        return None

    async def hls_player(self, live: list[str]) -> None:
        counts, active = self.tally.counts, self.tally.active
        await self._stagger()
        async with httpx.AsyncClient(
            base_url=f"http://{HOST}:{self.http_port}", timeout=HTTP_TIMEOUT_S
        ) as client:
            while True:
                channel = self.rng.choice(live)
                token = secrets.token_urlsafe(12)
                active["hls"] += 1
                counts["hls_joins"] += 1
                try:
                    with trio.move_on_after(self.rng.uniform(*WATCH_S)):
                        await self._play_hls(client, channel, token)
                finally:
                    active["hls"] -= 1
                    with trio.move_on_after(5, shield=True):
                        try:
                            await client.delete(f"/live/{channel}/players/{token}")
                        except httpx.HTTPError:
                            counts["hls_leave_errors"] += 1
                await trio.sleep(self.rng.uniform(*AWAY_S))

    async def _play_hls(self, client: httpx.AsyncClient, channel: str, token: str) -> None:
        counts = self.tally.counts
        try:
            master = await client.get(f"/live/{channel}/master.m3u8", params={"vs": token})
            if master.status_code != 200:
                counts["hls_refused"] += 1
                return
            variants = [u for u in master.text.splitlines() if u and not u.startswith("#")]
            playlist_url = master.url.join(self.rng.choice(variants))
            seen: set[str] = set()
            while True:
                playlist = await client.get(playlist_url)
                if playlist.status_code != 200:
                    counts["hls_playlist_gone"] += 1
                    return
                lines = playlist.text.splitlines()
                target = next(
                    (
                        float(x.split(":")[1])
                        for x in lines
                        if x.startswith("#EXT-X-TARGETDURATION")
                    ),
                    2.0,
                )
                segments = [u for u in lines if u and not u.startswith("#")]
                new = [u for u in segments if u not in seen]
                if not seen:
                    new = new[-2:]  # a player starts near the live edge
                for uri in new:
                    segment = await client.get(playlist.url.join(uri))
                    counts[
                        "hls_segments" if segment.status_code == 200 else "hls_segment_errors"
                    ] += 1
                    counts["hls_bytes"] += len(segment.content)
                seen.update(segments)
                if "#EXT-X-ENDLIST" in lines:
                    return
                await trio.sleep(target / 2)
        except httpx.HTTPError as exc:
            counts[f"hls_{type(exc).__name__}"] += 1

    async def _chat(self, channel: str, token: str) -> tuple[Websocket, list[bytes]] | None:
        try:
            with trio.fail_after(CONNECT_TIMEOUT_S):
                ws = await Websocket.connect(
                    HOST,
                    self.http_port,
                    f"/ws/chat/{channel}?token={token}",
                    "trioflix",
                    Stats(),
                    None,
                )
                early = await Client(ws).join()
        except (OSError, ConnectionError, EOFError, trio.TooSlowError, trio.BrokenResourceError):
            self.tally.counts["chat_connect_failed"] += 1
            return None
        return ws, early

    async def _read_chat(
        self, ws: Websocket, messages: list[bytes], recent: list[Any] | None
    ) -> None:
        """Read until the server closes; count acks and errors; keep recent message ids."""
        counts = self.tally.counts
        try:
            while True:
                for message in messages:
                    for line in message.split(b"\n"):
                        if line.startswith(b'{"type":"ack"'):
                            counts["chat_acks"] += 1
                        elif line.startswith(b'{"type":"error"'):
                            counts[f"chat_error_{json.loads(line).get('code')}"] += 1
                        elif recent is not None and line.startswith(b'{"type":"message"'):
                            event = json.loads(line)
                            recent.append((event["id"], event["user"]["name"]))
                            del recent[:-RECENT_IDS]
                messages = await ws.next_messages()
        except EOFError:
            counts[f"chat_closed_{ws.close_code}"] += 1
        except (OSError, trio.BrokenResourceError):
            counts["chat_closed_eof"] += 1

    async def _converse(
        self, ws: Websocket, early: list[bytes], recent: list[Any] | None, talk: Talk
    ) -> None:
        """Read the room while ``talk(ws)`` runs; whichever ends first ends the other."""
        try:
            async with trio.open_nursery() as nursery:

                async def listen() -> None:
                    await self._read_chat(ws, early, recent)
                    nursery.cancel_scope.cancel()

                nursery.start_soon(listen)
                await talk(ws)
                nursery.cancel_scope.cancel()
        except (OSError, trio.BrokenResourceError):
            self.tally.counts["chat_send_failed"] += 1
        finally:
            await ws.stream.aclose()

    async def chatter(self, live: list[str]) -> None:
        await self._stagger()
        while True:
            channel, token = self.rng.choice(live), self.rng.choice(self.chat_tokens)
            joined = await self._chat(channel, token)
            if joined is not None:
                self.tally.active["chatters"] += 1
                try:
                    await self._converse(*joined, None, self._talk)
                finally:
                    self.tally.active["chatters"] -= 1
            await trio.sleep(self.rng.uniform(*AWAY_S))

    async def _talk(self, ws: Websocket) -> None:
        """A message about every :data:`MEAN_GAP_S`, some of them SuperChats, for a while."""
        counts = self.tally.counts
        with trio.move_on_after(self.rng.uniform(*CHAT_STAY_S)):
            while True:
                await trio.sleep(self.rng.expovariate(1 / MEAN_GAP_S))
                self.sent += 1
                frame: dict[str, Any] = {
                    "nonce": f"m{self.sent}",
                    "text": f"msg {self.sent} :fire:",
                }
                if self.rng.random() < SUPERCHAT_SHARE:
                    frame.update(type="superchat", amount=SUPERCHAT_CENTS, currency="USD")
                    counts["superchats_sent"] += 1
                else:
                    frame["type"] = "send"
                    counts["chat_sent"] += 1
                await ws.send_text(json.dumps(frame))

    async def moderator(self, channel: Channel) -> None:
        """The channel's owner in its chat, moderating (:meth:`_moderate`) until cancelled."""
        while True:
            joined = await self._chat(channel.name, channel.token)
            if joined is not None:
                recent: list[Any] = []
                await self._converse(*joined, recent, partial(self._moderate, recent))
            await trio.sleep(RETRY_S)

    async def _moderate(self, recent: list[Any], ws: Websocket) -> None:
        """Delete a recent message every :data:`MODERATE_EVERY_S` or so; sometimes time
        its author out instead."""
        counts = self.tally.counts
        while True:
            await trio.sleep(self.rng.expovariate(1 / MODERATE_EVERY_S))
            if not recent:
                continue
            message_id, author = recent.pop(self.rng.randrange(len(recent)))
            self.sent += 1
            frame: dict[str, Any]
            if self.rng.random() < TIMEOUT_SHARE:
                frame = {"type": "timeout", "user": author, "seconds": TIMEOUT_S, "reason": "soak"}
                counts["moderation_timeouts"] += 1
            else:
                frame = {"type": "delete", "message_id": message_id}
                counts["moderation_deletes"] += 1
            await ws.send_text(json.dumps({**frame, "nonce": f"d{self.sent}"}))


# --- uploads ------------------------------------------------------------------------------


@dataclass
class UploadOutcome:
    source: str
    size: int
    video_id: int | None = None
    sha256_ok: bool = False
    playable: bool = False
    interruptions: int = 0
    retries: int = 0
    seconds: float = 0.0
    detail: str = ""


@dataclass
class _Endpoint:
    """The server as ``bench._tus_client`` sees it."""

    name: str
    port: int
    create_path: str
    headers: dict[str, str]


class Uploader:
    """Uploads one source after another; its state outlives a cancellation, so an
    upload cut off by a quiet minute resumes afterwards, as a real client would."""

    def __init__(
        self,
        *,
        http_port: int,
        token: str,
        sources: Sequence[tuple[Path, str]],
        store: Path,
        scratch: Path,
        outcomes: list[UploadOutcome],
        journal: Path,
        tally: Tally,
        pause_s: float,
        seed: int,
    ) -> None:
        self.endpoint = _Endpoint(
            "trioflix", http_port, "/api/upload/video/tus", {"Authorization": f"Bearer {token}"}
        )
        self.base_url = f"http://{HOST}:{http_port}"
        self.sources = sources
        self.store = store
        self.scratch = scratch
        self.outcomes = outcomes
        self.journal = journal
        self.tally = tally
        self.pause_s = pause_s
        self.rng = random.Random(seed)
        self._path: str | None = None
        self._current: tuple[Path, str] | None = None
        self._outcome: UploadOutcome | None = None
        self._started = 0.0
        self._cuts: list[int] = []

    async def run(self) -> None:
        while True:
            if self._current is None:
                self._current = self.rng.choice(self.sources)
                size = self._current[0].stat().st_size
                self._outcome = UploadOutcome(self._current[0].name, size)
                # One or two cuts at random bytes: the client loses its connection there.
                self._cuts = sorted(
                    self.rng.randrange(1, size) for _ in range(self.rng.randint(1, 2))
                )
                self._started = time.monotonic()
                self._path = None
            await self._send()
            await self._finish()
            self.tally.active["uploads"] = 0
            await trio.sleep(self.pause_s)

    async def _retrying(self, call: Any, *args: Any) -> Any:
        """``call(*args)`` in a thread, again after :data:`RETRY_S` while the server refuses."""
        assert self._outcome is not None
        while True:
            try:
                return await trio.to_thread.run_sync(call, *args, abandon_on_cancel=True)
            except (RuntimeError, OSError, httpx.HTTPError) as exc:
                self._outcome.retries += 1
                self.tally.counts[f"upload_retry_{type(exc).__name__}"] += 1
                await trio.sleep(RETRY_S)

    async def _send(self) -> None:
        assert self._current is not None and self._outcome is not None
        source, _ = self._current
        size = source.stat().st_size
        self.tally.active["uploads"] = 1
        if self._path is None:
            name = base64.b64encode(source.name.encode()).decode()
            self._path = await self._retrying(tus.create, self.endpoint, size, f"filename {name}")
            self.tally.counts["uploads_started"] += 1
        with source.open("rb") as file:
            done = await self._retrying(tus.offset, self.endpoint, self._path)
            while done < size:
                count = min(CHUNK, size - done)
                cut = next((c for c in self._cuts if done < c < done + count), None)
                if cut is not None:
                    self._cuts.remove(cut)
                    await self._retrying(
                        tus.cut_patch, self.endpoint, self._path, file, done, count, cut - done
                    )
                    self._outcome.interruptions += 1
                    self.tally.counts["uploads_cut"] += 1
                    await trio.sleep(self.rng.uniform(2, 10))  # the network comes back
                    done = await self._retrying(tus.offset, self.endpoint, self._path)
                    continue
                try:
                    done = await trio.to_thread.run_sync(
                        tus.patch,
                        self.endpoint,
                        self._path,
                        file,
                        done,
                        count,
                        abandon_on_cancel=True,
                    )
                except (RuntimeError, OSError) as exc:
                    self._outcome.retries += 1
                    self.tally.counts[f"upload_retry_{type(exc).__name__}"] += 1
                    await trio.sleep(RETRY_S)
                    done = await self._retrying(tus.offset, self.endpoint, self._path)

    async def _finish(self) -> None:
        """Wait until the upload is processed, check it, delete its video."""
        assert self._current is not None and self._outcome is not None and self._path is not None
        sha256 = self._current[1]
        outcome = self._outcome
        upload_id = self._path.rsplit("/", 1)[1]
        headers = self.endpoint.headers
        async with httpx.AsyncClient(
            base_url=self.base_url, headers=headers, timeout=HTTP_TIMEOUT_S
        ) as client:
            with trio.move_on_after(PROCESS_TIMEOUT_S):
                while True:
                    try:
                        answer = await client.get(f"/api/upload/status/{upload_id}")
                        status = answer.json().get("upload") or {}
                    except (httpx.HTTPError, ValueError):
                        status = {}
                    if status.get("state") in ("ready", "failed"):
                        break
                    await trio.sleep(STATUS_POLL_S)
            outcome.seconds = time.monotonic() - self._started
            outcome.video_id = status.get("video_id")
            if status.get("state") != "ready":
                outcome.detail = f"not ready: {status}"
            else:
                outcome.detail = await self._check(client, outcome, sha256)
        self.outcomes.append(outcome)
        with self.journal.open("a") as journal:  # kept even if the run is cut short
            journal.write(json.dumps(asdict(outcome)) + "\n")
        self.tally.counts[
            "uploads_ready" if outcome.playable and outcome.sha256_ok else "uploads_bad"
        ] += 1
        self._current = self._outcome = self._path = None

    async def _check(self, client: httpx.AsyncClient, outcome: UploadOutcome, sha256: str) -> str:
        originals = list(self.store.glob(f"objects/videos/{outcome.video_id}-*/original"))
        if len(originals) == 1:
            outcome.sha256_ok = await trio.to_thread.run_sync(_sha256, originals[0]) == sha256
        video = (await client.get(f"/api/videos/{outcome.video_id}")).json()["video"]
        problem = await playable(client, video["playback"]["hls"], self.scratch)
        outcome.playable = problem is None
        deleted = await client.delete(f"/api/videos/{outcome.video_id}")
        details = [] if originals else ["no stored original"]
        details += [problem] if problem else []
        details += [] if deleted.status_code == 204 else [f"delete answered {deleted.status_code}"]
        return "; ".join(details)


def geometric_sizes(low: int, high: int, count: int) -> list[int]:
    """``count`` sizes from ``low`` to ``high``, evenly spaced on a log scale."""
    if count == 1 or low == high:
        return [high]
    ratio = math.exp(math.log(high / low) / (count - 1))
    return [round(low * ratio**i) for i in range(count)]
