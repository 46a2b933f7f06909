"""Parts of one rendition cut where another's start: the same numbers, the same media time."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise

import pytest

from protocols import hls
from tests.llhls_checker import History, PlaylistError, parse

FRAME_MS = 33
T0 = datetime(2026, 12, 6, 16, 0, 0, tzinfo=UTC)


def lead(
    follower: hls.PartFollower, cutter: hls.PartCutter, frames: list[tuple[int, bool]]
) -> list[tuple[int, int, int]]:
    """Cut ``frames`` with the leader's cutter, numbering parts as a playlist does, and
    announce each start to ``follower``; returns the starts ``(msn, part, at_ms)``."""
    starts = []
    msn, part = 0, 0
    for ts, key in frames:
        was_open = cutter.is_open
        ended = cutter.push(ts, start_point=key)
        if ended is not None:
            msn, part = (msn + 1, 0) if ended.ends_segment else (msn, part + 1)
        elif was_open or not cutter.is_open:
            continue
        starts.append((msn, part, ts))
        follower.lead(hls.PartStart(msn=msn, part=part, at_ms=ts))
    return starts


def test_a_follower_cuts_where_its_leader_started_parts_and_numbers_them_alike() -> None:
    # The leader: a keyframe every second; the follower: the same pictures with a
    # keyframe only where the leader's segments start (a ladder rung), joining late.
    cutter = hls.PartCutter(part_target_ms=300, segment_target_ms=2000)
    follower = hls.PartFollower()
    leader = [(i * FRAME_MS, i % 30 == 0) for i in range(200)]
    starts = lead(follower, cutter, leader)
    segment_starts = {at for msn, part, at in starts if part == 0}
    assert len(segment_starts) == 4  # 0, 2 s, 4 s, 6 s
    opened: list[tuple[int, int]] = []
    durations: dict[tuple[int, int], int] = {}
    for i in range(45, 200):  # joining 1.5 s in, between the first two segment starts
        ts = i * FRAME_MS
        ended = follower.push(ts, start_point=ts in segment_starts)
        if ended is not None:
            assert follower.position is not None
            assert ended.ends_segment == (follower.position[1] == 0)
            durations[opened[-1]] = ended.duration_ms
        if follower.is_open and (not opened or opened[-1] != follower.position):
            assert follower.position is not None
            opened.append(follower.position)
    # It joined at the next segment start (MSN 1, part 0), then took every start after.
    assert opened[0] == (1, 0)
    assert opened == [(msn, part) for msn, part, at in starts if msn >= 1]
    leader_ms = {(m, p): b - a for (m, p, a), (_, _, b) in pairwise(starts)}
    assert all(durations[k] == leader_ms[k] for k in durations)
    last = follower.finish()
    assert last is not None and last.ends_segment and not last.next_independent
    assert last.duration_ms == 199 * FRAME_MS - starts[-1][2] + FRAME_MS
    assert follower.finish() is None and not follower.is_open and follower.position is None


def test_independent_is_the_follower_s_own_keyframes() -> None:
    follower = hls.PartFollower()
    for msn, part, at in [(4, 0, 100), (4, 1, 400), (5, 0, 700)]:
        follower.lead(hls.PartStart(msn=msn, part=part, at_ms=at))
    assert follower.push(50, start_point=True) is None and not follower.is_open  # before any start
    assert follower.push(100, start_point=False) is None and not follower.is_open  # no keyframe
    assert follower.push(400, start_point=True) is None and not follower.is_open  # not part 0
    follower.lead(hls.PartStart(msn=5, part=1, at_ms=1000))
    assert follower.push(700, start_point=True) is None
    assert follower.position == (5, 0)
    assert follower.push(800, start_point=True) is None  # a keyframe inside a part joins it
    ended = follower.push(1000, start_point=False)
    assert ended == hls.PartEnded(
        duration_ms=300, independent=True, ends_segment=False, next_independent=False
    )
    assert follower.finish() == hls.PartEnded(
        duration_ms=200, independent=False, ends_segment=True, next_independent=False
    )


def test_a_missed_part_shows_in_the_position_and_old_starts_are_bounded() -> None:
    follower = hls.PartFollower(max_pending=3)
    for part in range(5):
        follower.lead(hls.PartStart(msn=2, part=part, at_ms=part * 300))
    # Only the newest three are kept: part 0 is gone, so nothing opens at 0 ms.
    assert follower.push(0, start_point=True) is None and not follower.is_open
    follower.lead(hls.PartStart(msn=3, part=0, at_ms=1500))
    follower.lead(hls.PartStart(msn=3, part=1, at_ms=1800))
    follower.lead(hls.PartStart(msn=3, part=2, at_ms=2100))
    follower.push(1500, start_point=True)
    assert follower.position == (3, 0)
    ended = follower.push(2100, start_point=False)  # nothing of its own in part 1
    # The open part lasts until the part missed, which is a gap of the leader's duration.
    assert ended == hls.PartEnded(
        duration_ms=300, independent=True, ends_segment=False, next_independent=False
    )
    assert follower.gaps == (hls.GapPart(msn=3, part=1, duration_ms=300, ends_segment=False),)
    assert follower.position == (3, 2)
    follower.lead(hls.PartStart(msn=3, part=3, at_ms=2400))
    assert follower.push(2200, start_point=False) is None and not follower.gaps


def test_parts_missed_across_segments_are_gaps_that_end_their_segments() -> None:
    follower = hls.PartFollower()
    starts = [(0, 0, 0), (0, 1, 300), (0, 2, 600), (1, 0, 900), (1, 1, 1200), (1, 2, 1500)]
    for msn, part, at in starts:
        follower.lead(hls.PartStart(msn=msn, part=part, at_ms=at))
    follower.push(0, start_point=True)
    assert follower.push(100, start_point=False) is None and not follower.gaps
    # A frame dropped for a second: parts 0.1 to 1.1 have nothing of this rendition.
    ended = follower.push(1500, start_point=True)
    assert ended == hls.PartEnded(
        duration_ms=300, independent=True, ends_segment=False, next_independent=True
    )
    assert follower.gaps == (
        hls.GapPart(msn=0, part=1, duration_ms=300, ends_segment=False),
        hls.GapPart(msn=0, part=2, duration_ms=300, ends_segment=True),
        hls.GapPart(msn=1, part=0, duration_ms=300, ends_segment=False),
        hls.GapPart(msn=1, part=1, duration_ms=300, ends_segment=False),
    )
    assert follower.position == (1, 2)


def follow(
    follower: hls.PartFollower,
    playlist: hls.LLPlaylist,
    frames: list[tuple[int, bool]],
) -> None:
    """Push ``frames`` through ``follower`` and list its parts and gaps in ``playlist``."""
    for ts, key in frames:
        ended = follower.push(ts, start_point=key)
        if ended is None:
            continue
        playlist.add_part(
            ended.duration_ms, independent=ended.independent, map_uri="m.mp4", program_date_time=T0
        )
        if ended.ends_segment:
            playlist.end_segment()
        for gap in follower.gaps:
            assert (gap.msn, gap.part) == playlist.next_part
            playlist.add_part(
                gap.duration_ms, independent=False, map_uri="m.mp4", program_date_time=T0, gap=True
            )
            if gap.ends_segment:
                playlist.end_segment()
        assert follower.position == playlist.next_part


def test_a_follower_that_drops_frames_stays_aligned_with_gap_parts() -> None:
    cutter = hls.PartCutter(part_target_ms=300, segment_target_ms=1000)
    follower = hls.PartFollower()
    leader = [(i * FRAME_MS, i % 30 == 0) for i in range(150)]
    starts = lead(follower, cutter, leader)
    ours = hls.LLPlaylist(prefix="r-", target_duration_s=2, part_target_ms=300, window_size=20)
    # The rung has keyframes where segments start, and loses 0.4 s to 2.1 s of frames.
    keys = {at for _, part, at in starts if part == 0}
    kept = [(ts, ts in keys) for ts, _ in leader if not 400 <= ts < 2100]
    follow(follower, ours, kept)
    text = ours.render()
    parsed = parse(text)
    gaps = [(s.msn, i) for s in parsed.segments for i, p in enumerate(s.parts) if p.gap]
    # Every part within the lost frames is a gap; nothing else is.
    assert gaps == [(m, p) for (m, p, a), (_, _, b) in pairwise(starts) if a >= 400 and b <= 2100]
    assert len(gaps) == 6
    assert [s.gap for s in parsed.segments if s.duration is not None] == [True, True, False, False]
    leader_ms = {(m, p): b - a for (m, p, a), (_, _, b) in pairwise(starts)}
    listed = {
        (s.msn, i): round(p.duration * 1000) for s in parsed.segments for i, p in enumerate(s.parts)
    }
    assert all(leader_ms[k] == v for k, v in listed.items() if k in leader_ms)
    # The rendition report names the newest real part; a gap is never reported.
    report = ours.report("../r/ll.m3u8")
    assert report is not None and (report.last_msn, report.last_part) == parsed.last_part
    assert not parsed.segments[-1].parts[-1].gap


def test_gap_parts_render_with_ext_x_gap_and_are_never_reported() -> None:
    p = hls.LLPlaylist(prefix="g-", target_duration_s=2, part_target_ms=300, window_size=4)
    p.add_part(300, independent=True, map_uri="m.mp4", program_date_time=T0)
    p.add_part(300, independent=True, map_uri="m.mp4", program_date_time=T0, gap=True)
    report = p.report("x")
    assert report is not None and (report.last_msn, report.last_part) == (0, 0)
    text = p.render()
    assert '#EXT-X-PART:DURATION=0.300,URI="g-0.1.m4s",GAP=YES\n' in text
    assert "#EXT-X-GAP" not in text  # only a complete segment carries it
    p.end_segment()
    text = p.render()
    assert "#EXT-X-GAP\n#EXTINF:0.600,\ng-0.m4s\n" in text
    parsed = parse(text)
    assert parsed.segments[0].gap and [x.gap for x in parsed.segments[0].parts] == [False, True]
    assert not any(x.independent for x in parsed.segments[0].parts if x.gap)
    whole_gap = hls.LLPlaylist(prefix="g-", target_duration_s=2, part_target_ms=300, window_size=4)
    whole_gap.add_part(300, independent=False, map_uri="m.mp4", program_date_time=T0, gap=True)
    assert whole_gap.report("x") is None and whole_gap.last_part == (0, 0)


def test_the_checker_knows_the_gap_rules() -> None:
    p = hls.LLPlaylist(prefix="g-", target_duration_s=2, part_target_ms=300, window_size=4)
    p.add_part(300, independent=True, map_uri="m.mp4", program_date_time=T0)
    p.add_part(300, independent=False, map_uri="m.mp4", program_date_time=T0, gap=True)
    p.end_segment()
    p.add_part(300, independent=True, map_uri="m.mp4", program_date_time=T0)
    text = p.render()
    with pytest.raises(PlaylistError, match="EXT-X-GAP and its GAP parts disagree"):
        parse(text.replace("#EXT-X-GAP\n", ""))
    with pytest.raises(PlaylistError, match="EXT-X-GAP and its GAP parts disagree"):
        parse(text.replace(",GAP=YES", ""))
    with pytest.raises(PlaylistError, match="unexpected EXT-X-PART attributes"):
        parse(text.replace(",GAP=YES", ",INDEPENDENT=YES,GAP=YES"))
    with pytest.raises(PlaylistError, match="unexpected EXT-X-PART attributes"):
        parse(text.replace(",GAP=YES", ",GAP=NO"))
    open_part = 'URI="g-1.0.m4s",INDEPENDENT=YES\n'
    with pytest.raises(PlaylistError, match="EXT-X-GAP on the open segment"):
        parse(text.replace(open_part, open_part + "#EXT-X-GAP\n"))
    history = History()
    history.add(text)
    p.end_segment()
    with pytest.raises(PlaylistError, match="changed its duration or gap"):
        history.add(p.render().replace("#EXT-X-GAP\n", "").replace(",GAP=YES", ""))


def test_a_playlist_fills_the_leader_s_parts_as_gaps_to_catch_up() -> None:
    leader = hls.LLPlaylist(prefix="s-", target_duration_s=2, part_target_ms=300, window_size=3)
    follower = hls.LLPlaylist(prefix="r-", target_duration_s=2, part_target_ms=300, window_size=3)
    for msn in range(4):
        for part, ms in enumerate((300, 250, 200)):
            leader.add_part(ms, independent=part == 0, map_uri="m.mp4", program_date_time=T0)
            if msn == 0 and part < 2:
                follower.add_part(ms, independent=part == 0, map_uri="m.mp4", program_date_time=T0)
        leader.end_segment()
    leader.add_part(300, independent=True, map_uri="m.mp4")  # 4.0, open
    # The follower had two parts of segment 0; the leader still lists 1 to 4, not 0.
    assert follower.fill_gaps(leader, (2, 1), map_uri="m.mp4") == 0
    assert leader.part_duration(1, 1) == 250 and leader.part_duration(4, 0) == 300
    assert leader.part_duration(0, 0) is None and leader.part_duration(4, 1) is None
    leader_late = hls.LLPlaylist(
        prefix="s-", target_duration_s=2, part_target_ms=300, window_size=9
    )
    for _ in range(3):
        for part, ms in enumerate((300, 250, 200)):
            leader_late.add_part(ms, independent=part == 0, map_uri="m.mp4", program_date_time=T0)
        leader_late.end_segment()
    leader_late.add_part(300, independent=True, map_uri="m.mp4", program_date_time=T0)
    assert follower.fill_gaps(leader_late, (2, 1), map_uri="m.mp4") == 5
    assert follower.next_part == (2, 1)
    parsed = parse(follower.render())
    assert [
        (s.msn, [(round(x.duration * 1000), x.gap) for x in s.parts]) for s in parsed.segments
    ] == [
        (0, [(300, False), (250, False), (200, True)]),
        (1, [(300, True), (250, True), (200, True)]),
        (2, [(300, True)]),
    ]
    # Up to the leader's newest part: its complete segment ends this one's too.
    assert follower.fill_gaps(leader_late, leader_late.next_part, map_uri="m.mp4") == 3
    assert follower.next_part == (3, 1) and follower.last_part == (3, 0)
    assert follower.fill_gaps(leader_late, (9, 0), map_uri="m.mp4") == 0


def test_a_follower_whose_segment_changes_without_a_part_0_ends_the_segment() -> None:
    follower = hls.PartFollower()
    follower.lead(hls.PartStart(msn=0, part=0, at_ms=0))
    follower.lead(hls.PartStart(msn=1, part=1, at_ms=300))
    follower.push(0, start_point=True)
    ended = follower.push(300, start_point=False)
    assert ended is not None and ended.ends_segment


def test_a_playlist_aligned_with_another_starts_at_its_number() -> None:
    playlist = hls.LLPlaylist(
        prefix="ll-1-", target_duration_s=3, part_target_ms=300, window_size=4
    )
    playlist.start_at(7)
    assert playlist.next_part == (7, 0) and playlist.media_sequence == 7
    assert playlist.add_part(300, independent=True, map_uri="init-1-0.mp4") == (7, 0)
    with pytest.raises(RuntimeError):
        playlist.start_at(9)
    fresh = hls.LLPlaylist(
        prefix="ll-1-", target_duration_s=3, part_target_ms=300, window_size=4, media_sequence=5
    )
    with pytest.raises(RuntimeError):
        fresh.start_at(4)


def test_a_playlist_continuing_another_writers_goes_on_after_a_discontinuity() -> None:
    playlist = hls.LLPlaylist(
        prefix="ll-1-", target_duration_s=3, part_target_ms=300, window_size=1
    )
    playlist.continue_at(12, 3)
    assert playlist.next_part == (12, 0) and playlist.discontinuity_sequence == 3
    assert playlist.add_part(300, independent=True, map_uri="init-1-12-0.mp4") == (12, 0)
    assert playlist.discontinuity_sequence == 4
    text = playlist.render()
    assert "#EXT-X-MEDIA-SEQUENCE:12\n#EXT-X-DISCONTINUITY-SEQUENCE:3\n" in text
    assert "#EXT-X-DISCONTINUITY\n" in text
    playlist.end_segment()
    playlist.add_part(300, independent=True, map_uri="init-1-12-0.mp4")
    playlist.end_segment()  # the first segment leaves the window, its break with it
    assert "#EXT-X-DISCONTINUITY-SEQUENCE:4\n" in playlist.render()
    assert playlist.discontinuity_sequence == 4
    with pytest.raises(RuntimeError):
        playlist.continue_at(20, 5)
    with pytest.raises(ValueError, match="negative"):
        hls.LLPlaylist(
            prefix="ll-1-", target_duration_s=3, part_target_ms=300, window_size=1
        ).continue_at(0, -1)


def test_a_start_is_reached_by_a_picture_rounded_a_millisecond_apart() -> None:
    follower = hls.PartFollower()
    follower.lead(hls.PartStart(msn=0, part=0, at_ms=67))
    follower.lead(hls.PartStart(msn=0, part=1, at_ms=334))  # 267 + 67: the leader's DTS + offset
    follower.push(67, start_point=True)
    assert follower.push(300, start_point=False) is None
    ended = follower.push(333, start_point=False)  # the same picture, at 333.3 ms rounded down
    assert ended is not None and ended.duration_ms == 266 and follower.position == (0, 1)
