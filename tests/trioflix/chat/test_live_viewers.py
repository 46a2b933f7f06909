"""The chat room hears the live stream's viewer counts: every protocol, HLS included.

ffmpeg publishes; an HLS player (playlist requests with a playback token) and an
HTTP-FLV player watch; a chat client in the channel's room, over a real
websocket, sees ``viewers`` frames carry those counts next to the chat members,
and ``live: null`` once the stream has ended.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
import pytest
import trio

from tests.trioflix.live_hls.helpers import go_live, parse_master_playlist

from .helpers import ChatClient, chat

if TYPE_CHECKING:
    from tests.conftest import Server
    from tests.interop.media import Sample

pytestmark = [
    pytest.mark.slow,
    pytest.mark.interop,
    pytest.mark.backends(
        "sqlite", reason="the counts come from the registry and the playback sessions, not SQL"
    ),
]

PROTOCOLS = {"rtmp", "http-flv", "ws-flv", "webrtc", "hls"}


SAMPLE_SECONDS = 12  # the sample fixture's length


async def _frame_where(client: ChatClient, done: Any) -> dict[str, Any]:
    """The first ``viewers`` frame for which ``done(frame)`` holds (one comes per change)."""
    with trio.fail_after(20):
        while True:
            frame = await client.until("viewers")
            if done(frame):
                return frame


async def _watch_http_flv(url: str, *, task_status: trio.TaskStatus[None]) -> None:
    async with httpx.AsyncClient(timeout=30) as client, client.stream("GET", url) as response:
        assert response.status_code == 200
        task_status.started()
        async for _ in response.aiter_bytes():
            pass


async def test_viewers_frame_carries_live_counts(
    server: Server, sample: Sample, nursery: trio.Nursery
) -> None:
    alice = await go_live(nursery, server, sample.path)

    async with chat(server.url, "alice") as (client, welcome):
        assert set(welcome["live_viewers"]) == {"total"} | PROTOCOLS
        assert welcome["live_viewers"]["total"] == 0

        # One HLS player: the master playlist's token, then its media playlist.
        master = await server.client.get("/live/alice/master.m3u8")
        assert master.status_code == 200, master.text
        (_, uri), *_ = parse_master_playlist(master.text)
        assert (await server.client.get(f"/live/alice/{uri}")).status_code == 200
        # One HTTP-FLV player, connected for the rest of the stream.
        async with trio.open_nursery() as players:
            await players.start(_watch_http_flv, f"{server.url}/live/alice.flv")
            frame = await _frame_where(
                client, lambda f: f["live"] is not None and f["live"]["total"] == 2
            )
            assert frame["count"] == 1  # the chat member, counted as before
            assert frame["live"] == {
                "total": 2,
                "rtmp": 0,
                "http-flv": 1,
                "ws-flv": 0,
                "webrtc": 0,
                "hls": 1,
            }
            players.cancel_scope.cancel()

        # The stream ends: the room hears that there is no live count any more.
        with trio.fail_after(30):
            await alice.publisher.wait()
        frame = await _frame_where(client, lambda f: f["live"] is None)
        assert frame["count"] == 1
