"""WHEP viewers' video: one Trio task per rendition sends every viewer's frames into
its RTP stream with a plain call, a viewer whose outlet is not ready (connecting, or
its socket backed up) is left to its subscriber's skip rules, and an outlet's
stream ends when the outlet closes or the connection is found gone."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import trio
import trio.testing
import trio_asyncio

from protocols import flv
from tests.protocols.hls.helpers import avc_config_record, avcc
from trioflix.live.channel.fanout import Transport
from trioflix.live.channel.packets import Kind
from trioflix.live.channel.stream import LiveStream
from trioflix.live.webrtc.outlet import SOCKET_BACKLOG_BYTES, Outlet
from trioflix.live.webrtc.video_feed import VIDEO_CLOCK_PER_MS, VideoFeed, ViewerVideo

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

SPS = b"\x67\x42\xc0\x1e\xda\x02\x80\xbf\xe5\x84"
PPS = b"\x68\xce\x3c\x80"
FRAME_BYTES = 1000
FRAMES = 120


def _video(frame_type: int, packet_type: int, data: bytes) -> bytes:
    return flv.encode_video_tag(
        flv.VideoTag(
            frame_type=frame_type, codec_id=flv.VideoCodecId.AVC, packet_type=packet_type, data=data
        )
    )


HEADER = _video(1, 0, avc_config_record(SPS, PPS))
IDR = _video(1, 1, avcc([b"\x65" + b"i" * FRAME_BYTES]))
SLICE = _video(2, 1, avcc([b"\x41" + b"p" * FRAME_BYTES]))


def _live() -> LiveStream:
    live = LiveStream(channel="alice", user_id=1, session_id=1, key_id=1, started_at=0.0)
    live.new_publisher()
    live.publish(Kind.VIDEO, 0, HEADER)
    live.publish(Kind.VIDEO, 0, IDR)
    return live


class RecordingStream:
    """A viewer's RTP stream that keeps what it is sent: each frame's payloads and time."""

    def __init__(self) -> None:
        self.frames: list[tuple[list[bytes], int]] = []
        self.calls = 0
        self.backlog = 0
        self.gone = False

    def send(self, frames: list[tuple[list[bytes], int]]) -> None:
        if self.gone:
            raise ConnectionError("Cannot send encrypted RTP, not connected")
        self.frames += frames
        self.calls += 1


@asynccontextmanager
async def _serving(*outlets: Outlet) -> AsyncIterator[list[RecordingStream]]:
    """A recording stream in each outlet, served as aiortc's sender task serves the
    viewer's, on an asyncio loop; the outlets are closed at the end."""
    streams = [RecordingStream() for _ in outlets]
    async with trio_asyncio.open_loop() as loop, trio.open_nursery() as nursery:
        for outlet, stream in zip(outlets, streams, strict=True):
            nursery.start_soon(trio_asyncio.aio_as_trio(outlet.serve, loop=loop), stream)
        await trio.testing.wait_all_tasks_blocked()
        try:
            yield streams
        finally:
            for outlet in outlets:
                outlet.close()


async def test_one_task_sends_every_viewer_and_one_not_ready_is_left_to_its_subscriber() -> None:
    live = _live()
    feed = VideoFeed(live)
    keeping_up = ViewerVideo(live.subscribe(Transport.WEBRTC), trio.Event())
    # Its socket backs up: its queue holds a few frames, so it skips, then is
    # dropped, as any viewer that lags.
    lagging_ended = trio.Event()
    lagging = ViewerVideo(
        live.subscribe(Transport.WEBRTC, max_bytes=10 * FRAME_BYTES), lagging_ended
    )
    async with trio.open_nursery() as nursery:
        nursery.start_soon(feed.run)
        feed.join(keeping_up)
        feed.join(lagging)
        # Not connected yet: nothing is taken from the subscribers.
        assert keeping_up.subscriber.queued_bytes > FRAME_BYTES
        async with _serving(keeping_up.outlet, lagging.outlet) as (sent, backed_up):
            live.publish(Kind.VIDEO, 33, SLICE)
            await trio.testing.wait_all_tasks_blocked()
            # Connected: the primed keyframe and the new frame, in one call, one
            # object for both viewers, packetised once.
            assert [time for _, time in sent.frames] == [0, 33 * VIDEO_CLOCK_PER_MS]
            assert sent.calls == 1
            assert [p for p, _ in sent.frames] == [p for p, _ in backed_up.frames]
            assert sent.frames[0][0] is backed_up.frames[0][0]
            # RTP payloads: the parameter sets and the keyframe in one STAP-A (RFC 6184 5.7.1).
            assert [payload[0] & 0x1F for payload in sent.frames[0][0]] == [24]
            backed_up.backlog = SOCKET_BACKLOG_BYTES + 1
            for timestamp in range(2, FRAMES):
                live.publish(Kind.VIDEO, timestamp * 33, SLICE if timestamp % 5 else IDR)
                await trio.testing.wait_all_tasks_blocked()
            assert len(sent.frames) == FRAMES  # every frame, with no task of its own
            # The backed-up viewer was given nothing more; its subscriber skipped
            # ahead, then gave up on it, and its video ended.
            assert len(backed_up.frames) == 2
            assert lagging.subscriber.closed_reason == "too slow"
            assert lagging_ended.is_set()
            assert (lagging.end_reason, lagging.outlet.closed) == ("too slow", True)
            feed.leave(lagging)
            assert feed.running
            feed.leave(keeping_up)
    assert not feed.running
    assert keeping_up.end_reason is None  # the session ends its viewer's video itself
    assert live.dropped_total > 0


async def test_the_end_of_the_session_ends_every_viewer_after_its_frames() -> None:
    live = _live()
    feed = VideoFeed(live)
    ended = trio.Event()
    viewer = ViewerVideo(live.subscribe(Transport.WEBRTC), ended)
    async with _serving(viewer.outlet) as (stream,), trio.open_nursery() as nursery:
        nursery.start_soon(feed.run)
        await trio.testing.wait_all_tasks_blocked()
        feed.join(viewer)
        for timestamp in range(1, 40):
            live.publish(Kind.VIDEO, timestamp * 33, SLICE)
        live.end("publisher left")
    assert ended.is_set()
    assert viewer.end_reason == "publisher left"
    # Every frame published before the end was sent first.
    assert len(stream.frames) == 40
    late = ViewerVideo(live.subscribe(Transport.WEBRTC), trio.Event())
    feed.join(late)
    assert late.outlet.closed


async def test_an_outlets_stream_ends_when_it_closes_or_the_connection_is_gone() -> None:
    outlet = Outlet()
    assert not outlet.ready
    assert not outlet.send([([b"x"], 0)])  # no stream yet: nothing sent, nothing kept
    async with trio_asyncio.open_loop() as loop:
        stream = RecordingStream()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio_asyncio.aio_as_trio(outlet.serve, loop=loop), stream)
            await trio.testing.wait_all_tasks_blocked()
            assert outlet.ready
            assert outlet.send([([b"a", b"b"], 90)])
            stream.gone = True  # the connection failed: serve returns, as aiortc's loop did
            assert not outlet.send([([b"c"], 180)])
        assert stream.frames == [([b"a", b"b"], 90)]
        assert not outlet.ready
        assert not outlet.closed  # the viewer's session ends it, when aiortc says so
        again = RecordingStream()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio_asyncio.aio_as_trio(outlet.serve, loop=loop), again)
            await trio.testing.wait_all_tasks_blocked()
            outlet.close()  # the viewer's media is over: serve returns
        assert not outlet.ready
        assert not outlet.send([([b"d"], 270)])
        # A closed outlet's stream is never served.
        with trio.fail_after(5):
            await trio_asyncio.aio_as_trio(outlet.serve, loop=loop)(RecordingStream())
        assert again.frames == []
