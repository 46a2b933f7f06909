"""Live ingest and playout with real third-party clients: ffmpeg, rtmpdump, a websocket.

ffmpeg publishes a prepared H.264/AAC sample with ``-c copy``; viewers receive
over RTMP (ffmpeg, rtmpdump), HTTP-FLV (ffmpeg) and WS-FLV (trio-websocket), and
what they receive must decode and match what was sent frame for frame.
"""

from __future__ import annotations

import signal
import time
from typing import TYPE_CHECKING, Any

import pytest
import trio
from trio_websocket import ConnectionClosed, open_websocket_url

from protocols import flv, rtmp
from tests.interop.media import (
    RTMPDUMP,
    Sample,
    assert_received_suffix,
    decoded_frames,
    probe_packets,
    record_command,
    require,
)
from tests.trioflix.live.rtmp_client import RTMPTestClient
from tests.trioflix.live_hls.helpers import auth, go_live, start_publisher, wait_live
from tests.waiting import wait_until

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import Server

pytestmark = [pytest.mark.slow, pytest.mark.interop]

# The tests of what a client receives run on one backend; those of keys, takeovers,
# stops and reconnects (the live sessions' SQL) run on both.
WIRE_ONLY = pytest.mark.backends(
    "sqlite", reason="what the clients receive is the same whatever stores the sessions"
)


async def status(server: Server, token: str) -> dict[str, Any]:
    response = await server.client.get("/api/streaming/status", headers=auth(token))
    assert response.status_code == 200
    result: dict[str, Any] = response.json()
    return result


@WIRE_ONLY
@pytest.mark.parametrize("server", ["direct", "asgi"], indirect=True)
async def test_publish_and_watch_over_http_flv(
    server: Server, sample: Sample, tmp_path: Path, nursery: trio.Nursery
) -> None:
    alice = await go_live(nursery, server, sample.path)

    live = await status(server, alice.token)
    assert live["state"] == "live"
    assert live["playback"]["http_flv"].endswith("/live/alice.flv")
    channels = (await server.client.get("/api/channels")).json()["channels"]
    assert [c["name"] for c in channels] == ["alice"]

    received = tmp_path / "http.flv"
    cmd = record_command(f"{server.url}/live/alice.flv", received)
    with trio.fail_after(30):
        viewer = await trio.run_process(cmd, check=False, stdin=b"")
        await alice.publisher.wait()
    assert alice.publisher.returncode == 0
    assert viewer.returncode == 0
    assert_received_suffix(sample, received)

    # The ingest stats saw the real stream.
    await wait_live(server, "alice", live=False)
    ended = await status(server, alice.token)
    assert ended["state"] == "offline"
    last = (await server.client.get("/api/channels/alice")).json()
    assert last["session"]["state"] == "ended"
    assert last["session"]["end_reason"] == "publisher stopped"
    assert last["session"]["peak_viewers"] == 1


@WIRE_ONLY
async def test_two_publishers_paced_by_the_read_clock_each_reach_their_viewer(
    server: Server, sample: Sample, tmp_path: Path, nursery: trio.Nursery
) -> None:
    """Two publishers share the read clock (docs/architecture.md); every frame still
    arrives, in order, on each channel."""
    clock = server.app.trioflix.rtmp_read_clock
    assert clock is not None
    assert clock.interval == server.settings.rtmp_read_interval_ms / 1000
    # Both sign up before either publishes, so no stream runs while the other signs up:
    # the viewers, started once both are live, keep most of the sample to join in.
    keys = [await server.create_key((await server.register(name))[0]) for name in ("alice", "bob")]
    publishers = [await start_publisher(nursery, server, key, sample.path) for key in keys]
    for name in ("alice", "bob"):
        await wait_live(server, name)
    assert clock.pacing

    async def watch(name: str) -> None:
        cmd = record_command(f"{server.url}/live/{name}.flv", tmp_path / f"{name}.flv")
        viewer = await trio.run_process(cmd, check=False, stdin=b"")
        assert viewer.returncode == 0

    with trio.fail_after(30):
        async with trio.open_nursery() as viewers:
            for name in ("alice", "bob"):
                viewers.start_soon(watch, name)
        for publisher in publishers:
            await publisher.wait()
            assert publisher.returncode == 0
    for name in ("alice", "bob"):
        assert_received_suffix(sample, tmp_path / f"{name}.flv")
    assert clock.members == 0


async def test_status_reports_codecs_resolution_and_rates(
    server: Server, sample: Sample, nursery: trio.Nursery
) -> None:
    token, _ = await server.register("alice")
    await server.client.post(
        "/api/streaming/start", json={"title": "Test run", "description": "d"}, headers=auth(token)
    )
    ready = await status(server, token)
    assert ready["state"] == "ready"
    # Every protocol the server serves is listed, at 0, before anyone watches.
    nobody = {"total": 0, "rtmp": 0, "http-flv": 0, "ws-flv": 0, "webrtc": 0, "hls": 0}
    assert ready["viewers"] == nobody
    key = await server.create_key(token)
    publisher = await start_publisher(nursery, server, key, sample.path)
    await wait_live(server, "alice")
    await trio.sleep(2)
    live = await status(server, token)
    ingest = live["ingest"]
    assert ingest["video_codec"].startswith("avc1.")
    assert ingest["audio_codec"] == "mp4a.40.2"
    assert (ingest["width"], ingest["height"]) == (640, 360)
    assert 20 <= ingest["fps"] <= 40
    assert ingest["bitrate_kbps"] > 10
    # ffmpeg sends a well-formed stream that starts on a keyframe: nothing unusable.
    assert ingest["dropped_frames"] == 0
    assert ingest["viewer_skipped_packets"] == 0
    assert live["session"]["title"] == "Test run"
    assert live["uptime_s"] > 1
    assert live["viewers"] == nobody
    publisher.terminate()


@WIRE_ONLY
@pytest.mark.parametrize("client", ["ffmpeg", "rtmpdump"])
async def test_rtmp_play(
    server: Server, sample: Sample, tmp_path: Path, nursery: trio.Nursery, client: str
) -> None:
    alice = await go_live(nursery, server, sample.path)
    received = tmp_path / "rtmp.flv"
    url = f"{server.rtmp_url}/alice"
    if client == "ffmpeg":
        cmd = record_command(url, received)
    else:
        cmd = [require(RTMPDUMP, "rtmpdump"), "-q", "--live", "-r", url, "-o", str(received)]
    with trio.fail_after(30):
        viewer = await trio.run_process(cmd, check=False, stdin=b"")
        await alice.publisher.wait()
    assert viewer.returncode in (0, 2), viewer  # rtmpdump: 2 = "incomplete" on live EOF
    assert_received_suffix(sample, received)


# rtmpdump --stop 3: three seconds of the stream, then Play.Stop, with one frame's slack
# either side (B-frames reorder presentation times by up to two frames).
STOP_AFTER_S = 3
SPAN_SLACK_MS = 120


@WIRE_ONLY
async def test_rtmpdump_stop_gets_that_much_of_the_live_stream_and_ends(
    server: Server, sample: Sample, tmp_path: Path, nursery: trio.Nursery
) -> None:
    alice = await go_live(nursery, server, sample.path, loops=3)
    received = tmp_path / "three-seconds.flv"
    url = f"{server.rtmp_url}/alice"
    cmd = [require(RTMPDUMP, "rtmpdump"), "-q", "--live", "-B", str(STOP_AFTER_S), "-r", url]
    with trio.fail_after(20):  # without the server ending the play, rtmpdump never stops
        viewer = await trio.run_process([*cmd, "-o", str(received)], check=False, stdin=b"")
    assert viewer.returncode in (0, 2), viewer
    assert alice.publisher.returncode is None  # the play ended, not the stream
    stamps = [p.pts_ms for p in probe_packets(received)]
    span_ms = max(stamps) - min(stamps)
    assert STOP_AFTER_S * 1000 - SPAN_SLACK_MS <= span_ms <= STOP_AFTER_S * 1000 + SPAN_SLACK_MS
    assert decoded_frames(received)["video"] > 0


@WIRE_ONLY
@pytest.mark.parametrize("server", ["direct", "asgi"], indirect=True)
async def test_ws_flv(server: Server, sample: Sample, nursery: trio.Nursery) -> None:
    await go_live(nursery, server, sample.path)
    reader = flv.FLVReader()
    ws_url = server.url.replace("http://", "ws://") + "/live/alice.flv"
    with trio.fail_after(30):
        async with open_websocket_url(ws_url) as ws:
            try:
                while True:
                    message = await ws.get_message()
                    assert isinstance(message, bytes)
                    reader.receive_data(message)
            except ConnectionClosed:
                pass
            finally:
                # trio-websocket 0.12 leaves its TCP stream open when the server
                # completes the close handshake first; close it ourselves.
                await trio.aclose_forcefully(ws._stream)
    assert ws.closed is not None
    assert ws.closed.code == 1000
    reader.receive_data(b"")
    tags = []
    while (event := reader.next_event()) is not flv.NEED_DATA:
        if isinstance(event, flv.FLVEnd):
            break
        tags.append(event)
    assert isinstance(tags[0], flv.FLVHeader)
    video = [t for t in tags[1:] if isinstance(t, flv.FLVTag) and t.tag_type == 9]
    first_frame = next(t for t in video if not flv.parse_video_tag(t.data).is_sequence_header)
    assert flv.parse_video_tag(first_frame.data).is_keyframe
    coded = [t for t in video if flv.parse_video_tag(t.data).is_coded_frame]
    expected = [pts for pts in sample.video_pts_ms if pts >= sample.keyframe_pts_ms[0]]
    assert 0 < len(coded) <= len(expected)
    # Every frame from the first received keyframe to the end arrived.
    first_dts = coded[0].timestamp_ms
    assert len(coded) == sum(1 for t in _sample_dts(sample) if t >= first_dts)


def _sample_dts(sample: Sample) -> list[int]:
    reader = flv.FLVReader()
    reader.receive_data(sample.path.read_bytes())
    reader.receive_data(b"")
    out = []
    while (event := reader.next_event()) is not flv.NEED_DATA and not isinstance(event, flv.FLVEnd):
        if isinstance(event, flv.FLVTag) and event.tag_type == 9:
            if flv.parse_video_tag(event.data).is_coded_frame:
                out.append(event.timestamp_ms)
    return out


async def test_unknown_and_disabled_keys_are_refused(
    server: Server, sample: Sample, nursery: trio.Nursery
) -> None:
    token, _ = await server.register("alice")
    key = await server.create_key(token)
    unknown = await start_publisher(nursery, server, "live_not-a-real-key", sample.path)
    with trio.fail_after(15):
        await unknown.wait()
    assert unknown.returncode != 0
    key_id = (await server.client.get("/api/streaming/keys", headers=auth(token))).json()["keys"][
        0
    ]["id"]
    await server.client.put(
        f"/api/streaming/keys/{key_id}", json={"enabled": False}, headers=auth(token)
    )
    disabled = await start_publisher(nursery, server, key, sample.path)
    with trio.fail_after(15):
        await disabled.wait()
    assert disabled.returncode != 0
    assert server.app.trioflix.registry.get("alice") is None


async def test_second_key_refused_same_key_takes_over(
    server: Server, sample: Sample, nursery: trio.Nursery
) -> None:
    token, _ = await server.register("alice")
    key1 = await server.create_key(token)
    key2 = await server.create_key(token)
    # Looped: on a busy machine the refused publisher may take longer to start and be
    # refused than one pass of the sample lasts, and the first must still be publishing.
    first = await start_publisher(nursery, server, key1, sample.path, loops=-1)
    await wait_live(server, "alice")
    session_id = (await status(server, token))["session"]["id"]

    other = await start_publisher(nursery, server, key2, sample.path)
    with trio.fail_after(15):
        await other.wait()
    assert other.returncode != 0
    assert first.returncode is None  # undisturbed

    takeover = await start_publisher(nursery, server, key1, sample.path)
    with trio.fail_after(15):
        await first.wait()  # kicked
    assert server.app.trioflix.registry.get("alice") is not None
    assert (await status(server, token))["session"]["id"] == session_id
    takeover.terminate()


async def test_stop_api_disconnects_the_publisher(
    server: Server, sample: Sample, nursery: trio.Nursery
) -> None:
    alice = await go_live(nursery, server, sample.path)
    stopped = await server.client.post("/api/streaming/stop", headers=auth(alice.token))
    assert stopped.status_code == 200
    assert stopped.json()["session"]["end_reason"] == "stopped by the streamer"
    with trio.fail_after(15):
        await alice.publisher.wait()
    assert server.app.trioflix.registry.get("alice") is None
    again = await server.client.post("/api/streaming/stop", headers=auth(alice.token))
    assert again.status_code == 409


async def refused_publish(server: Server, key: str) -> rtmp.PublishRejected:
    """Publish with ``key`` from the test client: the server's refusal, once it has also
    closed the connection."""
    address = server.app.trioflix.rtmp_address
    assert address is not None
    client = await RTMPTestClient.connect(*address)
    try:
        await client.handshake_and_connect()
        stream_id = await client.create_stream()
        client.conn.send(rtmp.Publish(stream_id=stream_id, stream_key=key))
        with trio.fail_after(10):
            refused = await client.wait_for(
                lambda e: isinstance(e, rtmp.PublishAccepted | rtmp.PublishRejected)
            )
            assert isinstance(refused, rtmp.PublishRejected)
            with pytest.raises(trio.BrokenResourceError):
                await client.wait_for(lambda _: False)
    finally:
        await client.aclose()
    return refused


async def test_stopped_channel_refuses_the_encoder_until_started_again(
    server: Server, sample: Sample, nursery: trio.Nursery
) -> None:
    alice = await go_live(nursery, server, sample.path)
    stopped = await server.client.post("/api/streaming/stop", headers=auth(alice.token))
    assert stopped.status_code == 200
    session_id = stopped.json()["session"]["id"]
    assert stopped.json()["stopped"]["reason"] == "stream ended by the streamer"
    with trio.fail_after(15):
        await alice.publisher.wait()
    # What OBS's auto-reconnect does: the same key again at once. ffmpeg gives up.
    reconnect = await start_publisher(nursery, server, alice.key, sample.path)
    with trio.fail_after(15):
        await reconnect.wait()
    assert reconnect.returncode != 0
    refused = await refused_publish(server, alice.key)
    assert refused.code == "NetStream.Publish.Rejected"
    assert refused.description == "stream ended by the streamer"
    ended = await status(server, alice.token)
    assert ended["state"] == "offline"
    assert ended["session"] is None
    assert ended["last_session"]["id"] == session_id
    assert ended["stopped"]["until"] is None  # no cooldown by default
    # No second session, so no second recording.
    sessions = await server.app.trioflix.db.fetchval(
        "SELECT COUNT(*) FROM live_sessions WHERE user_id = $1", alice.user["id"]
    )
    assert sessions == 1
    # A stop with nothing live is refused and leaves the encoder refused.
    again = await server.client.post("/api/streaming/stop", headers=auth(alice.token))
    assert again.status_code == 409
    assert (await status(server, alice.token))["stopped"] is not None

    started = await server.client.post("/api/streaming/start", json={}, headers=auth(alice.token))
    assert started.status_code == 200
    assert started.json()["stopped"] is None
    await start_publisher(nursery, server, alice.key, sample.path)
    await wait_live(server, "alice")
    live = await status(server, alice.token)
    assert live["state"] == "live"
    assert live["session"]["id"] != session_id


@WIRE_ONLY
@pytest.mark.settings(stop_cooldown=1.0)
async def test_stop_cooldown_lets_the_encoder_back(
    server: Server, sample: Sample, nursery: trio.Nursery
) -> None:
    alice = await go_live(nursery, server, sample.path)
    stopped = (await server.client.post("/api/streaming/stop", headers=auth(alice.token))).json()
    assert stopped["stopped"]["until"] == pytest.approx(stopped["stopped"]["at"] + 1.0)
    await wait_until(lambda: server.app.trioflix.registry.state_of("alice") is None)
    await trio.sleep(max(0.0, stopped["stopped"]["until"] - time.time()))
    assert (await status(server, alice.token))["stopped"] is None
    await start_publisher(nursery, server, alice.key, sample.path)
    await wait_live(server, "alice")


async def test_killed_publisher_goes_offline_and_reconnect_continues_session(
    server: Server, sample: Sample, nursery: trio.Nursery
) -> None:
    alice = await go_live(nursery, server, sample.path)
    session_id = (await status(server, alice.token))["session"]["id"]
    alice.publisher.send_signal(signal.SIGKILL)
    # The kernel closes the dead publisher's socket: the server sees it at once, not
    # after its 30 s idle timeout. The bound leaves room for a busy machine.
    with trio.fail_after(5):
        await wait_live(server, "alice", live=False)
    assert (await status(server, alice.token))["state"] == "reconnecting"
    again = await start_publisher(nursery, server, alice.key, sample.path)
    await wait_live(server, "alice")
    assert (await status(server, alice.token))["session"]["id"] == session_id
    again.terminate()
