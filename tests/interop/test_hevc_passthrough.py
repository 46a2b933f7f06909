"""HEVC from an enhanced-RTMP encoder (FFmpeg 8 via PyAV) reaches HTTP-FLV viewers intact."""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import av
import h11
import pytest
import trio

from protocols import flv
from tests.trioflix.live_hls.helpers import wait_live

if TYPE_CHECKING:
    from tests.conftest import Server

pytestmark = [
    pytest.mark.slow,
    pytest.mark.interop,
    pytest.mark.backends(
        "sqlite", reason="what it checks is the HEVC media reaching viewers unchanged"
    ),
]

PUBLISHER = Path(__file__).with_name("publish_hevc.py")


async def read_flv(server: Server, channel: str) -> bytes:
    """Everything an HTTP-FLV viewer receives until the channel goes offline."""
    host, port = server.url.removeprefix("http://").split(":")
    conn = h11.Connection(h11.CLIENT)
    body = bytearray()
    async with await trio.open_tcp_stream(host, int(port)) as stream:
        request = h11.Request(method="GET", target=f"/live/{channel}.flv", headers=[("Host", host)])
        await stream.send_all(conn.send(request) + conn.send(h11.EndOfMessage()))
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await stream.receive_some(65536))
            elif isinstance(event, h11.Response):
                assert event.status_code == 200
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                return bytes(body)


async def test_hevc_enhanced_rtmp_passes_through(
    server: Server, tmp_path: Path, nursery: trio.Nursery
) -> None:
    token, _ = await server.register("alice")
    key = await server.create_key(token)
    cmd = [sys.executable, str(PUBLISHER), f"{server.rtmp_url}/{key}", "4"]
    publisher: trio.Process = await nursery.start(partial(trio.run_process, cmd, check=False))
    await wait_live(server, "alice")
    with trio.fail_after(30):
        data = await read_flv(server, "alice")
        await publisher.wait()
    assert publisher.returncode == 0

    reader = flv.FLVReader()
    reader.receive_data(data)
    reader.receive_data(b"")
    video = []
    while (event := reader.next_event()) is not flv.NEED_DATA and not isinstance(event, flv.FLVEnd):
        if isinstance(event, flv.FLVTag) and event.tag_type == 9:
            video.append(flv.parse_video_tag(event.data))
    assert isinstance(video[0], flv.ExVideoTag)
    assert video[0].fourcc == "hvc1" and video[0].is_sequence_header
    coded = [tag for tag in video if tag.is_coded_frame]
    assert coded[0].is_keyframe
    assert all(tag.fourcc == "hvc1" for tag in coded)

    # The bytes are a valid HEVC stream: FFmpeg 8 (inside PyAV) decodes every frame.
    received = tmp_path / "hevc.flv"
    received.write_bytes(data)
    with av.open(str(received)) as container:
        assert container.streams.video[0].codec_context.name == "hevc"
        frames = sum(1 for _ in container.decode(video=0))
    assert frames == len(coded)
