"""RTMP players ask for a multitrack publisher's other tracks with ``channel?track=N``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from protocols import flv, rtmp
from tests.trioflix.live.rtmp_client import RTMPTestClient
from tests.trioflix.live.test_rtmp_robustness import AVC_HEADER, publishing_client, rtmp_address

if TYPE_CHECKING:
    from tests.conftest import Server

pytestmark = pytest.mark.slow


def track_packet(track_id: int, packet_type: int, data: bytes) -> bytes:
    """A keyframe Multitrack body carrying one avc1 track."""
    return flv.encode_multitrack_video(
        flv.MultitrackVideoTag(
            frame_type=flv.FrameType.KEY,
            multitrack_type=flv.AvMultitrackType.ONE_TRACK,
            packet_type=packet_type,
            tracks=(flv.TrackPacket(track_id=track_id, fourcc="avc1", data=data),),
        )
    )


async def play(server: Server, name: str) -> tuple[RTMPTestClient, rtmp.Event]:
    client = await RTMPTestClient.connect(*rtmp_address(server))
    await client.handshake_and_connect()
    stream_id = await client.create_stream()
    client.conn.send(rtmp.Play(stream_id=stream_id, stream_name=name))
    answer = await client.wait_for(lambda e: isinstance(e, rtmp.PlayAccepted | rtmp.PlayRejected))
    return client, answer


async def test_a_player_gets_the_track_it_names(server: Server) -> None:
    publisher, stream_id = await publishing_client(server, "alice")
    record = AVC_HEADER[5:]  # track 1's AVCDecoderConfigurationRecord
    await publisher.send_video(stream_id, 0, track_packet(1, 0, record))
    await publisher.send_video(stream_id, 0, track_packet(1, 3, b"\x00\x00\x00\x02\x65T"))

    player, answer = await play(server, "alice?track=1")
    assert isinstance(answer, rtmp.PlayAccepted)
    first = await player.wait_for(lambda e: isinstance(e, rtmp.VideoData))
    frame = await player.wait_for(lambda e: isinstance(e, rtmp.VideoData))
    # plain legacy AVC: the sequence header, then the GOP cache's keyframe
    assert isinstance(first, rtmp.VideoData) and first.payload == b"\x17\x00\x00\x00\x00" + record
    assert isinstance(frame, rtmp.VideoData)
    assert frame.payload == b"\x17\x01\x00\x00\x00\x00\x00\x00\x02\x65T"

    for name in ("alice?track=2", "alice?track=x"):
        other, answer = await play(server, name)
        assert isinstance(answer, rtmp.PlayRejected), name
        await other.aclose()
    await player.aclose()
    await publisher.aclose()
