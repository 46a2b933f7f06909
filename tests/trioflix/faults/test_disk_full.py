"""The data directory's disk fills up while two channels are live and recorded:
both go on or fail visibly, the API goes on, and all recovers once space returns.
With SQLite in that directory, writes answer 503 until then."""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

import pytest
import trio

from tests.disks import small_disk
from tests.trioflix.live_hls.helpers import auth, start_publisher, wait_live
from tests.waiting import WAIT_LIMIT_S

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.conftest import Server
    from tests.interop.media import Sample

pytestmark = [
    pytest.mark.slow,
    pytest.mark.interop,
    pytest.mark.backends(
        "postgresql", reason="the database is not on the full disk: the API has to go on"
    ),
]

CHANNELS = ("alice", "bob")
VIDEO_WAIT_S = 120  # two recordings processed one after the other on a busy machine


@pytest.fixture
def data_disk(settings: object, tmp_path: Path) -> Iterator[Path]:
    """DATA_DIR on a 64 MiB tmpfs: live HLS, the recording spool and stored objects."""
    with small_disk(tmp_path / "data", "64m") as disk:
        yield disk


def _fill(disk: Path) -> Path:
    """Write zeros to ``disk`` until the kernel answers ENOSPC."""
    filler = disk / "filler"
    block = bytes(1024 * 1024)
    with filler.open("wb") as out:
        try:
            while True:
                out.write(block)
                out.flush()
        except OSError as exc:
            error = exc.errno
    assert error == errno.ENOSPC
    return filler


async def _newest_segment(server: Server, channel: str) -> str | None:
    """The last segment URI of the channel's source playlist; None when it is not live."""
    master = await server.client.get(f"/live/{channel}/master.m3u8")
    if master.status_code != 200:
        return None
    (uri,) = [line for line in master.text.splitlines() if line.startswith("source/")]
    media = await server.client.get(f"/live/{channel}/{uri}")
    if media.status_code != 200:
        return None
    segments = [line for line in media.text.splitlines() if line and not line.startswith("#")]
    return segments[-1] if segments else None


async def _wait_new_segment(server: Server, channel: str, after: str | None) -> str:
    with trio.fail_after(WAIT_LIMIT_S):
        while (newest := await _newest_segment(server, channel)) in (None, after):  # noqa: ASYNC110 (HTTP polling)
            await trio.sleep(0.2)
    assert newest is not None
    return newest


async def _api_answers(server: Server, token: str) -> None:
    assert (await server.client.get("/healthz")).status_code == 200
    status = await server.client.get("/api/streaming/status", headers=auth(token))
    assert status.status_code == 200, status.text


async def test_a_full_disk_under_two_live_recorded_channels(
    data_disk: Path,
    server: Server,
    sample: Sample,
    nursery: trio.Nursery,
    caplog: pytest.LogCaptureFixture,
) -> None:
    tokens = {}
    publishers = []
    for channel in CHANNELS:
        token, _ = await server.register(channel)
        tokens[channel] = token
        await server.client.post(
            "/api/streaming/start", json={"title": channel}, headers=auth(token)
        )
        key = await server.create_key(token)
        publishers.append(await start_publisher(nursery, server, key, sample.path, loops=-1))
    newest = {}
    for channel in CHANNELS:
        await wait_live(server, channel)
        newest[channel] = await _wait_new_segment(server, channel, None)

    filler = await trio.to_thread.run_sync(_fill, data_disk)
    # Full for a few segments' time: the server answers and every channel either
    # stays live or visibly ends; none takes the server down.
    with trio.move_on_after(6):
        while True:
            for channel in CHANNELS:
                await _api_answers(server, tokens[channel])
            await trio.sleep(0.5)

    assert "not written, dropped" in caplog.text  # the fault did reach the HLS writer

    await trio.to_thread.run_sync(filler.unlink)
    for channel in CHANNELS:
        # Both stayed live through it, and their HLS goes on by itself.
        assert server.app.trioflix.registry.get(channel) is not None
        newest[channel] = await _wait_new_segment(server, channel, newest[channel])
    for publisher in publishers:
        publisher.terminate()
    for channel in CHANNELS:
        await wait_live(server, channel, live=False)
    # Each recording is closed and handed off with what it has: one playable video
    # per channel, with a gap where chunks were lost.
    for channel in CHANNELS:
        with trio.fail_after(VIDEO_WAIT_S):
            while True:
                videos = await server.client.get(
                    "/api/videos", params={"mine": "1"}, headers=auth(tokens[channel])
                )
                states = [video["state"] for video in videos.json()["videos"]]
                if states and states != ["processing"]:
                    break
                await trio.sleep(0.5)
        assert states == ["ready"], videos.json()


@pytest.mark.backends("sqlite", reason="the database file is on the full disk")
async def test_sqlite_on_a_full_disk_answers_503_then_recovers(
    data_disk: Path, server: Server
) -> None:
    token, _ = await server.register("alice")
    filler = await trio.to_thread.run_sync(_fill, data_disk)
    refused = await server.client.post("/api/streaming/keys", headers=auth(token))
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "database_unavailable"
    assert "Retry-After" in refused.headers
    await _api_answers(server, token)  # reads go on
    await trio.to_thread.run_sync(filler.unlink)
    assert (await server.client.post("/api/streaming/keys", headers=auth(token))).status_code == 201
