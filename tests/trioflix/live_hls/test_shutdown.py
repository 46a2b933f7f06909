"""``trioflix serve`` stopped by a terminal's Ctrl-C (SIGINT to its process group) with
live HLS sessions, one with the ladder, one waiting for its publisher: no ERROR line,
every playlist ended, the services stopped."""

from __future__ import annotations

import os
import signal
from functools import partial
from typing import TYPE_CHECKING

import pytest
import trio

from tests.interop.media import FFMPEG, make_sample, require
from tests.ports import free_port

from .helpers import auth, serve_env, serve_process

if TYPE_CHECKING:
    from pathlib import Path

    import httpx

    from tests.interop.media import Sample

pytestmark = [pytest.mark.slow, pytest.mark.interop]

CHANNELS = ("alice", "bob")  # alice's 360p source gets the rung, bob's 180p none
LADDER = "240p:300k"
RENDITIONS = 3
SEGMENTS_BEFORE_STOP = 2  # per channel: the writers are well under way


def _playlists(data_dir: Path) -> list[Path]:
    """Every rendition's playlist: each channel's source, the ladder's rung of one."""
    return sorted((data_dir / "live").glob("*/*/*/index.m3u8"))


def _segments_listed(playlist: Path) -> int:
    try:
        return playlist.read_text().count("#EXTINF:")
    except FileNotFoundError:  # between its temporary name and its rename
        return 0


async def _publish(client: httpx.AsyncClient, name: str, rtmp_port: int, source: Path) -> list[str]:
    registered = await client.post(
        "/api/auth/register", json={"username": name, "password": "password1"}
    )
    token = registered.json()["token"]
    key = (await client.post("/api/streaming/keys", headers=auth(token))).json()["key"]["key"]
    cmd = [require(FFMPEG, "ffmpeg"), "-hide_banner", "-loglevel", "quiet", "-re"]
    cmd += ["-stream_loop", "-1", "-i", str(source), "-c", "copy", "-f", "flv"]
    return [*cmd, f"rtmp://127.0.0.1:{rtmp_port}/live/{key}"]


async def test_ctrl_c_with_live_hls_sessions_logs_no_error(
    sample: Sample, tmp_path: Path, nursery: trio.Nursery
) -> None:
    small_sample = partial(make_sample, tmp_path / "small.flv", size="320x180")
    small = (await trio.to_thread.run_sync(small_sample)).path
    data_dir = tmp_path / "data"
    env, rtmp_port = serve_env(data_dir)
    env.update(TRIOFLIX_HLS_LADDER=LADDER, TRIOFLIX_HLS_PRESET="ultrafast")
    log = tmp_path / "serve.log"
    async with serve_process(env, free_port(), log, new_session=True) as (process, client):
        publishers = []
        for name, source in zip(CHANNELS, (sample.path, small), strict=True):
            cmd = await _publish(client, name, rtmp_port, source)
            publishers.append(await nursery.start(partial(trio.run_process, cmd, check=False)))
        with trio.fail_after(60):
            while len(playlists := _playlists(data_dir)) < RENDITIONS or any(  # noqa: ASYNC110
                _segments_listed(p) < SEGMENTS_BEFORE_STOP for p in playlists
            ):
                await trio.sleep(0.1)
        # Bob's publisher drops: his session waits in the grace window at the signal,
        # while alice's ladder child encodes.
        publishers[1].kill()
        await publishers[1].wait()
        os.killpg(process.pid, signal.SIGINT)  # as a terminal's Ctrl-C
        with trio.fail_after(30):
            await process.wait()
        publishers[0].kill()
    text = await trio.Path(log).read_text()
    assert process.returncode == 0, text[-2000:]
    assert '"level": "ERROR"' not in text, [line for line in text.splitlines() if "ERROR" in line]
    assert '"services stopped"' in text
    playlists = _playlists(data_dir)
    assert len(playlists) == RENDITIONS
    for playlist in playlists:
        assert playlist.read_text().endswith("#EXT-X-ENDLIST\n"), playlist
