"""LiveStream: start-up cache for new viewers, stats, session consumers across reconnects."""

from __future__ import annotations

import trio
import trio.testing

from trioflix.live.channel.fanout import Transport
from trioflix.live.channel.packets import Kind, Packet
from trioflix.live.channel.stream import RATE_STEP_S, RATE_WINDOW_S, IngestStats, LiveStream

# SPS and PPS from libx264 (640x360, High profile, level 3.0) in an AVCDecoderConfigurationRecord.
SPS = bytes.fromhex("6764001eacd940a02ff9610000030001000003003c0f162d96")
PPS = bytes.fromhex("68ebe3cb22c0")
AVC_CONFIG = (
    bytes.fromhex("1700000000")
    + bytes((1, 0x64, 0x00, 0x1E, 0xFF, 0xE1))
    + len(SPS).to_bytes(2, "big")
    + SPS
    + b"\x01"
    + len(PPS).to_bytes(2, "big")
    + PPS
)
AAC_CONFIG = bytes.fromhex("af001210")


def make_stream(gop_cache_bytes: int = 1_000_000) -> LiveStream:
    stream = LiveStream(
        channel="alice",
        user_id=1,
        session_id=1,
        key_id=1,
        started_at=0.0,
        gop_cache_bytes=gop_cache_bytes,
    )
    stream.new_publisher()
    return stream


def key(size: int = 100) -> bytes:
    return b"\x17\x01\x00\x00\x00" + b"k" * size


def delta(size: int = 100) -> bytes:
    return b"\x27\x01\x00\x00\x00" + b"d" * size


MIB = 1024 * 1024


def shipped_stream() -> LiveStream:
    """A stream with every bound left at its default, as the registry makes them."""
    stream = LiveStream(channel="alice", user_id=1, session_id=1, key_id=1, started_at=0.0)
    stream.new_publisher()
    return stream


def test_the_gop_cache_holds_8_mib_and_no_more() -> None:
    """docs/architecture.md: new viewers get the current GOP, capped at 8 MiB (FLV tags)."""
    stream = shipped_stream()
    first = stream.publish(Kind.VIDEO, 0, key(4 * MIB))
    assert first is not None
    overhead = first.size - len(first.payload)
    # A delta that brings the GOP's tags to exactly 8 MiB: still cached.
    stream.publish(Kind.VIDEO, 33, delta(8 * MIB - first.size - overhead - 5))
    assert stream.latest_keyframe() is first
    viewer = stream.subscribe(Transport.RTMP, max_bytes=16 * MIB)
    assert viewer.queued_bytes == 8 * MIB
    # One byte more in the next GOP: the cache is dropped until the keyframe after it.
    second = stream.publish(Kind.VIDEO, 66, key(4 * MIB))
    assert second is not None
    stream.publish(Kind.VIDEO, 99, delta(8 * MIB - second.size - overhead - 5 + 1))
    assert stream.latest_keyframe() is None
    assert stream.subscribe(Transport.RTMP, max_bytes=16 * MIB).queued_bytes == 0


def test_a_viewer_that_stops_reading_is_dropped_after_three_skips() -> None:
    """docs/architecture.md: a 6 MiB queue per viewer; one that falls behind skips to
    the next keyframe, and one that stops reading is disconnected after three skips."""
    stream = shipped_stream()
    viewer = stream.subscribe(Transport.WS_FLV)
    for skip in range(1, 5):
        # A 7 MiB GOP: the viewer, reading nothing, overflows 6 MiB once per GOP.
        dropped = viewer.dropped
        stream.publish(Kind.VIDEO, skip * 1000, key(MIB))
        for n in range(1, 7):
            stream.publish(Kind.VIDEO, skip * 1000 + n * 33, delta(MIB))
        if skip <= 3:
            assert viewer.closed_reason is None, skip
            assert viewer.dropped > dropped  # it did skip
        else:
            assert viewer.closed_reason == "too slow"


def test_new_viewer_starts_with_headers_and_current_gop() -> None:
    stream = make_stream()
    stream.set_metadata({"width": 1920.0, "height": 1080.0, "framerate": 30.0})
    stream.publish(Kind.VIDEO, 0, AVC_CONFIG)
    stream.publish(Kind.AUDIO, 0, AAC_CONFIG)
    stream.publish(Kind.VIDEO, 0, key())
    stream.publish(Kind.VIDEO, 33, delta())
    stream.publish(Kind.VIDEO, 66, key())  # a new GOP replaces the old one
    stream.publish(Kind.AUDIO, 70, b"\xaf\x01audio")
    stream.publish(Kind.VIDEO, 99, delta())

    viewer = stream.subscribe(Transport.HTTP_FLV)
    queued = list(viewer._queue)
    assert queued[0].kind is Kind.SCRIPT
    assert queued[1].config and queued[1].kind is Kind.VIDEO
    assert queued[2].config and queued[2].kind is Kind.AUDIO
    assert [p.timestamp for p in queued[3:]] == [66, 70, 99]
    assert queued[3].keyframe
    assert stream.stats.video_codec == "avc1.64001E"
    assert (stream.stats.width, stream.stats.height) == (640, 360)  # the SPS wins over metadata
    assert stream.stats.audio_codec == "mp4a.40.2"
    assert stream.peak_viewers == 1


def test_oversized_gop_is_not_cached() -> None:
    stream = make_stream(gop_cache_bytes=1000)
    stream.publish(Kind.VIDEO, 0, key(500))
    stream.publish(Kind.VIDEO, 33, delta(600))  # over the cap: cache dropped
    viewer = stream.subscribe(Transport.RTMP)
    assert list(viewer._queue) == []
    stream.publish(Kind.VIDEO, 66, delta())
    assert next(iter(viewer._queue)).timestamp == 66  # live packets still flow


def test_viewers_go_on_publisher_drop_session_consumers_stay() -> None:
    stream = make_stream()
    viewer = stream.subscribe(Transport.HTTP_FLV)
    consumer = stream.subscribe_session()
    stream.publish(Kind.VIDEO, 0, key())
    stream.disconnect_viewers("publisher stopped")
    assert viewer.closed_reason == "publisher stopped"
    assert consumer.closed_reason is None
    assert stream.viewers == 0

    stream.new_publisher()  # the same key reconnected within the grace window
    stream.publish(Kind.VIDEO, 0, key())
    generations = [p.generation for p in consumer._queue]
    assert generations == [1, 2]
    timestamps = [p.timestamp for p in consumer._queue]
    assert timestamps[1] > timestamps[0]  # stitched onto the same timeline

    stream.end("publisher gone")
    assert consumer.closed_reason == "publisher gone"


async def test_a_publisher_drop_wakes_a_waiting_session_consumer_with_nothing_queued() -> None:
    """The HLS writer learns of a drop from this, not from a timer per batch."""
    stream = make_stream()
    consumer = stream.subscribe_session()
    stream.publish(Kind.VIDEO, 0, key())
    woken: list[list[Packet] | None] = []

    async def consume() -> None:
        woken.append(await consumer.next_batch_or_nudge())
        woken.append(await consumer.next_batch_or_nudge())

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(consume)
            await trio.testing.wait_all_tasks_blocked()
            assert len(woken) == 1  # the keyframe; then it waits
            stream.disconnect_viewers("publisher stopped")
    assert woken[1] is None
    assert consumer.closed_reason is None  # still there for a reconnect


async def test_a_viewer_of_an_ended_session_sees_the_end_at_once() -> None:
    """A viewer looked the stream up just before it ended (an edge relay that closed)."""
    stream = make_stream()
    stream.publish(Kind.VIDEO, 0, key())
    stream.end("no viewers")
    viewer = stream.subscribe(Transport.HTTP_FLV)
    assert viewer.closed_reason == "no viewers"
    with trio.fail_after(1):
        assert await viewer.next_batch() == []
    assert stream.viewers == 0


def test_viewer_counts_by_protocol() -> None:
    stream = make_stream()
    a = stream.subscribe(Transport.HTTP_FLV)
    stream.subscribe(Transport.HTTP_FLV)
    stream.subscribe(Transport.RTMP)
    stream.subscribe_session()  # not a viewer
    assert stream.viewers_by_protocol() == {"rtmp": 1, "http-flv": 2, "ws-flv": 0, "webrtc": 0}
    stream.unsubscribe(a)
    assert stream.viewers == 2
    assert stream.peak_viewers == 3


def test_latest_keyframe_opens_the_current_gop() -> None:
    stream = make_stream(gop_cache_bytes=1000)
    assert stream.latest_keyframe() is None
    stream.publish(Kind.VIDEO, 0, AVC_CONFIG)
    stream.publish(Kind.VIDEO, 0, delta())  # before any keyframe: nothing to show
    assert stream.latest_keyframe() is None
    first = stream.publish(Kind.VIDEO, 33, key())
    stream.publish(Kind.AUDIO, 40, b"\xaf\x01audio")
    stream.publish(Kind.VIDEO, 66, delta())
    assert stream.latest_keyframe() is first
    second = stream.publish(Kind.VIDEO, 99, key())
    assert stream.latest_keyframe() is second
    stream.publish(Kind.VIDEO, 133, delta(900))  # the GOP outgrew the cache
    assert stream.latest_keyframe() is None
    stream.new_publisher()  # a new encoder: the old picture is not its picture
    assert stream.latest_keyframe() is None


def test_dropped_frames_count_what_no_output_can_use() -> None:
    stream = make_stream()
    stream.publish(Kind.VIDEO, 0, AVC_CONFIG)
    stream.publish(Kind.VIDEO, 0, delta())  # no keyframe yet: undecodable
    stream.publish(Kind.VIDEO, 33, delta())
    stream.publish(Kind.VIDEO, 66, key())
    stream.publish(Kind.VIDEO, 99, delta())
    stream.publish(Kind.VIDEO, 133, b"\x27\x01")  # malformed: too short for its header
    stream.publish(Kind.AUDIO, 140, b"\xaf\x01audio")  # audio is not counted
    assert stream.stats.dropped_frames == 3
    assert stream.stats.video_frames == 5

    stream.new_publisher()  # the next encoder must send its own keyframe first
    stream.publish(Kind.VIDEO, 0, delta())
    stream.publish(Kind.VIDEO, 33, key())
    stream.publish(Kind.VIDEO, 66, delta())
    assert stream.stats.dropped_frames == 4


def test_viewer_skips_are_counted_apart_from_ingest_drops() -> None:
    stream = make_stream()
    viewer = stream.subscribe(Transport.HTTP_FLV, max_bytes=400)
    stream.publish(Kind.VIDEO, 0, key(150))
    for n in range(1, 5):
        stream.publish(Kind.VIDEO, n * 33, delta(150))  # the viewer never reads: it skips
    assert stream.dropped_total > 0
    assert stream.stats.dropped_frames == 0
    skipped = stream.dropped_total
    stream.unsubscribe(viewer)
    assert stream.dropped_total == skipped  # a viewer that left still counts


async def test_flush_writes_idle_direct_viewers_once_and_wakes_only_the_others() -> None:
    stream = make_stream()
    stream.publish(Kind.VIDEO, 0, AVC_CONFIG)
    stream.publish(Kind.VIDEO, 0, key())
    direct = stream.subscribe(Transport.HTTP_FLV)
    writes: list[bytes] = []

    def write(data: bytes) -> int:
        writes.append(data)
        return len(data)

    direct.attach_writer(write)
    player = stream.subscribe(Transport.RTMP)  # no writer: woken as before
    consumer = stream.subscribe_session()
    sent: list[bytes] = []
    batches: list[int] = []

    async def direct_task() -> None:
        while data := await direct.next_bytes():
            sent.append(data)

    async def player_task() -> None:
        while batch := await player.next_batch():
            batches.append(len(batch))

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(direct_task)
            nursery.start_soon(player_task)
            await trio.testing.wait_all_tasks_blocked()
            primed = b"".join(p.flv_tag for p in (stream.video_config, *stream._gop) if p)
            assert sent == [primed]  # the primed queue goes out through the task first
            assert batches == [2]
            assert writes == []
            bytes_out = stream.bytes_out
            packets = [
                stream.publish(Kind.VIDEO, 33, delta()),
                stream.publish(Kind.AUDIO, 40, b"\xaf\x01audio"),
            ]
            assert not direct._wakeup.is_set() and player._wakeup.is_set()
            stream.flush()
            assert writes == [b"".join(p.flv_tag for p in packets if p is not None)]
            assert stream.bytes_out == bytes_out + len(writes[0])  # counted as sent
            await trio.testing.wait_all_tasks_blocked()
            assert sent == [primed] and batches == [2, 2]
            assert [p.timestamp for p in consumer._queue][-2:] == [33, 40]
            stream.end("done")


async def test_a_session_consumer_with_a_writer_is_written_at_flush_and_rides_out_a_drop() -> None:
    """An edge's pull: written to by the publisher's task like an idle HTTP-FLV viewer,
    kept (not closed) when the publisher drops, closed when the session ends."""
    stream = make_stream()
    stream.publish(Kind.VIDEO, 0, AVC_CONFIG)
    stream.publish(Kind.VIDEO, 0, key())
    pull = stream.subscribe_session()
    writes: list[bytes] = []

    def write(data: bytes) -> int:
        writes.append(data)
        return len(data)

    pull.attach_writer(write)
    sent: list[bytes] = []

    async def pull_task() -> None:
        while data := await pull.next_bytes():
            sent.append(data)

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(pull_task)
            await trio.testing.wait_all_tasks_blocked()
            assert len(sent) == 1  # the primed headers and GOP, through the task
            first = stream.publish(Kind.VIDEO, 33, delta())
            assert first is not None and not pull._wakeup.is_set()
            stream.flush()
            assert writes == [first.flv_tag]
            assert stream.viewers == 0  # the edge counts its viewers, not the origin

            stream.disconnect_viewers("publisher stopped")
            await trio.testing.wait_all_tasks_blocked()
            assert pull.closed_reason is None
            stream.new_publisher()  # the encoder is back within the grace window
            again = stream.publish(Kind.VIDEO, 0, key())
            stream.flush()
            assert again is not None and writes[-1] == again.flv_tag
            assert len(sent) == 1  # its task slept throughout

            stream.end("publisher gone")
    assert pull.closed_reason == "publisher gone"
    assert not stream._session_subscribers


def test_ingest_rates_come_from_a_few_entries_per_second_not_one_per_message() -> None:
    # 20 s of a 3 Mbit/s publisher: 30 video frames of 12,000 bytes and 47 audio
    # frames of 400 bytes a second, as the clock of the read loop sees them.
    stats = IngestStats()
    messages = sorted(
        [(1000.0 + i / 30, 12_000, True) for i in range(20 * 30)]
        + [(1000.0 + i / 47, 400, False) for i in range(20 * 47)]
    )
    for now, size, video in messages:
        stats.record(now, size, video)
    now = messages[-1][0]
    assert len(stats._recent) <= RATE_WINDOW_S / RATE_STEP_S + 1
    expected_bps = (30 * 12_000 + 47 * 400) * 8
    assert abs(stats.bitrate_bps(now) - expected_bps) < 0.03 * expected_bps
    assert abs(stats.fps(now) - 30) < 1
    assert stats.bytes_in == sum(size for _, size, _ in messages)
