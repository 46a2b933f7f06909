"""Live thumbnails without a live stream: what cannot be decoded, and how often we try."""

from __future__ import annotations

import pytest

from tests.trioflix.live.test_stream import AVC_CONFIG, key
from trioflix.live.channel.packets import Kind, Packet
from trioflix.media.live_thumbnails import ThumbnailCache, ThumbnailError, render_thumbnail


@pytest.mark.parametrize(
    ("config", "frame", "reason"),
    [
        (b"\x17", key(), "bad video tag"),
        (b"\x22sorenson", b"\x22frame", "no decoder"),
        (AVC_CONFIG, key(), "cannot decode"),  # an H.264 header, then no picture
    ],
)
def test_what_cannot_be_decoded_is_a_thumbnail_error(
    config: bytes, frame: bytes, reason: str
) -> None:
    with pytest.raises(ThumbnailError, match=reason):
        render_thumbnail(config, frame)


async def test_a_keyframe_that_does_not_decode_is_tried_once() -> None:
    cache = ThumbnailCache()
    config = Packet(Kind.VIDEO, 0, AVC_CONFIG, config=True)
    frame = Packet(Kind.VIDEO, 0, key(), keyframe=True)
    for _ in range(3):
        with pytest.raises(ThumbnailError):
            await cache.get("alice", 1, config, frame)
    assert cache.decodes == 1
    newer = Packet(Kind.VIDEO, 2000, key(), keyframe=True)
    cache.forget("alice")  # offline and back: tried again
    with pytest.raises(ThumbnailError):
        await cache.get("alice", 2, config, newer)
    assert cache.decodes == 2
