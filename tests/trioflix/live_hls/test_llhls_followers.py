"""LL-HLS renditions whose parts follow the source's (ladder rungs, multitrack tracks):
the same numbers and durations whichever task runs ahead, a late one joins at the
source's numbers, and one that misses a part is retired rather than misnumbered.

Media: H.264 + AAC encoded by PyAV, as FLV tags, fed through an MPEG-TS segmenter per
rendition (whose codec records LL-HLS reuses) as the session does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from protocols import flv, hls
from tests.protocols.hls.helpers import Stream, make_stream
from trioflix.live.hls.cmaf import CMAFRendition

if TYPE_CHECKING:
    from collections.abc import Iterable


@pytest.fixture(scope="module")
def stream() -> Stream:
    return make_stream(seconds=7.0, keyint=30)


def rendition(leader: CMAFRendition | None = None) -> CMAFRendition:
    return CMAFRendition(
        "source" if leader is None else "track1",
        session_id=7,
        part_target_ms=300,
        segment_target_ms=2000,
        max_segment_ms=3000,
        target_duration_s=3,
        dates=lambda _ms: None,
        leader=leader,
    )


class Feeder:
    """Feeds FLV tags to a rendition through a segmenter of its own, as the session does."""

    def __init__(self, ll: CMAFRendition) -> None:
        self.ll = ll
        self.segmenter = hls.Segmenter()

    def __call__(self, tags: Iterable[tuple[str, int, bytes]]) -> None:
        segmenter, ll = self.segmenter, self.ll
        for kind, ts, body in tags:
            if kind == "video":
                tag = flv.parse_video_tag(body)
                segmenter.push_video(tag, ts)
                video, audio = segmenter.video_config, segmenter.audio_config
                ll.push_video(tag, ts, video=video, audio=audio)
            else:
                audio_tag = flv.parse_audio_tag(body)
                segmenter.push_audio(audio_tag, ts)
                ll.push_audio(audio_tag, ts)


def part_lines(ll: CMAFRendition) -> list[str]:
    """The EXT-X-PART lines, less the URI prefix both renditions share."""
    return [line for line in ll.render().decode().splitlines() if line.startswith("#EXT-X-PART:")]


def test_a_follower_running_ahead_of_its_leader_gets_its_parts(stream: Stream) -> None:
    leader = rendition()
    follower = rendition(leader)
    tags = list(stream.interleaved())
    # A multitrack track's task may run ahead of the source's: its tags wait.
    Feeder(follower)(tags)
    assert follower.playlist.last_part is None
    Feeder(leader)(tags)
    leader.end()
    follower.end()
    assert leader.playlist.last_part == follower.playlist.last_part
    assert len(part_lines(leader)) >= 15
    assert part_lines(follower) == part_lines(leader)
    assert follower.segment(1) == leader.segment(1)  # the same tags: the same bytes


def test_a_late_follower_joins_at_the_leader_s_numbers(stream: Stream) -> None:
    leader = rendition()
    lead = Feeder(leader)
    tags = list(stream.interleaved())
    early = next(i for i, t in enumerate(tags) if t[1] >= 2500)
    lead(tags[:early])
    # The track appears 2.5 s in, with pictures from 1 s on: after the leader's second
    # segment started (2 s), which it joins with its number.
    follower = rendition(leader)
    Feeder(follower)(tags[:2] + [t for t in tags if t[1] >= 1000])  # codec records first
    lead(tags[early:])
    leader.end()
    follower.end()
    assert (follower.playlist.media_sequence, leader.playlist.media_sequence) == (1, 0)
    assert follower.segment(0) is None and follower.segment(1) is not None
    assert part_lines(follower) == part_lines(leader)[-len(part_lines(follower)) :]
    assert follower.playlist.last_part == leader.playlist.last_part


def test_a_follower_that_misses_a_part_is_retired(stream: Stream) -> None:
    leader = rendition()
    follower = rendition(leader)
    tags = list(stream.interleaved())
    Feeder(leader)(tags)
    # Its encoder skipped 480 ms of pictures in the second segment, two parts of the
    # leader's (a longer gap is a break: the follower would start again at the next
    # segment, after a discontinuity).
    Feeder(follower)([t for t in tags if not (t[0] == "video" and 2480 <= t[1] < 2960)])
    assert follower.retired and follower.playlist.ended
    assert not leader.retired and not leader.playlist.ended
    assert follower.playlist.last_part is not None
    assert follower.playlist.last_part < (2, 0)
    follower.resume()  # the publisher comes back: a retired rendition stays ended
    assert follower.playlist.ended
