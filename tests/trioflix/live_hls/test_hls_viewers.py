"""HLS viewers are counted by playback session, alongside the connection-based protocols."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import trio

from trioflix.live.channel.stream import LiveStream
from trioflix.live.hls.playback_sessions import HLSViewers

from .helpers import auth, go_live, parse_master_playlist, wait_live

if TYPE_CHECKING:
    from tests.conftest import Server
    from tests.interop.media import Sample


def _stream() -> LiveStream:
    return LiveStream(channel="alice", user_id=1, session_id=3, key_id=1, started_at=0.0)


def test_a_session_is_one_viewer_until_it_stops_reloading() -> None:
    stream = _stream()
    viewers = HLSViewers()
    viewers.seen(stream, "token-a", 100.0, 3)
    viewers.seen(stream, "token-a", 101.0, 3)  # another rendition, same player
    viewers.seen(stream, "token-b", 101.5, 3)
    assert stream.viewers_by_protocol()["hls"] == 2
    assert stream.viewers == 2
    assert stream.peak_viewers == 2
    # Alive for 2 target durations + 1 s after its last reload.
    viewers.tick(107.9)
    assert viewers.count(stream) == 2
    viewers.tick(108.1)
    assert viewers.count(stream) == 1  # token-a last seen at 101.0
    viewers.tick(109.0)
    assert stream.viewers == 0
    assert stream.peak_viewers == 2  # the peak stays


def test_a_session_that_ends_counts_no_more_at_once() -> None:
    stream = _stream()
    viewers = HLSViewers()
    viewers.seen(stream, "token-a", 100.0, 3)
    viewers.seen(stream, "token-b", 100.0, 3)
    viewers.left(stream, "token-a")
    assert stream.viewers_by_protocol()["hls"] == 1
    viewers.left(stream, "token-a")  # again, or a token never seen: nothing changes
    viewers.left(_stream(), "token-b")  # another stream of the same session id: not its
    assert viewers.count(stream) == 1
    assert stream.viewers_by_protocol()["hls"] == 1


SAMPLE_SECONDS = 10  # the sample fixture's length


@pytest.mark.slow
@pytest.mark.interop
async def test_status_channels_and_metrics_count_hls_viewers(
    server: Server, sample: Sample, nursery: trio.Nursery
) -> None:
    alice = await go_live(nursery, server, sample.path)
    players = []
    for _ in range(2):
        master = await server.client.get("/live/alice/master.m3u8")
        players.append(parse_master_playlist(master.text)[0][1])
    assert players[0] != players[1]  # each player its own session token
    for uri in players:
        assert (await server.client.get(f"/live/alice/{uri}")).status_code == 200
    # The same player reloading (or switching renditions) stays one viewer.
    await server.client.get(f"/live/alice/{players[0]}")
    status = (await server.client.get("/api/streaming/status", headers=auth(alice.token))).json()
    assert status["viewers"]["hls"] == 2
    assert status["viewers"]["total"] == 2
    channels = (await server.client.get("/api/channels")).json()["channels"]
    assert channels[0]["viewers"] == 2
    metrics = (await server.client.get("/metrics")).text
    assert 'trioflix_live_viewers{channel="alice",protocol="hls"} 2.0' in metrics
    # A player that ends its session (the web player switching to FLV) counts no more.
    token_of_first = players[0].split("vs=", 1)[1]
    left = await server.client.delete(f"/live/alice/players/{token_of_first}")
    assert left.status_code == 204
    status = (await server.client.get("/api/streaming/status", headers=auth(alice.token))).json()
    assert status["viewers"]["hls"] == 1
    bad = await server.client.delete("/live/alice/players/no!")
    assert bad.status_code == 404
    assert bad.json()["error"]["code"] == "not_found"
    with trio.fail_after(30):
        await alice.publisher.wait()
    await wait_live(server, "alice", live=False)
    # The channel goes offline first; the session's end (with its peak) is written after.
    session = await _ended_session(server, "alice")
    assert session["peak_viewers"] == 2


async def _ended_session(server: Server, channel: str) -> dict[str, Any]:
    with trio.fail_after(10):
        while True:
            session: dict[str, Any] = (await server.client.get(f"/api/channels/{channel}")).json()[
                "session"
            ]
            if session["ended_at"] is not None:
                return session
            await trio.sleep(0.05)
