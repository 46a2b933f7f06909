"""WHEP viewers' video: one Trio task per channel fills every viewer's hand-off to
aiortc, a viewer whose track lags is left to its subscriber's skip rules, and an
asyncio track waits on its hand-off without a call into Trio."""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio
import trio.testing
import trio_asyncio

from protocols import flv
from tests.protocols.hls.helpers import avc_config_record, avcc
from trioflix.live.channel.fanout import Transport
from trioflix.live.channel.packets import Kind
from trioflix.live.channel.stream import LiveStream
from trioflix.live.webrtc.handoff import Handoff
from trioflix.live.webrtc.video_feed import TRACK_UNITS, VideoFeed, ViewerVideo

if TYPE_CHECKING:
    from trioflix.live.webrtc.video import AccessUnit

SPS = b"\x67\x42\xc0\x1e\xda\x02\x80\xbf\xe5\x84"
PPS = b"\x68\xce\x3c\x80"
FRAME_BYTES = 1000


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


def _drain(units: Handoff[AccessUnit]) -> int:
    taken = 0
    while units.size:
        units._items.popleft()  # what the aiortc track's get does, without a loop
        taken += 1
    return taken


async def test_one_task_feeds_every_viewer_and_a_lagging_track_is_left_to_its_subscriber() -> None:
    live = _live()
    feed = VideoFeed(live)
    keeping_up = ViewerVideo(live.subscribe(Transport.WEBRTC), trio.Event())
    # Its queue holds a few frames: it skips, then is dropped, as any viewer that lags.
    lagging_ended = trio.Event()
    lagging = ViewerVideo(
        live.subscribe(Transport.WEBRTC, max_bytes=10 * FRAME_BYTES), lagging_ended
    )
    async with trio.open_nursery() as nursery:
        nursery.start_soon(feed.run)
        feed.join(keeping_up)
        feed.join(lagging)
        # Joining hands over the primed keyframe at once, before any new packet.
        assert keeping_up.units.size == lagging.units.size == 1
        # Converted once for both: the one object, whose RTP payloads the first
        # track to send it makes for the other too.
        assert keeping_up.units._items[0] is lagging.units._items[0]
        sent = 0
        for timestamp in range(1, 4 * TRACK_UNITS):
            live.publish(Kind.VIDEO, timestamp * 33, SLICE if timestamp % 5 else IDR)
            await trio.testing.wait_all_tasks_blocked()
            sent += _drain(keeping_up.units)
        assert sent == 4 * TRACK_UNITS  # every frame, with no task of its own
        # The lagging track was given no more than its bound and one batch; the rest
        # stayed in its subscriber, which skipped ahead and then gave up on it.
        assert TRACK_UNITS <= lagging.units.size <= TRACK_UNITS + 1
        assert lagging.subscriber.closed_reason == "too slow"
        assert not lagging_ended.is_set()  # its track still has frames to send
        _drain(lagging.units)
        live.publish(Kind.VIDEO, 5000, SLICE)
        await trio.testing.wait_all_tasks_blocked()
        assert lagging_ended.is_set()
        assert (lagging.end_reason, lagging.units.closed) == ("too slow", True)
        feed.leave(lagging)
        assert feed.running
        feed.leave(keeping_up)
    assert not feed.running
    assert not keeping_up.units.closed  # the session ends its viewer's video itself
    assert live.dropped_total > 0


async def test_the_end_of_the_session_ends_every_viewer_after_its_frames() -> None:
    live = _live()
    feed = VideoFeed(live)
    ended = trio.Event()
    viewer = ViewerVideo(live.subscribe(Transport.WEBRTC), ended)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(feed.run)
        await trio.testing.wait_all_tasks_blocked()
        feed.join(viewer)
        for timestamp in range(1, TRACK_UNITS + 5):
            live.publish(Kind.VIDEO, timestamp * 33, SLICE)
        live.end("publisher left")
    assert ended.is_set()
    assert viewer.end_reason == "publisher left"
    # Every frame sent before the end was handed over first, past the bound.
    assert viewer.units.size == TRACK_UNITS + 5
    late = ViewerVideo(live.subscribe(Transport.WEBRTC), trio.Event())
    feed.join(late)
    assert late.units.closed


async def test_an_asyncio_track_waits_on_its_handoff_and_old_audio_is_dropped() -> None:
    handoff: Handoff[int] = Handoff(maxlen=3)
    got: list[int | None] = []

    async def track() -> None:  # as aiortc's sender task, on the asyncio loop
        while (item := await handoff.get()) is not None:
            got.append(item)
        got.append(None)

    async with trio_asyncio.open_loop() as loop, trio.open_nursery() as nursery:
        nursery.start_soon(trio_asyncio.aio_as_trio(track, loop=loop))
        await trio.testing.wait_all_tasks_blocked()
        handoff.put(1)  # wakes the waiting asyncio task from Trio
        with trio.fail_after(5):
            while not got:  # noqa: ASYNC110 - the asyncio side appends
                await trio.sleep(0.01)
        for item in range(2, 7):
            handoff.put(item)  # no one takes them meanwhile: the oldest go
        handoff.close()
        handoff.put(99)  # after the end: ignored
    assert got == [1, 4, 5, 6, None]


async def test_a_track_with_a_backlog_takes_turns_with_the_others() -> None:
    """aiortc's sender sends each item it gets without pausing: a get that did not
    yield would let one viewer's backlog hold the loop (and Trio) until it is empty."""
    backlogs: list[Handoff[int]] = [Handoff(), Handoff()]
    order: list[int] = []

    async def track(number: int) -> None:
        while await backlogs[number].get() is not None:
            order.append(number)

    for handoff in backlogs:
        for item in range(TRACK_UNITS):
            handoff.put(item)
        handoff.close()
    async with trio_asyncio.open_loop() as loop, trio.open_nursery() as nursery:
        for number in (0, 1):
            nursery.start_soon(trio_asyncio.aio_as_trio(track, loop=loop), number)
    assert len(order) == 2 * TRACK_UNITS
    assert order[:4] in ([0, 1, 0, 1], [1, 0, 1, 0])  # turn by turn, not one backlog first
