"""Live thumbnails (``/live/{channel}/thumbnail.jpg``) of a stream published by ffmpeg."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import av
import pytest
import trio

from tests.trioflix.live_hls.helpers import go_live, wait_live
from tests.waiting import wait_until
from trioflix.media import live_thumbnails
from trioflix.media.live_thumbnails import THUMBNAIL_WIDTH

if TYPE_CHECKING:
    from tests.conftest import Server
    from tests.interop.media import Sample

pytestmark = [pytest.mark.slow, pytest.mark.interop]

VIEWERS = 8  # home pages asking at once


SAMPLE_SECONDS = 12  # the sample fixture's length (640x360, a keyframe every second)


def jpeg_size(data: bytes) -> tuple[int, int]:
    with av.open(io.BytesIO(data), mode="r", format="image2pipe") as container:
        frame = next(container.decode(video=0))
        return frame.width, frame.height


async def test_thumbnail_is_a_cached_scaled_jpeg_of_the_live_stream(
    server: Server, sample: Sample, nursery: trio.Nursery, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live_thumbnails, "CACHE_S", 1.0)
    cache = server.app.trioflix.thumbnails
    offline = await server.client.get("/live/alice/thumbnail.jpg")
    assert offline.status_code == 404
    assert offline.json()["error"]["code"] == "not_live"

    # Looped: the channel must stay live until the test ends it, however slowly a busy
    # machine gets through the decodes and the cache's wait.
    alice = await go_live(nursery, server, sample.path, loops=-1)
    stream = server.app.trioflix.registry.get("alice")
    assert stream is not None
    with trio.fail_after(10):
        while stream.latest_keyframe() is None:  # noqa: ASYNC110 (ffmpeg is another process)
            await trio.sleep(0.05)

    # Many viewers at once cost one decode, and all get the same picture.
    answers: list[bytes] = []

    async def fetch() -> None:
        response = await server.client.get("/live/alice/thumbnail.jpg")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "image/jpeg"
        answers.append(response.content)

    async with trio.open_nursery() as viewers:
        for _ in range(VIEWERS):
            viewers.start_soon(fetch)
    assert len(answers) == VIEWERS and len(set(answers)) == 1
    assert cache.decodes == 1
    assert jpeg_size(answers[0]) == (THUMBNAIL_WIDTH, 180)  # 640x360 scaled, aspect kept

    channels = (await server.client.get("/api/channels")).json()["channels"]
    assert channels[0]["thumbnail"] == "/live/alice/thumbnail.jpg"

    # Once the cache is stale and a newer keyframe exists, the picture is made again.
    decoded = stream.latest_keyframe()
    await trio.sleep(live_thumbnails.CACHE_S)  # the cache's age is real time
    await wait_until(lambda: stream.latest_keyframe() not in (None, decoded))
    newer = await server.client.get("/live/alice/thumbnail.jpg")
    assert newer.status_code == 200
    assert cache.decodes == 2
    assert jpeg_size(newer.content) == (THUMBNAIL_WIDTH, 180)

    alice.publisher.terminate()
    await wait_live(server, "alice", live=False)
    gone = await server.client.get("/live/alice/thumbnail.jpg")
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "not_live"
