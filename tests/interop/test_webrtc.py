"""WHEP playback with an independent WebRTC client (aiortc's own peer connection).

ffmpeg publishes over RTMP; the client offers, gets the answer, connects over ICE
on loopback and decodes what arrives. The server must pass the H.264 through
(no encoder of its own per viewer), share one Opus transcoder per channel, refuse
what it cannot serve with a clear error, and free everything a session held
however it ends.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import TYPE_CHECKING, Any

import aioice.ice
import pytest
import trio
import trio_asyncio
from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.exceptions import InvalidStateError
from aiortc.rtp import RTP_HISTORY_SIZE, RtpPacket

from tests.interop.media import Sample, make_sample
from tests.interop.whep_client import close_viewer, connected, encoders_opened, whep_offer
from tests.trioflix.live_hls.helpers import auth, go_live
from tests.waiting import wait_until
from trioflix.live.webrtc import sessions

if TYPE_CHECKING:
    import asyncio

    from tests.conftest import Server
    from trioflix.live.webrtc.sessions import WHEPSessions

pytestmark = [
    pytest.mark.slow,
    pytest.mark.interop,
    pytest.mark.backends("sqlite", reason="WebRTC playback stores nothing"),
    pytest.mark.settings(webrtc_addresses=("127.0.0.1",)),
]

SDP = {"Content-Type": "application/sdp"}


@pytest.fixture(scope="module")
def no_b_frames(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    """H.264 without B-frames (as WebRTC needs) + AAC, 60 s, a keyframe a second."""
    path = tmp_path_factory.mktemp("webrtc") / "no-b.flv"
    return make_sample(path, seconds=60, gop=30, bframes=0, size="320x180")


async def _sent_and_resent(sender: Any) -> tuple[int, int, int]:
    """A server video sender's RTP packets sent as its RTCP reports count them, and
    the datagrams it sends for a NACK of a packet it still holds, then of one long
    gone. Nothing else runs on the loop meanwhile (no await here suspends), so the
    transport's count moves by those alone."""
    (outbound,) = [s for s in (await sender.getStats()).values() if s.type == "outbound-rtp"]
    history = sender._RTCRtpSender__rtp_history
    held = RtpPacket.parse(next(iter(history.values()))).sequence_number
    transport = sender.transport
    before = transport._RTCDtlsTransport__tx_packets
    await sender._retransmit(held)
    resent = transport._RTCDtlsTransport__tx_packets - before
    await sender._retransmit((held - RTP_HISTORY_SIZE) & 0xFFFF)
    gone = transport._RTCDtlsTransport__tx_packets - before - resent
    return outbound.packetsSent, resent, gone


async def test_two_viewers_decode_the_passed_through_video(
    server: Server, no_b_frames: Sample, nursery: trio.Nursery
) -> None:
    token = (await go_live(nursery, server, no_b_frames.path)).token
    whep = server.app.trioflix.whep
    live = server.app.trioflix.registry.get("alice")
    assert live is not None
    async with trio_asyncio.open_loop() as loop:
        # The second offers without candidates and sends them in a PATCH (trickle ICE),
        # ignoring the answer's: it connects only if the server uses the trickled ones.
        viewers = [
            await whep_offer(server.client, "/live/alice/whep", loop, trickle=trickled)
            for trickled in (False, True)
        ]
        await wait_until(
            lambda: all(v.video_frames >= 30 and v.audio_frames >= 25 for v in viewers)
        )
        assert live.viewers_by_protocol()["webrtc"] == 2
        status = await server.client.get("/api/streaming/status", headers=auth(token))
        assert status.json()["viewers"]["webrtc"] == 2
        # One Opus transcoder and one video task for the channel; no video encoder.
        assert whep.feeds() == 1
        assert whep.video_feeds() == 1
        assert [encoders_opened(pc) for pc in whep.peer_connections()] == [0, 0]
        # The server's own RTP loop (ready payloads) keeps what RTCP reports and
        # what a NACK resends: a packet it holds once (as RTX), one gone not at all.
        for pc in whep.peer_connections():
            (sender,) = [t.sender for t in pc.getTransceivers() if t.kind == "video"]
            sent, resent, gone = await trio_asyncio.aio_as_trio(_sent_and_resent, loop=loop)(sender)
            assert sent >= 30
            assert (resent, gone) == (1, 0)
        # Trickle ICE as RFC 9725 4.3.1 says: the entity-tag must match, no ICE restart.
        frag = {"Content-Type": "application/trickle-ice-sdpfrag"}
        candidate = b"a=candidate:1 1 udp 1 127.0.0.1 9 typ host\r\n"
        stale = await server.client.patch(
            viewers[0].location, content=candidate, headers={**frag, "If-Match": '"other"'}
        )
        assert stale.status_code == 412
        restart = await server.client.patch(
            viewers[0].location, content=b"a=ice-ufrag:new1\r\na=ice-pwd:" + b"p" * 22, headers=frag
        )
        assert restart.status_code == 422
        assert restart.json()["error"]["code"] == "ice_restart_unsupported"
        as_sdp = await server.client.patch(viewers[0].location, content=candidate, headers=SDP)
        assert as_sdp.status_code == 415
        no_fragment = await server.client.patch(viewers[0].location, content=b"hello", headers=frag)
        assert no_fragment.status_code == 400
        assert no_fragment.json()["error"] == {
            "code": "bad_sdpfrag",
            "message": "not an SDP line: 'hello'",
        }
        late = await server.client.patch(viewers[0].location, content=candidate, headers=frag)
        assert late.status_code == 204  # a connected session takes it too, harmlessly
        garbage = await server.client.post(
            "/live/alice/whep", content=b"v=0\r\nm=video nonsense\r\n", headers=SDP
        )
        assert garbage.status_code == 400
        assert garbage.json()["error"]["code"] == "bad_sdp"
        assert whep.sessions == 2
        for viewer in viewers:
            assert viewer.video_sizes == {(320, 180)}
            assert viewer.links == []  # no ICE servers configured
            assert viewer.location.startswith("/live/alice/whep/")
        for viewer in viewers:
            response = await server.client.delete(viewer.location)
            assert response.status_code == 200
            await close_viewer(viewer, loop)
        await wait_until(lambda: whep.sessions == 0)
        assert live.viewers_by_protocol()["webrtc"] == 0
        await wait_until(lambda: whep.feeds() == 0 and whep.video_feeds() == 0)


async def test_an_asyncio_error_nobody_retrieved_ends_no_session(
    server: Server, no_b_frames: Sample, nursery: trio.Nursery
) -> None:
    """aiortc leaves tasks whose exception nobody retrieves (a connection closed
    before its connecting task ran: ``RTCIceTransport is closed``); asyncio hands
    those to the loop's exception handler, which in trio-asyncio raises them into
    the loop's nursery, ending every session and the server's lifespan. The server's
    loop logs them: a viewer watching goes on, and the next one connects."""
    await go_live(nursery, server, no_b_frames.path)
    whep = server.app.trioflix.whep
    async with trio_asyncio.open_loop() as loop:
        first = await whep_offer(server.client, "/live/alice/whep", loop)
        await wait_until(lambda: first.video_frames >= 1)
        whep.loop.call_exception_handler(
            {
                "message": "Task exception was never retrieved",
                "exception": InvalidStateError("RTCIceTransport is closed"),
            }
        )
        frames = first.video_frames
        second = await whep_offer(server.client, "/live/alice/whep", loop)
        await wait_until(lambda: second.video_frames >= 1 and first.video_frames >= frames + 30)
        assert whep.sessions == 2
        for viewer in (first, second):
            response = await server.client.delete(viewer.location)
            assert response.status_code == 200
            await close_viewer(viewer, loop)
        await wait_until(lambda: whep.sessions == 0)


@pytest.fixture(scope="module")
def with_b_frames(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    """H.264 with B-frames (which WebRTC cannot pass through) + AAC, 60 s."""
    path = tmp_path_factory.mktemp("webrtc") / "b.flv"
    return make_sample(path, seconds=60, gop=30, bframes=2, size="320x180")


@pytest.mark.settings(
    webrtc_addresses=("127.0.0.1",), hls_ladder="90p:100k", hls_preset="ultrafast"
)
async def test_a_viewer_chooses_a_ladder_rung_which_is_passed_through(
    server: Server, with_b_frames: Sample, nursery: trio.Nursery
) -> None:
    """The source has B-frames, so it is refused; the ladder's 90p rung has none (its
    encoder is tuned for zero latency), and plays at the rung's size, with no encoder
    per viewer: the ladder's own H.264 is sent."""
    token = (await go_live(nursery, server, with_b_frames.path)).token
    whep = server.app.trioflix.whep
    live = server.app.trioflix.registry.get("alice")
    assert live is not None
    unknown = await server.client.post(
        "/live/alice/whep?rendition=4320p", content=b"v=0\r\n", headers=SDP
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "no_such_rendition"
    with trio.fail_after(60):
        while live.rendition("90p") is None:  # noqa: ASYNC110 - the ladder's child starts it
            await trio.sleep(0.1)
    status = (await server.client.get("/api/streaming/status", headers=auth(token))).json()
    assert "whep" not in status["playback"]  # the source cannot be played
    assert status["playback"]["whep_renditions"] == [{"name": "90p", "width": 160, "height": 90}]
    async with trio_asyncio.open_loop() as loop:
        with pytest.raises(AssertionError, match="409"):
            await whep_offer(server.client, "/live/alice/whep", loop)
        viewer = await whep_offer(server.client, "/live/alice/whep?rendition=90p", loop)
        await wait_until(lambda: viewer.video_frames >= 30 and viewer.audio_frames >= 25)
        assert viewer.video_sizes == {(160, 90)}
        [pc] = whep.peer_connections()
        assert encoders_opened(pc) == 0
        assert live.viewers_by_protocol()["webrtc"] == 1  # the rung's viewer is the channel's
        assert (await server.client.delete(viewer.location)).status_code == 200
        await close_viewer(viewer, loop)
        await wait_until(lambda: whep.sessions == 0)
    assert live.viewers_by_protocol()["webrtc"] == 0


async def test_bad_requests_get_clear_errors_and_leave_nothing(server: Server) -> None:
    client = server.client
    whep = server.app.trioflix.whep
    offline = await client.post("/live/nobody/whep", content=b"v=0\r\n", headers=SDP)
    assert offline.status_code == 404
    assert offline.json()["error"]["code"] == "not_live"
    not_sdp = await client.post("/live/nobody/whep", content=b"hello", headers=SDP)
    assert not_sdp.status_code == 400
    assert not_sdp.json()["error"]["code"] == "bad_sdp"
    as_json = await client.post("/live/nobody/whep", json={"sdp": "v=0"})
    assert as_json.status_code == 415
    huge = await client.post("/live/nobody/whep", content=b"v=0\r\n" + b"a" * 70_000, headers=SDP)
    assert huge.status_code == 413
    for method in ("DELETE", "PATCH"):
        unknown = await client.request(method, "/live/nobody/whep/no-such-session")
        assert unknown.status_code == 404
        assert unknown.json()["error"]["code"] == "no_session"
    preflight = await client.options(
        "/live/alice/whep",
        headers={
            "Origin": "https://elsewhere.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "Content-Type" in preflight.headers["Access-Control-Allow-Headers"]
    assert whep.sessions == 0


async def test_a_stream_with_b_frames_is_refused_with_what_to_change(
    server: Server, sample: Sample, nursery: trio.Nursery
) -> None:
    """``sample`` has B-frames (libx264's default), which WebRTC cannot play in order."""
    await go_live(nursery, server, sample.path)
    live = server.app.trioflix.registry.get("alice")
    assert live is not None
    await wait_until(lambda: bool(live.current_gop()))
    async with trio_asyncio.open_loop() as loop:
        with pytest.raises(AssertionError, match="409") as refused:
            await whep_offer(server.client, "/live/alice/whep", loop)
        assert "webrtc_unsupported_stream" in str(refused.value)
        assert "bframes=0" in str(refused.value)
    assert server.app.trioflix.whep.sessions == 0
    assert live.viewers_by_protocol()["webrtc"] == 0


async def test_a_viewer_that_vanishes_is_dropped_when_ice_consent_expires(
    server: Server, no_b_frames: Sample, nursery: trio.Nursery, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client process is killed: no DELETE, no DTLS close. aioice's consent checks
    (RFC 7675: 30 s in production) run every second here, so it is gone within ~10 s."""
    monkeypatch.setattr(aioice.ice, "CONSENT_INTERVAL", 1)
    await go_live(nursery, server, no_b_frames.path)
    whep = server.app.trioflix.whep
    live = server.app.trioflix.registry.get("alice")
    assert live is not None
    client = await trio.lowlevel.open_process(
        [sys.executable, "-m", "tests.interop.whep_client", f"{server.url}/live/alice/whep"],
        stdout=-1,
    )
    try:
        assert client.stdout is not None
        with trio.fail_after(30):
            line = await client.stdout.receive_some(100)
        assert line.startswith(b"connected"), line
        assert whep.sessions == 1
        assert live.viewers_by_protocol()["webrtc"] == 1
        client.send_signal(signal.SIGKILL)
        with trio.fail_after(20):
            while whep.sessions:  # noqa: ASYNC110 - the consent checks end it; nothing to wait on
                await trio.sleep(0.2)
        assert live.viewers_by_protocol()["webrtc"] == 0
    finally:
        client.kill()
        await client.wait()


async def test_an_offer_that_never_connects_is_dropped_after_the_connect_timeout(
    server: Server, no_b_frames: Sample, nursery: trio.Nursery, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The player offers and goes away before ICE: the session ends on its own (20 s in
    production, 1 s here) and frees the viewer's place."""
    monkeypatch.setattr(sessions, "ICE_CONNECT_TIMEOUT_S", 1.0)
    await go_live(nursery, server, no_b_frames.path)
    whep = server.app.trioflix.whep
    live = server.app.trioflix.registry.get("alice")
    assert live is not None
    async with trio_asyncio.open_loop() as loop:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.addTransceiver("video", direction="recvonly")
        await trio_asyncio.aio_as_trio(pc.setLocalDescription, loop=loop)(
            await trio_asyncio.aio_as_trio(pc.createOffer, loop=loop)()
        )
        await trio_asyncio.aio_as_trio(pc.close, loop=loop)()  # gone before any answer
        answered = await server.client.post(
            "/live/alice/whep", content=pc.localDescription.sdp.encode(), headers=SDP
        )
        assert answered.status_code == 201, answered.text
        assert live.viewers_by_protocol()["webrtc"] == 1
        assert whep.feeds() == 0  # a video-only offer: no Opus made for it
        with trio.fail_after(10):
            while whep.sessions:  # noqa: ASYNC110 - the connect timeout ends it
                await trio.sleep(0.1)
        assert live.viewers_by_protocol()["webrtc"] == 0
        assert (await server.client.delete(answered.headers["Location"])).status_code == 404


def _udp_ports() -> int:
    """UDP sockets this process holds: its socket fds whose inode /proc/net/udp{,6} lists."""
    inodes: set[str] = set()
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        with open(table) as lines:
            next(lines)
            inodes.update(line.split()[9] for line in lines)
    held = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except FileNotFoundError:
            continue  # closed meanwhile (the listing's own fd)
        if target.startswith("socket:[") and target[8:-1] in inodes:
            held += 1
    return held


def _trio_tasks() -> int:
    count = 0
    root = trio.lowlevel.current_root_task()
    assert root is not None
    todo = [root]
    while todo:
        task = todo.pop()
        count += 1
        todo.extend(t for n in task.child_nurseries for t in n.child_tasks)
    return count


def _asyncio_tasks(loop: asyncio.AbstractEventLoop) -> int:
    import asyncio

    return len(asyncio.all_tasks(loop))


CYCLES = 100


async def test_connect_drop_cycles_leave_tasks_sockets_and_ports_at_baseline(
    server: Server, no_b_frames: Sample, nursery: trio.Nursery
) -> None:
    # A hundred cycles outlast the sample on a busy machine: publish it until the end.
    await go_live(nursery, server, no_b_frames.path, loops=-1)
    whep: WHEPSessions = server.app.trioflix.whep
    live = server.app.trioflix.registry.get("alice")
    assert live is not None
    async with trio_asyncio.open_loop() as loop:

        async def cycle(number: int) -> None:
            viewer = await whep_offer(server.client, "/live/alice/whep", loop)
            with trio.fail_after(20):
                await connected(viewer, loop)
            held.append(_held())
            [server_pc] = whep.peer_connections()
            # Half leave with DELETE (their side closes once the server's has), half
            # just close their side (DTLS close_notify).
            if number % 2:
                assert (await server.client.delete(viewer.location)).status_code == 200
            else:
                await close_viewer(viewer, loop)
            with trio.fail_after(20):
                while whep.sessions:  # noqa: ASYNC110 - sessions end on their own
                    await trio.sleep(0.02)
            assert server_pc.connectionState == "closed"  # before the client closes its side
            await close_viewer(viewer, loop)

        def _held() -> tuple[int, int, int, int]:
            assert whep._loop is not None
            return (
                len(os.listdir("/proc/self/fd")),
                _udp_ports(),
                _trio_tasks(),
                _asyncio_tasks(whep._loop),
            )

        held: list[tuple[int, int, int, int]] = []
        await cycle(0)  # the first session opens the server's loop and loads aiortc
        await wait_until(lambda: whep.feeds() == 0)
        baseline = _held()
        # While connected, each count is above the baseline: the counts see a session.
        assert all(h > b for h, b in zip(held[0], baseline, strict=True)), (held[0], baseline)
        for number in range(1, CYCLES + 1):
            await cycle(number)
        # Back to the baseline (or below it: a task of another service may have ended).
        await wait_until(lambda: all(a <= b for a, b in zip(_held(), baseline, strict=True)))
        assert live.viewers_by_protocol()["webrtc"] == 0
        assert whep.feeds() == 0
        assert whep.video_feeds() == 0
