"""The ladder's rungs as child streams of the channel, and how a WHEP viewer names one."""

from __future__ import annotations

import pytest

from tests.trioflix.live.test_stream import AVC_CONFIG, delta, key, make_stream
from trioflix.live.channel.fanout import Transport
from trioflix.live.channel.packets import Kind
from trioflix.live.webrtc.sessions import SessionRefused, rendition_stream, renditions


async def test_a_rung_is_offered_from_its_first_keyframe_and_its_viewers_are_the_channels() -> None:
    stream = make_stream()
    stream.publish(Kind.VIDEO, 0, AVC_CONFIG)
    stream.publish(Kind.VIDEO, 0, key())
    rung = stream.add_rendition("360p")
    assert stream.rendition_names == ["360p"]
    # Planned, not producing: a clear "try again" rather than "no such rendition".
    assert stream.rendition("360p") is None
    with pytest.raises(SessionRefused) as starting:
        rendition_stream(stream, "360p")
    assert (starting.value.status, starting.value.code) == (503, "rendition_starting")
    rung.publish_video(0, AVC_CONFIG)
    rung.publish_video(33, delta())  # not a start: a viewer could not decode from here
    assert stream.rendition("360p") is None
    rung.publish_video(66, key())
    assert rendition_stream(stream, "360p") is rung
    assert [name for name, _ in renditions(stream)] == ["source", "360p"]
    assert rendition_stream(stream, None) is stream
    assert rendition_stream(stream, "source") is stream
    with pytest.raises(SessionRefused) as unknown:
        rendition_stream(stream, "1080p")
    assert (unknown.value.status, unknown.value.code) == (404, "no_such_rendition")
    assert "source, 360p" in str(unknown.value)
    with pytest.raises(SessionRefused):
        rendition_stream(stream, "track1")  # no multitrack publisher here

    viewer = rung.subscribe(Transport.WEBRTC)
    assert [p.timestamp for p in await viewer.next_batch()] == [0, 66]  # header, then the GOP
    assert stream.viewers == 1
    assert stream.viewers_by_protocol()["webrtc"] == 1
    assert stream.peak_viewers == 1
    rung.publish_video(99, delta())
    assert [p.timestamp for p in await viewer.next_batch()] == [99]

    # The ladder dropped the rung: its viewers finish, and it is no longer offered.
    stream.end_rendition("360p", "the 360p rung stopped")
    assert viewer.closed_reason == "the 360p rung stopped"
    assert stream.rendition_names == []
    with pytest.raises(SessionRefused) as gone:
        rendition_stream(stream, "360p")
    assert gone.value.code == "no_such_rendition"


def test_a_rungs_viewers_finish_with_the_session() -> None:
    stream = make_stream()
    rung = stream.add_rendition("360p")
    rung.publish_video(0, AVC_CONFIG)
    rung.publish_video(0, key())
    viewer = rung.subscribe(Transport.WEBRTC)
    stream.end("publisher stopped")
    assert viewer.closed_reason == "publisher stopped"
    assert stream.rendition_names == []
