"""LL-HLS renditions whose parts follow the source's (ladder rungs, multitrack tracks):
the same numbers and durations whichever task runs ahead, a late one joins at the
source's numbers, and one that misses parts (frames dropped, a stall, a cut while it
lags) lists them as GAP parts and goes on with the source's numbers and durations.

Media: H.264 + AAC encoded by PyAV, as FLV tags, fed through an MPEG-TS segmenter per
rendition (whose codec records LL-HLS reuses) as the session does.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from protocols import flv, hls
from tests.llhls_checker import History, check_alignment
from tests.protocols.hls.helpers import Stream, make_stream
from trioflix.live.hls.cmaf import CMAFRendition

if TYPE_CHECKING:
    from collections.abc import Iterable

    from tests.llhls_checker import Playlist


T0 = datetime(2026, 12, 6, 16, 0, 0, tzinfo=UTC)


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
        dates=lambda ms: T0 + timedelta(milliseconds=ms),
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


def aligned(leader: CMAFRendition, follower: CMAFRendition) -> Playlist:
    """Both playlists pass the checker, and every part and segment both list lasts as long
    in each; returns the follower's."""
    histories = {"source": History(), "track1": History()}
    histories["source"].add(leader.render().decode())
    parsed = histories["track1"].add(follower.render().decode())
    assert check_alignment(histories, tolerance_s=0.0015) >= 10
    return parsed


def test_a_follower_that_misses_parts_lists_them_as_gaps(stream: Stream) -> None:
    leader = rendition()
    follower = rendition(leader)
    tags = list(stream.interleaved())
    Feeder(leader)(tags)
    # Its encoder skipped 480 ms of pictures in the second segment: two of the leader's
    # parts have nothing of it.
    Feeder(follower)([t for t in tags if not (t[0] == "video" and 2480 <= t[1] < 2960)])
    assert not follower.retired and not follower.playlist.ended
    assert follower.playlist.last_part == leader.playlist.last_part
    parsed = aligned(leader, follower)
    gaps = [(s.msn, i) for s in parsed.segments for i, p in enumerate(s.parts) if p.gap]
    assert len(gaps) == 1 and gaps[0][0] == 1  # the part wholly inside the lost pictures
    segment = next(s for s in parsed.segments if s.msn == 1)
    assert segment.gap and not any(s.gap for s in parsed.segments if s.msn != 1)
    # A gap's URI is not served (players do not load it); the segment joins the rest.
    assert follower._parts.get(gaps[0]) is None and follower.segment(1)
    report = follower.playlist.report("../track1/ll.m3u8")
    assert report is not None and (report.last_msn, report.last_part) not in gaps


def test_a_stalled_follower_goes_on_after_a_discontinuity_with_the_leader_s_numbers(
    stream: Stream,
) -> None:
    leader = rendition()
    follower = rendition(leader)
    tags = list(stream.interleaved())
    Feeder(leader)(tags)
    # 1.1 s without pictures is a break: the follower starts again at the leader's next
    # segment (4 s), the parts between are gaps.
    Feeder(follower)([t for t in tags if not (t[0] == "video" and 2480 <= t[1] < 3600)])
    assert not follower.retired
    assert follower.playlist.last_part == leader.playlist.last_part
    parsed = aligned(leader, follower)
    by_msn = {s.msn: s for s in parsed.segments}
    assert by_msn[1].gap and by_msn[1].parts[-1].gap and not by_msn[1].parts[0].gap
    assert by_msn[2].discontinuity and not by_msn[2].gap


def test_a_cut_fills_what_a_lagging_follower_missed(stream: Stream) -> None:
    leader = rendition()
    follower = rendition(leader)
    tags = list(stream.interleaved())
    half = next(i for i, t in enumerate(tags) if t[1] >= 3500)
    Feeder(leader)(tags[:half])
    # A new publisher while the follower is a second behind (a rung's encoder delay):
    # the leader is cut first, then the follower, whose frames since are gaps.
    Feeder(follower)([t for t in tags[:half] if t[1] < 2500])
    leader.cut()
    follower.cut()
    assert follower.playlist.next_part == leader.playlist.next_part
    late = hls.Segmenter()  # the old publisher's last pictures come late: dropped
    for kind, ts, body in tags[:half]:
        if kind == "video" and ts >= 2500:
            tag = flv.parse_video_tag(body)
            late.push_video(tag, ts)
            follower.push_video(tag, ts, video=late.video_config, audio=None)
    assert follower.playlist.next_part == leader.playlist.next_part
    assert not follower.retired
    parsed = aligned(leader, follower)
    assert parsed.segments[-1].gap and parsed.segments[-1].parts[-1].gap
