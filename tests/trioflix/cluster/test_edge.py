"""Edge playback on the rig: ffmpeg publishes to host A, and viewers of B and C
watch over HTTP-FLV, WS-FLV and RTMP through one internal pull per channel per
host, which follows the channel to a new origin and closes when nobody watches;
an edge SIGKILLed takes nothing from the other hosts' viewers (last: it kills C)."""

from __future__ import annotations

import itertools
import signal
import time
from functools import partial
from typing import TYPE_CHECKING

import httpx
import pytest
import trio
from trio_websocket import open_websocket_url

from protocols import flv
from tests.interop.media import FFMPEG, RTMPDUMP, decoded_frames, require
from trioflix.cluster.pull_auth import PullTokens
from trioflix.cluster.site import ORIGIN_TTL_S
from trioflix.live.edge.pull import PULL_TOKEN_HEADER, pull_url
from trioflix.live.edge.relays import FOLLOW_POLL_S

from .rig import RIG_EDGE_IDLE_S, RIG_SECRET
from .test_rig import SLACK_S, create_key, origin_of, publish, sign_up, wait_origin

if TYPE_CHECKING:
    from pathlib import Path

    from tests.interop.media import Sample

    from .rig import Rig, RigHost

pytestmark = pytest.mark.slow

SAMPLE_SECONDS = 4
VIEWERS = 100
PLAY_S = 3  # seconds of media each player records
# Long enough for B to take every viewer's request, short of the pull's open timeout
# and of A's origin lease (refreshed every 2 s, lost after 6).
ORIGIN_PAUSE_S = 1.5
WATCH_INTERVAL_S = 2.0  # a viewer of a real-time stream gets bytes in every such window
EDGE_KILL_WATCH_S = 5.0  # how long the other hosts' viewers are watched after an edge dies


async def metric(host: RigHost, name: str) -> float:
    """A sample's value on ``host``'s ``/metrics`` (0 when it has none yet)."""
    async with httpx.AsyncClient(timeout=10) as client:
        text = (await client.get(f"{host.url}/metrics")).text
    for line in text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    return 0.0


async def pulls(host: RigHost) -> tuple[float, float]:
    """Internal pulls open on ``host`` now, and opened since it started."""
    return (
        await metric(host, "trioflix_internal_pulls"),
        await metric(host, "trioflix_internal_pulls_opened_total"),
    )


async def wait_pulls_open(host: RigHost, count: int) -> None:
    while (await pulls(host))[0] != count:  # noqa: ASYNC110 (metrics tell nobody: poll)
        await trio.sleep(0.05)


async def live_on(
    rig: Rig, nursery: trio.Nursery, sample: Sample, name: str
) -> tuple[trio.Process, str]:
    """``name`` signs up and publishes the sample to host A: the encoder and its key."""
    a = rig.hosts[0]
    key = await create_key(a, await sign_up(a, name))
    encoder = await publish(nursery, a, key, sample)
    with trio.fail_after(30):
        await wait_origin(rig, name, a)
    return encoder, key


async def record(cmd: list[str], out: Path, seconds: float) -> None:
    """Run a player until it has written ``seconds`` of media to ``out``, then stop it
    as a viewer closes its window. The clock starts at the player's first bytes: on a
    busy machine the pull through the edge may take a while to open."""
    async with trio.open_nursery() as nursery:
        process: trio.Process = await nursery.start(
            partial(trio.run_process, cmd, check=False, stdin=b"")
        )
        written = trio.Path(out)
        while not (await written.exists() and (await written.stat()).st_size > 0):  # noqa: ASYNC110 (a file: poll)
            await trio.sleep(0.05)
        await trio.sleep(seconds)
        process.terminate()


async def connect(host: RigHost) -> trio.SocketStream:
    return await trio.open_tcp_stream("127.0.0.1", int(host.url.rsplit(":", 1)[1]))


async def request_flv(stream: trio.SocketStream, path: str, headers: str = "") -> bytes:
    """Ask for an FLV stream on ``stream``, read until the FLV header arrived; the
    response head, lower-cased."""
    await stream.send_all(f"GET {path} HTTP/1.1\r\nHost: edge\r\n{headers}\r\n".encode())
    received = b""
    while b"FLV\x01" not in received.partition(b"\r\n\r\n")[2]:
        chunk = await stream.receive_some(65536)
        assert chunk, received
        received += chunk
    assert received.startswith(b"HTTP/1.1 200"), received
    return received.partition(b"\r\n\r\n")[0].lower()


async def open_http_flv(host: RigHost, path: str, headers: str = "") -> trio.SocketStream:
    """A raw HTTP-FLV viewer of ``path`` on ``host``, once the FLV header arrived: a
    socket of its own, as a player's, that the test closes when the viewer leaves."""
    stream = await connect(host)
    try:
        await request_flv(stream, path, headers)
    except BaseException:
        await stream.aclose()
        raise
    return stream


class Viewer:
    """An HTTP-FLV viewer of a channel on one host, counting the bytes it receives."""

    def __init__(self, host: RigHost, channel: str) -> None:
        self.host = host
        self.path = f"/live/{channel}.flv"
        self.received = 0
        self.arrivals: list[float] = []  # trio time of each read that got bytes
        self.ended = trio.Event()

    async def run(self, *, task_status: trio.TaskStatus[None]) -> None:
        async with await open_http_flv(self.host, self.path) as stream:
            task_status.started()
            while chunk := await stream.receive_some(65536):
                self.received += len(chunk)
                self.arrivals.append(trio.current_time())
        self.ended.set()

    async def grows(self, by: int) -> None:
        before = self.received
        while self.received < before + by:  # noqa: ASYNC110 (bytes arrive: poll)
            await trio.sleep(0.05)


async def watchable(host: RigHost, channel: str) -> bool:
    """Whether a new HTTP-FLV viewer of ``channel`` on ``host`` gets the stream now."""
    async with await connect(host) as stream:
        await stream.send_all(f"GET /live/{channel}.flv HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        received = b""
        with trio.move_on_after(WATCH_INTERVAL_S):
            while b"\r\n\r\n" not in received or len(received.partition(b"\r\n\r\n")[2]) < 3:
                chunk = await stream.receive_some(65536)
                if not chunk:
                    break
                received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        # Served on the socket itself: the FLV header comes first in the body.
        return head.startswith(b"HTTP/1.1 200") and b"FLV" in body[:16]


async def wait_watchable(host: RigHost, channel: str) -> None:
    while not await watchable(host, channel):  # noqa: ASYNC110 (a new viewer each try)
        await trio.sleep(0.1)


async def starts_on_a_keyframe_over_ws(url: str) -> bool:
    """Whether the first coded video frame a WS-FLV viewer of ``url`` receives is a keyframe."""
    reader = flv.FLVReader()
    async with open_websocket_url(url) as ws:
        while True:
            message = await ws.get_message()
            assert isinstance(message, bytes)
            reader.receive_data(message)
            while (event := reader.next_event()) is not flv.NEED_DATA:
                if isinstance(event, flv.FLVTag) and event.tag_type == flv.TagType.VIDEO:
                    tag = flv.parse_video_tag(event.data)
                    if not tag.is_sequence_header:
                        return tag.is_keyframe


async def test_edges_play_every_transport(
    rig: Rig, sample: Sample, tmp_path: Path, nursery: trio.Nursery
) -> None:
    a, b, c = rig.hosts
    encoder, _ = await live_on(rig, nursery, sample, "alice")
    players: dict[str, tuple[list[str], Path]] = {}
    for host in (b, c):
        out = tmp_path / f"http-{host.name}.flv"
        cmd = [require(FFMPEG, "ffmpeg"), "-hide_banner", "-loglevel", "error"]
        cmd += ["-i", f"{host.url}/live/alice.flv", "-c", "copy", str(out)]
        players[f"http-flv {host.name}"] = (cmd, out)
    out = tmp_path / "rtmp-b.flv"
    rtmp_url = f"rtmp://127.0.0.1:{b.rtmp_port}/live/alice"
    players["rtmp b"] = (
        [require(RTMPDUMP, "rtmpdump"), "-q", "--live", "-r", rtmp_url, "-o", str(out)],
        out,
    )
    first_frames: list[bool] = []

    async def ws_viewer() -> None:
        first_frames.append(
            await starts_on_a_keyframe_over_ws(
                b.url.replace("http://", "ws://") + "/live/alice.flv"
            )
        )

    # Every viewer at once: each edge serves them all from one pull.
    with trio.fail_after(30):
        async with trio.open_nursery() as viewers:
            for cmd, out in players.values():
                viewers.start_soon(record, cmd, out, PLAY_S)
            viewers.start_soon(ws_viewer)
    for name, (_, path) in players.items():
        frames = decoded_frames(path)
        assert frames.get("video", 0) > 10, (name, frames)
        assert frames.get("audio", 0) > 10, (name, frames)
    # WS-FLV: the start-up cache gives a new viewer a keyframe first.
    assert first_frames == [True]
    assert (await pulls(a))[1] == 2  # one pull from A per edge
    assert encoder.returncode is None


async def test_a_hundred_viewers_at_once_open_one_pull_which_closes_when_idle(
    rig: Rig, sample: Sample, nursery: trio.Nursery
) -> None:
    a, b, _ = rig.hosts
    await live_on(rig, nursery, sample, "bob")
    with trio.fail_after(RIG_EDGE_IDLE_S + FOLLOW_POLL_S + SLACK_S):
        await wait_pulls_open(a, 0)  # the previous test's pulls have closed
    _, opened_before = await pulls(a)
    # Every viewer connected first, then all ask at once, while A is paused: they
    # all arrive while B's pull from A is opening, and wait for that same pull.
    viewers = [await connect(b) for _ in range(VIEWERS)]
    heads: list[bytes] = []

    async def arrive(stream: trio.SocketStream) -> None:
        heads.append(await request_flv(stream, "/live/bob.flv"))

    try:
        with trio.fail_after(60):
            async with trio.open_nursery() as arriving:
                a.process.send_signal(signal.SIGSTOP)
                try:
                    for stream in viewers:
                        arriving.start_soon(arrive, stream)
                    await trio.sleep(ORIGIN_PAUSE_S)
                finally:
                    a.process.send_signal(signal.SIGCONT)
        open_now, opened = await pulls(a)
        assert (open_now, opened - opened_before) == (1, 1)
        # Even those that waited for the pull to open are served on the socket itself
        # (the body ends with the connection), not by the ASGI route (chunked).
        assert len(heads) == VIEWERS
        assert not [head for head in heads if b"transfer-encoding: chunked" in head]
        assert all(b"connection: close" in head for head in heads)
        # B reports its viewers, so that the site's figure is the sum over hosts.
        viewers_on_b = 'trioflix_live_viewers{channel="bob",protocol="http-flv"}'
        assert await metric(b, viewers_on_b) == VIEWERS
        assert await metric(a, viewers_on_b) == 0
    finally:
        for stream in viewers:
            await stream.aclose()
    left = trio.current_time()
    with trio.fail_after(RIG_EDGE_IDLE_S + FOLLOW_POLL_S + SLACK_S):
        await wait_pulls_open(a, 0)
    assert trio.current_time() - left >= RIG_EDGE_IDLE_S - FOLLOW_POLL_S
    assert (await pulls(a))[1] - opened_before == 1


async def test_a_pull_needs_a_valid_token(rig: Rig, sample: Sample, nursery: trio.Nursery) -> None:
    a = rig.hosts[0]
    await live_on(rig, nursery, sample, "carol")
    url = pull_url(a.url, "carol")
    now = time.time()
    refused = {
        "no token": {},
        "garbage": {PULL_TOKEN_HEADER: "not-a-token"},
        "another secret": {PULL_TOKEN_HEADER: PullTokens("x" * 40).issue("carol", now)},
        "another channel": {PULL_TOKEN_HEADER: PullTokens(RIG_SECRET).issue("bob", now)},
        "expired": {PULL_TOKEN_HEADER: PullTokens(RIG_SECRET).issue("carol", now - 120)},
    }
    async with httpx.AsyncClient(timeout=10) as client:
        for case, headers in refused.items():
            with trio.fail_after(10):  # a pull let through would stream forever
                response = await client.get(url, headers=headers)
            assert response.status_code == 403, case
            assert response.json()["error"]["code"] == "pull_refused", case
    # The right token: the FLV stream, as a viewer gets it.
    valid = PullTokens(RIG_SECRET).issue("carol", now)
    token_header = f"{PULL_TOKEN_HEADER}: {valid}\r\n"
    async with await open_http_flv(a, "/internal/live/carol.flv", token_header):
        pass


async def test_edges_follow_a_takeover(rig: Rig, sample: Sample, nursery: trio.Nursery) -> None:
    a, b, c = rig.hosts
    encoder, key = await live_on(rig, nursery, sample, "dave")
    got: list[int] = []

    async def viewer(task_status: trio.TaskStatus[None]) -> None:
        async with await open_http_flv(b, "/live/dave.flv") as stream:
            task_status.started()
            while chunk := await stream.receive_some(65536):
                got.append(len(chunk))

    with trio.fail_after(30):
        await nursery.start(viewer)
        await wait_pulls_open(a, 1)
    _, opened_on_c = await pulls(c)

    # The same key on C takes the channel over: B's relay, with its viewer, follows.
    await publish(nursery, c, key, sample)
    with trio.fail_after(30):
        await wait_origin(rig, "dave", c)
    moved = trio.current_time()
    with trio.fail_after(2 + SLACK_S):
        await wait_pulls_open(c, 1)
    assert trio.current_time() - moved <= 2 + SLACK_S
    assert (await pulls(c))[1] == opened_on_c + 1
    with trio.fail_after(ORIGIN_TTL_S / 3 + SLACK_S):
        await encoder.wait()  # A dropped its encoder, and with it its pulls
        await wait_pulls_open(a, 0)
    before = sum(got)
    with trio.fail_after(10):
        while sum(got) < before + 100_000:  # noqa: ASYNC110 (bytes arrive from C now)
            await trio.sleep(0.1)
    # A viewer arriving on B now gets the channel, from C.
    with trio.fail_after(SLACK_S):
        async with await open_http_flv(b, "/live/dave.flv"):
            pass
    assert (await pulls(c))[0] == 1


async def test_a_killed_edge_loses_nothing_on_the_other_hosts(
    rig: Rig, sample: Sample, nursery: trio.Nursery
) -> None:
    a, b, c = rig.hosts
    encoder, _ = await live_on(rig, nursery, sample, "frank")
    on_a, on_b = Viewer(a, "frank"), Viewer(b, "frank")
    with trio.fail_after(30):
        await wait_watchable(a, "frank")  # the lease comes first, then the session
        for viewer in (on_a, on_b):
            await nursery.start(viewer.run)
            await viewer.grows(50_000)
        doomed = await open_http_flv(c, "/live/frank.flv")
        await wait_pulls_open(a, 2)
    try:
        await trio.to_thread.run_sync(c.kill)
        killed = trio.current_time()
        # C's pull is gone (A notices at its next write to it), B's goes on.
        with trio.fail_after(2 * SLACK_S):
            await wait_pulls_open(a, 1)
        while trio.current_time() - killed < EDGE_KILL_WATCH_S:
            with trio.fail_after(WATCH_INTERVAL_S):
                await on_a.grows(1)
                await on_b.grows(1)
    finally:
        await doomed.aclose()
    watched = trio.current_time()
    for viewer in (on_a, on_b):
        times = [killed, *(t for t in viewer.arrivals if t > killed), watched]
        gap = max(later - earlier for earlier, later in itertools.pairwise(times))
        assert gap < WATCH_INTERVAL_S, (viewer.host.name, gap)
        assert not viewer.ended.is_set()
    assert encoder.returncode is None
    origin = await origin_of(rig, "frank")
    assert origin is not None and origin.advertise_url == a.url
