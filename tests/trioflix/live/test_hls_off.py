"""``TRIOFLIX_HLS=off``: channels play over FLV and RTMP only; no HLS is written."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.trioflix.live.rtmp_client import RTMPTestClient
from tests.trioflix.live.test_rtmp_robustness import AVC_HEADER, KEYFRAME, rtmp_address
from tests.trioflix.live.test_webhooks_metrics import open_flv_viewer
from tests.waiting import wait_until

if TYPE_CHECKING:
    from tests.conftest import Server


@pytest.mark.settings(hls=False)
async def test_hls_off_keeps_flv(server: Server) -> None:
    token, _ = await server.register("alice")
    key = await server.create_key(token)
    client = await RTMPTestClient.connect(*rtmp_address(server))
    stream_id = await client.publish(key)
    for i in range(3):
        await client.send_video(stream_id, 0, AVC_HEADER)
        await client.send_video(stream_id, i * 1000, KEYFRAME)
    viewer = await open_flv_viewer(server, "alice")
    await viewer.aclose()
    live = server.app.trioflix.registry.get("alice")
    assert live is not None
    await wait_until(lambda: live.stats.video_frames == 3)  # the channel has every keyframe
    # No HLS session exists for the live channel, so nothing can write a playlist.
    response = await server.client.get("/live/alice/master.m3u8")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_live"
    assert not list((server.settings.data_dir).rglob("*.m3u8"))
    await client.aclose()
