"""A multitrack publisher: the default track as plain messages, other tracks as streams."""

from __future__ import annotations

from pathlib import Path

import trio
import trio.testing

from protocols import flv
from trioflix.live.channel.fanout import Subscriber, Transport
from trioflix.live.channel.packets import Kind, Packet
from trioflix.live.channel.stream import LiveStream
from trioflix.live.channel.tracks import MAX_TRACKS, split_tracks

# ffmpeg 9: H.264 160x120 on track 0 (legacy tags), 80x60 on track 1 (Multitrack tags),
# AAC on tracks 0 and 1 (tests/protocols/flv/vectors/README.md).
VECTOR = Path(__file__).parents[2] / "protocols/flv/vectors/ffmpeg9-multitrack-h264-aac.flv"


def vector_tags() -> list[flv.FLVTag]:
    reader = flv.FLVReader()
    reader.receive_data(VECTOR.read_bytes())
    reader.receive_data(b"")
    tags = []
    while not isinstance(event := reader.next_event(), flv.FLVEnd):
        if isinstance(event, flv.FLVTag) and event.tag_type != flv.TagType.SCRIPT_DATA:
            tags.append(event)
    return tags


def make_stream() -> LiveStream:
    stream = LiveStream(channel="alice", user_id=1, session_id=1, key_id=1, started_at=0.0)
    stream.new_publisher()
    return stream


async def drain(subscriber: Subscriber) -> list[Packet]:
    packets = []
    while batch := await subscriber.next_batch():
        packets += batch
    return packets


def video_size(packets: list[Packet]) -> tuple[int, int]:
    (config,) = [p for p in packets if p.kind is Kind.VIDEO and p.config]
    tag = flv.parse_video_tag(config.payload)
    sps = flv.parse_h264_sps(flv.parse_avc_config(tag.data).sps[0])
    return sps.width, sps.height


async def test_the_default_track_is_plain_and_other_tracks_are_their_own_streams() -> None:
    stream = make_stream()
    default = stream.subscribe(Transport.HTTP_FLV, max_bytes=1 << 24)
    session = stream.subscribe_session(max_bytes=1 << 24)
    tags = vector_tags()
    second = None
    for tag in tags:
        stream.publish(Kind(tag.tag_type), tag.timestamp_ms, tag.data)
        if second is None and (track := stream.track(1)) is not None:
            second = track.subscribe(Transport.HTTP_FLV, max_bytes=1 << 24)
    assert stream.track_ids == [0, 1]
    assert stream.track(2) is None
    assert second is not None
    track = stream.track(1)
    assert track is not None and (track.stats.width, track.stats.height) == (80, 60)
    assert (stream.stats.width, stream.stats.height) == (160, 120)
    stream.end("test over")
    assert stream.track(1) is None  # the session is over: its tracks with it
    main, recorded, other = await drain(default), await drain(session), await drain(second)
    assert main == recorded
    for packets in (main, other):
        assert not any(flv.is_multitrack_video(p.payload) for p in packets if p.kind is Kind.VIDEO)
        assert not any(flv.is_multitrack_audio(p.payload) for p in packets if p.kind is Kind.AUDIO)
    assert video_size(main) == (160, 120) and video_size(other) == (80, 60)
    # every legacy tag reached the default track, every multitrack tag track 1
    assert len(main) == sum(1 for t in tags if not flv.is_multitrack_video(t.data)) - sum(
        1 for t in tags if flv.is_multitrack_audio(t.data)
    )
    # the same encoder's rungs: keyframes at the same timestamps (ffmpeg 9 writes both
    # tracks' end-of-sequence tags as legacy track 0 tags: only coded keyframes count)
    main_keys = [p.timestamp for p in main if p.keyframe and p.payload[1] == 1]
    assert main_keys == [0]
    assert main_keys == [p.timestamp for p in other if p.keyframe and p.payload[1] == 1]
    audio = [p for p in other if p.kind is Kind.AUDIO]
    assert audio[0].config and len(audio) > 20  # track 1's own AudioSpecificConfig, frames


async def test_a_track_without_audio_plays_the_default_audio() -> None:
    stream = make_stream()
    stream.publish(Kind.AUDIO, 0, b"\xaf\x00\x12\x10")
    record = flv.MultitrackVideoTag(
        frame_type=1,
        multitrack_type=flv.AvMultitrackType.ONE_TRACK,
        packet_type=flv.VideoPacketType.SEQUENCE_START,
        tracks=(flv.TrackPacket(track_id=2, fourcc="avc1", data=b"\x01REC"),),
    )
    stream.publish(Kind.VIDEO, 0, flv.encode_multitrack_video(record))
    track = stream.track(2)
    assert track is not None
    viewer = track.subscribe(Transport.RTMP)
    stream.publish(Kind.AUDIO, 21, b"\xaf\x01frame")
    stream.publish(Kind.VIDEO, 21, b"\x96\x99")  # malformed Multitrack: counted, not shown
    assert stream.stats.dropped_frames == 1
    stream.new_publisher()  # another encoder: its tracks may differ, viewers of these end
    assert stream.track(2) is None
    packets = await drain(viewer)
    assert [(p.kind, p.payload) for p in packets] == [
        (Kind.VIDEO, b"\x17\x00\x00\x00\x00\x01REC"),
        (Kind.AUDIO, b"\xaf\x00\x12\x10"),
        (Kind.AUDIO, b"\xaf\x01frame"),
    ]


def test_tracks_are_bounded() -> None:
    stream = make_stream()
    for track_id in range(1, 20):
        record = flv.MultitrackVideoTag(
            frame_type=1,
            multitrack_type=flv.AvMultitrackType.ONE_TRACK,
            packet_type=flv.VideoPacketType.SEQUENCE_START,
            tracks=(flv.TrackPacket(track_id=track_id, fourcc="avc1", data=b"\x01"),),
        )
        assert stream.publish(Kind.VIDEO, 0, flv.encode_multitrack_video(record)) is None
    assert stream.track_ids == list(range(MAX_TRACKS))


def test_a_track_viewer_is_one_of_the_channels_viewers() -> None:
    stream = make_stream()
    tags = vector_tags()
    for tag in tags[:12]:  # both tracks' headers and first keyframes
        stream.publish(Kind(tag.tag_type), tag.timestamp_ms, tag.data)
    track = stream.track(1)
    assert track is not None
    viewer = track.subscribe(Transport.RTMP, max_bytes=1 << 24)
    slow = track.subscribe(Transport.WS_FLV, max_bytes=4096)  # skips ahead, never reads
    stream.subscribe(Transport.HTTP_FLV, max_bytes=1 << 24)
    assert stream.viewers == 3
    assert stream.viewers_by_protocol() == {
        "rtmp": 1,
        "http-flv": 1,
        "ws-flv": 1,
        "webrtc": 0,
    }
    assert stream.peak_viewers == 3
    for tag in tags[12:]:
        stream.publish(Kind(tag.tag_type), tag.timestamp_ms, tag.data)
    skipped = slow.dropped
    assert skipped > 0
    assert stream.dropped_total >= skipped
    track.count_sent(1000)
    assert stream.bytes_out == 1000
    track.unsubscribe(viewer)
    track.unsubscribe(slow)
    assert stream.viewers == 1
    assert stream.peak_viewers == 3
    assert stream.dropped >= skipped  # a track viewer's drops stay the channel's when it leaves


async def test_a_waiter_wakes_when_a_track_gets_its_video_and_not_otherwise() -> None:
    stream = make_stream()
    tags = vector_tags()
    first_track_video = next(
        i
        for i, tag in enumerate(tags)
        if flv.is_multitrack_video(tag.data)
        and any(track_id == 1 for track_id, _ in split_tracks(Kind.VIDEO, tag.data) or ())
    )
    woken: list[list[int]] = []

    async def waiter() -> None:
        await stream.wait_for_new_track()
        woken.append(stream.track_ids)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter)
        await trio.testing.wait_all_tasks_blocked()
        for tag in tags[:first_track_video]:  # the default track's media, track 1's audio
            stream.publish(Kind(tag.tag_type), tag.timestamp_ms, tag.data)
        await trio.testing.wait_all_tasks_blocked()
        assert woken == []
        stream.publish(
            Kind.VIDEO, tags[first_track_video].timestamp_ms, tags[first_track_video].data
        )
        await trio.testing.wait_all_tasks_blocked()
        assert woken == [[0, 1]]
        # Later frames of a track already announced wake nobody.
        nursery.start_soon(waiter)
        await trio.testing.wait_all_tasks_blocked()
        for tag in tags[first_track_video + 1 :]:
            stream.publish(Kind(tag.tag_type), tag.timestamp_ms, tag.data)
        await trio.testing.wait_all_tasks_blocked()
        assert woken == [[0, 1]]
        nursery.cancel_scope.cancel()
