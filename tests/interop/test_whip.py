"""WHIP ingest with an independent WebRTC client (aiortc's own peer connection).

The client plays a file with aiortc's player (re-encoded by aiortc's H.264 and
Opus encoders, as a WebRTC encoder sends) and publishes it with the stream key as
the bearer token. The channel must be live as from an RTMP publisher: HLS
segments and HTTP-FLV that decode (the H.264 passed through, the Opus made AAC),
the stream-key rules, a clear error for a bad offer or key, and nothing left
behind however the session ends.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import aioice.ice
import ifaddr
import pytest
import trio
import trio_asyncio

from tests.interop.media import FFMPEG, decoded_frames, make_sample, require
from tests.interop.test_webrtc import _asyncio_tasks, _trio_tasks, _udp_ports
from tests.interop.whip_client import wait_connected, whip_publish
from tests.trioflix.live_hls.helpers import parse_media_playlist, wait_live
from tests.waiting import wait_until
from trioflix.live.webrtc import publishers

if TYPE_CHECKING:
    from tests.conftest import Server
    from tests.interop.media import Sample
    from tests.trioflix.live_hls.helpers import Segment

pytestmark = [
    pytest.mark.slow,
    pytest.mark.interop,
    pytest.mark.backends("sqlite", reason="the ingest path stores what RTMP's does"),
    pytest.mark.settings(webrtc_addresses=("127.0.0.1",)),
]

SDP = {"Content-Type": "application/sdp"}
WHIP = "/api/whip"


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    """60 s of H.264 + AAC for aiortc's player to decode and send again."""
    path = tmp_path_factory.mktemp("whip") / "source.flv"
    return make_sample(path, seconds=60, gop=30, bframes=0, size="320x180")


def _bearer(key: str) -> dict[str, str]:
    return SDP | {"Authorization": f"Bearer {key}"}


async def _alice(server: Server) -> tuple[str, str]:
    token, _ = await server.register("alice")
    return token, await server.create_key(token)


async def _plays_on_hls_and_http_flv(server: Server, tmp_path: Path) -> None:
    """alice's channel plays: an HLS segment (cut at a keyframe the server asked for)
    and 3 s of HTTP-FLV decode, video and audio."""

    async def segments() -> list[Segment]:
        playlist = await server.client.get("/live/alice/source/index.m3u8")
        if playlist.status_code != 200:
            return []
        return parse_media_playlist(playlist.text).segments

    with trio.fail_after(40):
        while not (done := await segments()):  # noqa: ASYNC110 - polls the server
            await trio.sleep(0.2)
    segment = tmp_path / "segment.ts"
    segment.write_bytes((await server.client.get(f"/live/alice/source/{done[0].uri}")).content)
    frames = await trio.to_thread.run_sync(decoded_frames, segment)
    assert frames["video"] > 0 and frames["audio"] > 0, frames
    ffmpeg = require(FFMPEG, "ffmpeg")
    received = tmp_path / "http.flv"
    cmd = [ffmpeg, "-hide_banner", "-loglevel", "error", "-i", f"{server.url}/live/alice.flv"]
    cmd += ["-t", "3", "-c", "copy", "-y", str(received)]
    with trio.fail_after(30):
        await trio.run_process(cmd, stdin=b"")
    frames = await trio.to_thread.run_sync(decoded_frames, received)
    assert frames["video"] >= 30 and frames["audio"] > 0, frames


async def test_a_whip_publisher_is_a_live_channel_on_hls_and_http_flv(
    server: Server, source: Sample, tmp_path: Path
) -> None:
    token, key = await _alice(server)
    other_key = await server.create_key(token)
    whip = server.app.trioflix.whip
    async with trio_asyncio.open_loop() as loop:
        # Its candidates come after the offer, in a PATCH (trickle ICE), and the
        # answer's are dropped: it connects only through the trickled ones.
        publisher = await whip_publish(server.client, WHIP, key, source.path, loop, trickle=True)
        assert publisher.location.startswith(f"{WHIP}/")
        assert publisher.links == []  # no ICE servers configured
        with trio.fail_after(20):
            await wait_connected(publisher)
        stale = await server.client.patch(
            publisher.location,
            content=b"a=end-of-candidates\r\n",
            headers={"Content-Type": "application/trickle-ice-sdpfrag", "If-Match": '"old"'},
        )
        assert stale.status_code == 412
        await wait_live(server, "alice")
        assert whip.sessions == 1
        # Another key of the channel is refused while this one is live (as over RTMP).
        refused = await server.client.post(WHIP, content=b"v=0\r\n", headers=_bearer(other_key))
        assert refused.status_code in (400, 409)
        with pytest.raises(AssertionError, match="409") as conflict:
            await whip_publish(server.client, WHIP, other_key, source.path, loop)
        assert "already live from another key" in str(conflict.value)
        assert whip.sessions == 1

        await _plays_on_hls_and_http_flv(server, tmp_path)
        status = await server.client.get(
            "/api/streaming/status", headers={"Authorization": f"Bearer {token}"}
        )
        assert status.json()["ingest"]["video_codec"].startswith("avc1")
        assert status.json()["ingest"]["audio_codec"].startswith("mp4a")

        # DELETE ends the publish at once (no grace window) and frees the session.
        assert (await server.client.delete(publisher.location)).status_code == 200
        await wait_live(server, "alice", live=False)
        await wait_until(lambda: whip.sessions == 0)
        last = (await server.client.get("/api/channels/alice")).json()
        assert last["session"]["state"] == "ended"
        assert (await server.client.delete(publisher.location)).status_code == 404
        await publisher.close(loop)

    # The recording becomes a video that decodes, video and audio.
    with trio.fail_after(90):
        while True:
            videos = (
                await server.client.get(
                    "/api/videos",
                    params={"mine": "1"},
                    headers={"Authorization": f"Bearer {token}"},
                )
            ).json()["videos"]
            if videos and videos[0]["state"] == "ready":
                break
            await trio.sleep(0.2)
    recorded = f"{server.url}/videos/{videos[0]['id']}/source/index.m3u8"
    frames = await trio.to_thread.run_sync(decoded_frames, recorded)
    assert frames["video"] >= 30 and frames["audio"] > 0, frames


def _host_address() -> str:
    """An IPv4 address of this machine other than loopback: GStreamer's ICE (libnice)
    gathers no loopback candidate, and a packet between 127.0.0.1 and another address
    is dropped, so the server must offer this one too."""
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str) and not ip.ip.startswith("127."):
                return ip.ip
    raise AssertionError("this machine has no IPv4 address but loopback")


# GStreamer's WebRTC stack through PyGObject, under the system's Python (./dev installs
# python3-gi and the GStreamer packages).
SYSTEM_PYTHON = "/usr/bin/python3"
GST_CLIENT = Path(__file__).with_name("gst_whip_client.py")


@pytest.mark.settings(webrtc_addresses=(_host_address(),))
async def test_gstreamer_publishes_over_whip_and_the_channel_plays(
    server: Server, tmp_path: Path
) -> None:
    """An independent WebRTC implementation: GStreamer's webrtcbin (libnice, its own
    DTLS and SRTP) sends x264 without B-frames and Opus; the stream plays on HLS and
    HTTP-FLV, and the client's DELETE ends it."""
    _, key = await _alice(server)
    client = await trio.lowlevel.open_process(
        [SYSTEM_PYTHON, str(GST_CLIENT), f"{server.url}{WHIP}", key], stdout=-1
    )
    try:
        assert client.stdout is not None
        with trio.fail_after(30):
            line = await client.stdout.receive_some(1000)
        assert line.startswith(b"published"), line
        await wait_live(server, "alice")
        await _plays_on_hls_and_http_flv(server, tmp_path)
        live = server.app.trioflix.registry.get("alice")
        assert live is not None
        assert (live.stats.width, live.stats.height) == (320, 180)
        client.terminate()  # the client DELETEs its session
        with trio.fail_after(20):
            await client.wait()
        await wait_live(server, "alice", live=False)
        assert server.app.trioflix.registry.state_of("alice") != "reconnecting"
    finally:
        client.kill()
        await client.wait()


async def test_bad_offers_and_keys_get_clear_errors_and_leave_nothing(server: Server) -> None:
    _, key = await _alice(server)
    client = server.client
    no_key = await client.post(WHIP, content=b"v=0\r\n", headers=SDP)
    assert no_key.status_code == 401
    assert no_key.json()["error"]["code"] == "no_stream_key"
    assert no_key.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = await client.post(WHIP, content=b"v=0\r\n", headers=_bearer("live_wrong"))
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "bad_stream_key"
    not_sdp = await client.post(WHIP, content=b"hello", headers=_bearer(key))
    assert not_sdp.status_code == 400
    assert not_sdp.json()["error"]["code"] == "bad_sdp"
    broken = await client.post(WHIP, content=b"v=0\r\nm=video nonsense\r\n", headers=_bearer(key))
    assert broken.status_code == 400
    assert broken.json()["error"]["code"] == "bad_sdp"
    as_json = await client.post(
        WHIP, json={"sdp": "v=0"}, headers={"Authorization": f"Bearer {key}"}
    )
    assert as_json.status_code == 415
    for method in ("DELETE", "PATCH"):
        unknown = await client.request(method, f"{WHIP}/no-such-session")
        assert unknown.status_code == 404
        assert unknown.json()["error"]["code"] == "no_session"
    # OBS asks for the Link headers first; the API's CORS rules (docs/api.md) decide
    # which web origins may, as for every /api route.
    options = await client.options(WHIP)
    assert options.status_code == 204
    assert options.headers["Allow"] == "POST, OPTIONS"
    assert server.app.trioflix.whip.sessions == 0
    assert server.app.trioflix.registry.get("alice") is None


@pytest.mark.settings(rtmp_key_failures=2)
async def test_wrong_keys_throttle_the_address_as_over_rtmp(server: Server) -> None:
    _, key = await _alice(server)
    for attempt in range(2):
        wrong = await server.client.post(
            WHIP, content=b"v=0\r\n", headers=_bearer(f"live_wrong{attempt}")
        )
        assert wrong.status_code == 401
    # Past its wrong keys, the address is refused even the right key, before the database.
    throttled = await server.client.post(WHIP, content=b"v=0\r\n", headers=_bearer(key))
    assert throttled.status_code == 429
    assert throttled.json()["error"]["code"] == "too_many_wrong_keys"
    assert int(throttled.headers["Retry-After"]) > 0


async def test_an_encoder_that_vanishes_ends_when_ice_consent_expires(
    server: Server, source: Sample, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client process is killed: no DELETE, no DTLS close. aioice's consent checks
    (RFC 7675: 30 s in production) run every second here, so it is gone within ~10 s;
    the channel is offline at once, its session in the reconnect grace window."""
    monkeypatch.setattr(aioice.ice, "CONSENT_INTERVAL", 1)
    _, key = await _alice(server)
    whip = server.app.trioflix.whip
    client = await trio.lowlevel.open_process(
        [
            sys.executable,
            "-m",
            "tests.interop.whip_client",
            f"{server.url}{WHIP}",
            key,
            str(source.path),
        ],
        stdout=-1,
    )
    try:
        assert client.stdout is not None
        with trio.fail_after(30):
            line = await client.stdout.receive_some(100)
        assert line.startswith(b"connected"), line
        await wait_live(server, "alice")
        assert whip.sessions == 1
        client.send_signal(signal.SIGKILL)
        with trio.fail_after(20):
            while whip.sessions:  # noqa: ASYNC110 - the consent checks end it
                await trio.sleep(0.2)
        await wait_live(server, "alice", live=False)
        assert server.app.trioflix.registry.state_of("alice") == "reconnecting"
    finally:
        client.kill()
        await client.wait()


async def test_an_offer_that_never_connects_is_dropped_after_the_connect_timeout(
    server: Server, source: Sample, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The encoder offers and goes away before ICE: the session ends on its own (20 s in
    production, 1 s here) and gives the channel back."""
    monkeypatch.setattr(publishers, "ICE_CONNECT_TIMEOUT_S", 1.0)
    _, key = await _alice(server)
    whip = server.app.trioflix.whip
    async with trio_asyncio.open_loop() as loop:
        publisher = await whip_publish(server.client, WHIP, key, source.path, loop)
        await publisher.close(loop)  # gone before ICE could connect
        with trio.fail_after(10):
            while whip.sessions:  # noqa: ASYNC110 - the connect timeout ends it
                await trio.sleep(0.1)
    await wait_live(server, "alice", live=False)
    assert (await server.client.delete(publisher.location)).status_code == 404


CYCLES = 5


async def test_publish_cycles_leave_tasks_sockets_and_ports_at_baseline(
    server: Server, source: Sample
) -> None:
    _, key = await _alice(server)
    whip = server.app.trioflix.whip
    webrtc = server.app.trioflix.whep

    def held() -> tuple[int, int, int, int]:
        return (
            len(os.listdir("/proc/self/fd")),
            _udp_ports(),
            _trio_tasks(),
            _asyncio_tasks(webrtc.loop),
        )

    async with trio_asyncio.open_loop() as loop:

        async def cycle() -> tuple[int, int, int, int]:
            publisher = await whip_publish(server.client, WHIP, key, source.path, loop)
            with trio.fail_after(20):
                await wait_connected(publisher)
            await wait_live(server, "alice")
            during = held()
            assert (await server.client.delete(publisher.location)).status_code == 200
            await wait_until(lambda: whip.sessions == 0)
            await wait_live(server, "alice", live=False)
            await publisher.close(loop)
            return during

        during = await cycle()  # the first session opens the loop and loads aiortc
        baseline = held()
        assert all(d > b for d, b in zip(during, baseline, strict=True)), (during, baseline)
        for _ in range(CYCLES):
            await cycle()
        await wait_until(lambda: all(a <= b for a, b in zip(held(), baseline, strict=True)))
