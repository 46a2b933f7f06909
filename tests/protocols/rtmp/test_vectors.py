"""Captured sessions (vectors/README.md) and whole-session properties."""

from __future__ import annotations

import itertools
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from protocols import rtmp

from .helpers import ConnectionPair, feed_to_the_end, seeded_random

VECTORS = Path(__file__).parent / "vectors"
FFMPEG_PUBLISH = (VECTORS / "ffmpeg-publish-h264-aac.bin").read_bytes()


def serve(pieces: list[bytes]) -> list[rtmp.Event]:
    """Run a server that accepts everything over ``pieces``, then EOF."""
    server = rtmp.Connection(rtmp.SERVER, random_bytes=seeded_random(2))
    events: list[rtmp.Event] = []
    for piece in [*pieces, b""]:
        server.receive_data(piece)
        while (event := server.next_event()) is not rtmp.NEED_DATA:
            events.append(event)
            if isinstance(event, rtmp.ConnectionClosed):
                break
            if isinstance(event, rtmp.Connect):
                server.accept_connect()
            elif isinstance(event, rtmp.Publish):
                server.accept_publish(event.stream_id)
        server.data_to_send()
    return events


def test_ffmpeg_publish_decodes() -> None:
    events = serve([FFMPEG_PUBLISH])
    kinds = [type(e).__name__ for e in events]
    assert kinds[:5] == ["HandshakeComplete", "Connect", "StreamCreated", "Publish", "Metadata"]
    assert kinds[-2:] == ["DeleteStream", "ConnectionClosed"]
    assert kinds.count("VideoData") == 27
    assert kinds.count("AudioData") == 46
    assert events[0] == rtmp.HandshakeComplete(digest=True)
    connect = events[1]
    assert isinstance(connect, rtmp.Connect)
    assert connect.app == "live"
    assert connect.tc_url == "rtmp://127.0.0.1:19350/live"
    assert connect.properties["flashVer"] == "FMLE/3.0 (compatible; Lavf59.27.100)"
    assert events[3] == rtmp.Publish(stream_id=1, stream_key="testkey", publish_type="live")
    metadata = events[4]
    assert isinstance(metadata, rtmp.Metadata)
    assert metadata.metadata["width"] == 160.0
    assert metadata.metadata["videocodecid"] == 7.0  # AVC
    media = [e for e in events if isinstance(e, rtmp.AudioData | rtmp.VideoData)]
    first_video = next(e for e in media if isinstance(e, rtmp.VideoData))
    assert first_video.payload[:2] == b"\x17\x00"  # keyframe, AVC sequence header
    first_audio = next(e for e in media if isinstance(e, rtmp.AudioData))
    assert first_audio.payload[:2] == b"\xaf\x00"  # AAC sequence header
    video_ts = [e.timestamp for e in media if isinstance(e, rtmp.VideoData)]
    assert video_ts == sorted(video_ts)
    assert video_ts[:4] == [0, 23, 63, 103]  # as ffmpeg wrote them: 40 ms apart after the first
    assert video_ts[-1] == 983
    assert events[-2] == rtmp.DeleteStream(stream_id=1)


WHOLE = serve([FFMPEG_PUBLISH])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, len(FFMPEG_PUBLISH)), max_size=40))
def test_any_chunking_of_the_ffmpeg_session_yields_the_same_events(cuts: list[int]) -> None:
    points = [0, *sorted(cuts), len(FFMPEG_PUBLISH)]
    pieces = [FFMPEG_PUBLISH[a:b] for a, b in itertools.pairwise(points) if b > a]
    assert serve(pieces) == WHOLE


def test_byte_at_a_time() -> None:
    assert serve([FFMPEG_PUBLISH[i : i + 1] for i in range(len(FFMPEG_PUBLISH))]) == WHOLE


def _drive(conn: rtmp.Connection, data: bytes) -> None:
    """Feed ``data`` (the input goes on), accepting connect and publish."""
    conn.receive_data(data)
    while (event := conn.next_event()) is not rtmp.NEED_DATA:
        if isinstance(event, rtmp.Connect):
            conn.accept_connect()
        elif isinstance(event, rtmp.Publish):
            conn.accept_publish(event.stream_id)


# Everything up to the publish: a server in a rich state for fuzzing the chunk layer.
PREFIX_LEN = FFMPEG_PUBLISH.index(b"@setDataFrame") - 40


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600), st.booleans())
def test_random_bytes_give_events_or_remote_protocol_error(
    data: bytes, after_publish: bool
) -> None:
    conn = rtmp.Connection(rtmp.SERVER, random_bytes=seeded_random(2))
    if after_publish:
        _drive(conn, FFMPEG_PUBLISH[:PREFIX_LEN])
        assert conn.state is rtmp.State.CONNECTED
    else:
        data = b"\x03" + bytes(3072) + data
    feed_to_the_end(conn, data)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(FFMPEG_PUBLISH) - 1), st.integers(0, 255))
def test_corrupted_ffmpeg_session(position: int, value: int) -> None:
    data = bytearray(FFMPEG_PUBLISH)
    data[position] = value
    conn = rtmp.Connection(rtmp.SERVER, random_bytes=seeded_random(2))
    feed_to_the_end(conn, bytes(data))


media_event = st.tuples(
    st.sampled_from(["audio", "video"]),
    st.integers(0, 0xFFFFFFFF),
    st.binary(max_size=9000),
)


@settings(max_examples=50, deadline=None)
@given(st.lists(media_event, max_size=12), st.integers(1, 5000))
def test_any_media_sequence_roundtrips(
    items: list[tuple[str, int, bytes]], chunk_size: int
) -> None:
    pair = ConnectionPair()
    pair.client = rtmp.Connection(rtmp.CLIENT, random_bytes=seeded_random(1), chunk_size=chunk_size)
    stream_id = pair.start_publishing()
    sent: list[rtmp.Event] = []
    for kind, timestamp, payload in items:
        event_type = rtmp.AudioData if kind == "audio" else rtmp.VideoData
        sent.append(event_type(stream_id=stream_id, timestamp=timestamp, payload=payload))
        pair.client.send(sent[-1])
    assert pair.transfer() == (sent, [])
