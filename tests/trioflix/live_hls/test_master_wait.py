"""The live master playlist waits for the first segment, then answers 404 ``not_ready``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from tests.trioflix.live.rtmp_client import RTMPTestClient
from trioflix.api import ll_hls

if TYPE_CHECKING:
    import pytest

    from tests.conftest import Server

SHORT_WAIT_S = 0.5


def test_the_master_playlist_waits_ten_seconds() -> None:
    """The wait docs/api.md gives players."""
    assert ll_hls.MASTER_WAIT_S == 10.0


async def test_a_stream_without_segments_answers_not_ready_after_the_wait(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same code path as the 10 s default, without the ten seconds.
    monkeypatch.setattr(ll_hls, "MASTER_WAIT_S", SHORT_WAIT_S)
    token, _ = await server.register("alice")
    key = await server.create_key(token)
    address = server.app.trioflix.rtmp_address
    assert address is not None
    with trio.fail_after(20):
        publisher = await RTMPTestClient.connect(*address)
        try:
            await publisher.publish(key)  # and never sends a frame: no segment can exist
            started = trio.current_time()
            response = await server.client.get("/live/alice/master.m3u8")
            waited = trio.current_time() - started
        finally:
            await publisher.aclose()
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_ready"
    assert waited >= SHORT_WAIT_S
