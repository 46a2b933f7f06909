"""Parts of one rendition cut where another's start: the same numbers, the same media time."""

from __future__ import annotations

from itertools import pairwise

import pytest

from protocols import hls

FRAME_MS = 33


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
    assert ended is not None and not ended.ends_segment
    assert follower.position == (3, 2)


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


def test_a_start_is_reached_by_a_picture_rounded_a_millisecond_apart() -> None:
    follower = hls.PartFollower()
    follower.lead(hls.PartStart(msn=0, part=0, at_ms=67))
    follower.lead(hls.PartStart(msn=0, part=1, at_ms=334))  # 267 + 67: the leader's DTS + offset
    follower.push(67, start_point=True)
    assert follower.push(300, start_point=False) is None
    ended = follower.push(333, start_point=False)  # the same picture, at 333.3 ms rounded down
    assert ended is not None and ended.duration_ms == 266 and follower.position == (0, 1)
