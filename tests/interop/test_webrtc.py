"""WHEP playback with an independent WebRTC client (aiortc's own peer connection).

ffmpeg publishes over RTMP; the client offers, gets the answer, connects over ICE
on loopback and decodes what arrives. The server must pass the H.264 through
(no encoder of its own per viewer) and share one Opus transcoder per channel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import trio_asyncio

from tests.interop.media import Sample, make_sample
from tests.interop.whep_client import close_viewer, whep_offer
from tests.trioflix.live_hls.helpers import start_publisher, wait_live
from tests.waiting import wait_until

if TYPE_CHECKING:
    import trio

    from tests.conftest import Server

pytestmark = [
    pytest.mark.slow,
    pytest.mark.interop,
    pytest.mark.backends("sqlite", reason="WebRTC playback stores nothing"),
    pytest.mark.settings(webrtc_addresses=("127.0.0.1",)),
]


@pytest.fixture(scope="module")
def no_b_frames(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    """H.264 without B-frames (as WebRTC needs) + AAC, 30 s, a keyframe a second."""
    path = tmp_path_factory.mktemp("webrtc") / "no-b.flv"
    return make_sample(path, seconds=30, gop=30, bframes=0)


async def test_two_viewers_decode_the_passed_through_video(
    server: Server, no_b_frames: Sample, nursery: trio.Nursery
) -> None:
    token, _ = await server.register("alice")
    key = await server.create_key(token)
    await start_publisher(nursery, server, key, no_b_frames.path)
    await wait_live(server, "alice")
    whep = server.app.trioflix.whep
    live = server.app.trioflix.registry.get("alice")
    assert live is not None
    async with trio_asyncio.open_loop() as loop:
        viewers = [await whep_offer(server.client, "/live/alice/whep", loop) for _ in range(2)]
        await wait_until(
            lambda: all(v.video_frames >= 30 and v.audio_frames >= 25 for v in viewers)
        )
        assert live.viewers_by_protocol()["webrtc"] == 2
        assert whep.feeds() == 1
        for viewer in viewers:
            assert viewer.video_sizes == {(640, 360)}
        for viewer in viewers:
            response = await server.client.delete(viewer.location)
            assert response.status_code == 200
            await close_viewer(viewer, loop)
        await wait_until(lambda: whep.sessions == 0)
        assert live.viewers_by_protocol()["webrtc"] == 0
