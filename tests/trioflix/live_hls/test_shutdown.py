"""``trioflix serve`` stopped by SIGINT with live HLS sessions, one of them waiting for
its publisher: no ERROR line, every playlist ended, the services stopped."""

from __future__ import annotations

import signal
from functools import partial
from typing import TYPE_CHECKING

import pytest
import trio

from tests.interop.media import FFMPEG, require
from tests.ports import free_port

from .helpers import auth, serve_env, serve_process

if TYPE_CHECKING:
    from pathlib import Path

    import httpx

    from tests.interop.media import Sample

pytestmark = [pytest.mark.slow, pytest.mark.interop]

CHANNELS = ("alice", "bob")
SEGMENTS_BEFORE_STOP = 2  # per channel: the writers are well under way


def _playlists(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "live").glob("*/*/source/index.m3u8"))


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


async def test_sigint_with_live_hls_sessions_logs_no_error(
    sample: Sample, tmp_path: Path, nursery: trio.Nursery
) -> None:
    data_dir = tmp_path / "data"
    env, rtmp_port = serve_env(data_dir)
    log = tmp_path / "serve.log"
    async with serve_process(env, free_port(), log) as (process, client):
        publishers = []
        for name in CHANNELS:
            cmd = await _publish(client, name, rtmp_port, sample.path)
            publishers.append(await nursery.start(partial(trio.run_process, cmd, check=False)))
        with trio.fail_after(60):
            while len(playlists := _playlists(data_dir)) < len(CHANNELS) or any(  # noqa: ASYNC110
                _segments_listed(p) < SEGMENTS_BEFORE_STOP for p in playlists
            ):
                await trio.sleep(0.1)
        # One publisher drops: its session waits in the grace window at the signal.
        publishers[0].kill()
        await publishers[0].wait()
        process.send_signal(signal.SIGINT)
        with trio.fail_after(30):
            await process.wait()
        publishers[1].kill()
    text = await trio.Path(log).read_text()
    assert process.returncode == 0, text[-2000:]
    assert '"level": "ERROR"' not in text, [line for line in text.splitlines() if "ERROR" in line]
    assert '"services stopped"' in text
    playlists = _playlists(data_dir)
    assert len(playlists) == len(CHANNELS)
    for playlist in playlists:
        assert playlist.read_text().endswith("#EXT-X-ENDLIST\n"), playlist
