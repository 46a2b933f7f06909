"""Low-Latency HLS: part and segment boundaries, playlists, blocking reload rules.

Every playlist rendered here also goes through the tests' own RFC 8216bis checker
(``tests/llhls_checker.py``), which shares no code with the renderer.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols import hls
from tests.llhls_checker import History, PlaylistError, parse

T0 = datetime(2026, 12, 6, 16, 0, 0, tzinfo=UTC)
MAP = "init-7-0.mp4"


def playlist(**kw: int) -> hls.LLPlaylist:
    args = {"target_duration_s": 3, "part_target_ms": 300, "window_size": 4, **kw}
    return hls.LLPlaylist(prefix="ll-7-", **args)


def fill(p: hls.LLPlaylist, segments: int, parts: int = 3, ms: int = 300) -> None:
    for _ in range(segments):
        for i in range(parts):
            p.add_part(ms, independent=i == 0, map_uri=MAP, program_date_time=T0)
        p.end_segment()


# --- PartCutter -------------------------------------------------------------------------


def cut_stream(
    cutter: hls.PartCutter, frames: list[tuple[int, bool]]
) -> list[hls.PartEnded | None]:
    return [cutter.push(ts, start_point=key) for ts, key in frames]


def test_parts_end_before_the_frame_that_would_overrun_the_part_target() -> None:
    cutter = hls.PartCutter(part_target_ms=300, segment_target_ms=2000)
    # 30 fps in whole milliseconds, a keyframe every second.
    frames = [(n * 1000 // 30, n % 30 == 0) for n in range(91)]
    ended = [(ts, e) for (ts, _), e in zip(frames, cut_stream(cutter, frames), strict=True) if e]
    assert all(e.duration_ms <= 300 for _, e in ended)
    assert [ts for ts, e in ended if e.ends_segment] == [2000]
    # The keyframe at 1 s starts an independent part that does not end the segment.
    assert [ts for ts, e in ended if e.next_independent] == [1000, 2000, 3000]
    assert ended[0][1] == hls.PartEnded(
        duration_ms=300, independent=True, ends_segment=False, next_independent=False
    )
    last = cutter.finish()
    assert last is not None and last.ends_segment and last.duration_ms <= 300
    assert cutter.finish() is None and not cutter.is_open


def test_a_gop_is_cut_into_equal_parts_so_none_before_a_keyframe_is_short() -> None:
    """hls.js takes a segment as buffered once its buffer reaches within 0.2 s of the
    segment's end: a last part shorter than that may never be loaded. The first GOP (no
    GOP to go by) is cut by the target alone and ends with a 100 ms part; the next ones
    are cut into four shares of about 250 ms."""
    cutter = hls.PartCutter(part_target_ms=300, segment_target_ms=2000)
    frames = [(n * 1000 // 30, n % 30 == 0) for n in range(121)]
    ended = [(ts, e) for (ts, _), e in zip(frames, cut_stream(cutter, frames), strict=True) if e]
    assert [e.duration_ms for ts, e in ended if ts <= 1000] == [300, 300, 300, 100]
    later = [e.duration_ms for ts, e in ended if ts > 1000]
    assert later == [233, 267, 233, 267] * 3
    # A GOP no longer than the target is one part; after a break nothing is assumed.
    short = hls.PartCutter(part_target_ms=300, segment_target_ms=1000)
    gops = [(n * 40, n % 5 == 0) for n in range(16)]
    assert [e.duration_ms for e in cut_stream(short, gops) if e] == [200, 200, 200]
    assert short.finish() is not None
    assert short.push(1000, start_point=True) is None
    results = [short.push(ts, start_point=ts % 1000 == 0) for ts in range(1040, 2040, 40)]
    assert [e.duration_ms for e in results if e] == [280, 280, 280, 160]


def test_nothing_opens_before_a_start_point_and_a_long_gop_is_cut_anyway() -> None:
    cutter = hls.PartCutter(part_target_ms=500, segment_target_ms=1000, max_segment_ms=1500)
    assert cutter.push(0, start_point=False) is None and not cutter.is_open
    assert cutter.push(40, start_point=True) is None and cutter.is_open
    assert cutter.push(40, start_point=False) is None  # same instant: never a cut
    results = [cutter.push(ts, start_point=False) for ts in range(80, 1600, 40)]
    forced = [e for e in results if e is not None and e.ends_segment]
    assert len(forced) == 1 and not forced[0].next_independent
    with pytest.raises(ValueError, match="before"):
        cutter.push(10, start_point=True)


def test_part_cutter_arguments() -> None:
    with pytest.raises(ValueError, match="part target"):
        hls.PartCutter(part_target_ms=3000, segment_target_ms=2000)
    with pytest.raises(ValueError, match="max_segment_ms"):
        hls.PartCutter(part_target_ms=300, segment_target_ms=2000, max_segment_ms=1000)


# --- LLPlaylist -------------------------------------------------------------------------


def test_playlist_text() -> None:
    p = playlist()
    assert p.add_part(300, independent=True, map_uri=MAP, program_date_time=T0) == (0, 0)
    assert p.add_part(250, independent=False, map_uri="ignored") == (0, 1)
    assert p.end_segment() == 0
    assert p.add_part(300, independent=True, map_uri=MAP, program_date_time=T0) == (1, 0)
    assert p.render() == (
        "#EXTM3U\n"
        "#EXT-X-VERSION:9\n"
        "#EXT-X-TARGETDURATION:3\n"
        "#EXT-X-PART-INF:PART-TARGET=0.300\n"
        "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.900,CAN-SKIP-UNTIL=18.000\n"
        "#EXT-X-MEDIA-SEQUENCE:0\n"
        '#EXT-X-MAP:URI="init-7-0.mp4"\n'
        "#EXT-X-PROGRAM-DATE-TIME:2026-12-06T16:00:00.000Z\n"
        '#EXT-X-PART:DURATION=0.300,URI="ll-7-0.0.m4s",INDEPENDENT=YES\n'
        '#EXT-X-PART:DURATION=0.250,URI="ll-7-0.1.m4s"\n'
        "#EXTINF:0.550,\n"
        "ll-7-0.m4s\n"
        "#EXT-X-PROGRAM-DATE-TIME:2026-12-06T16:00:00.000Z\n"
        '#EXT-X-PART:DURATION=0.300,URI="ll-7-1.0.m4s",INDEPENDENT=YES\n'
        '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="ll-7-1.1.m4s"\n'
    )
    parse(p.render())
    report = p.report("../720p/ll.m3u8")
    assert report == hls.RenditionReport(uri="../720p/ll.m3u8", last_msn=1, last_part=0)
    assert p.render(reports=[report]).endswith(
        '#EXT-X-RENDITION-REPORT:URI="../720p/ll.m3u8",LAST-MSN=1,LAST-PART=0\n'
    )


def test_window_slides_parts_age_out_and_the_map_changes_with_a_discontinuity() -> None:
    p = playlist(media_sequence=5)
    assert p.media_sequence == 5 and p.report("x") is None and p.last_part is None
    assert p.next_part == (5, 0) and p.parts_listed_from == 5
    fill(p, 6, parts=10)  # segments of 3 s
    assert p.media_sequence == 7 and p.end_segment() is None
    text = p.render()
    assert "ll-7-6.m4s" not in text and text.count("#EXTINF") == 4
    # Parts are listed for segments starting within three target durations of the end.
    assert "ll-7-7.0.m4s" not in text and "ll-7-8.0.m4s" in text
    assert p.parts_listed_from == 8
    assert p.next_part == (11, 0) and f'URI="{p.part_uri(11, 0)}"' in text
    p.end_segment(discontinuity=True)
    p.add_part(300, independent=True, map_uri="init-7-1.mp4", program_date_time=T0)
    p.end_segment()
    fill(p, 3)
    text = p.render()
    assert "#EXT-X-DISCONTINUITY\n" in text and text.count("#EXT-X-MAP") == 2
    fill(p, 1)
    assert "#EXT-X-DISCONTINUITY-SEQUENCE:1\n" in p.render()
    assert text.count('#EXT-X-MAP:URI="init-7-1.mp4"') == 1
    parse(p.render())


def test_end_and_resume() -> None:
    p = playlist()
    fill(p, 1, parts=1)
    p.add_part(100, independent=True, map_uri=MAP, program_date_time=T0)
    p.end()
    p.end()
    text = p.render()
    assert p.ended and text.endswith("ll-7-1.m4s\n#EXT-X-ENDLIST\n")
    assert "PRELOAD-HINT" not in text
    parse(text)
    with pytest.raises(RuntimeError, match="ENDLIST"):
        p.add_part(100, independent=True, map_uri=MAP)
    version = p.version
    p.resume()
    p.resume()
    assert not p.ended and p.version == version + 1
    p.add_part(100, independent=True, map_uri=MAP)
    text = p.render()
    assert "#EXT-X-DISCONTINUITY\n" in text and text.count("PROGRAM-DATE-TIME") == 2


def test_delta_update_skips_only_segments_older_than_can_skip_until() -> None:
    p = playlist(window_size=12, target_duration_s=2, part_target_ms=500)
    for _ in range(12):
        for i in range(4):
            p.add_part(500, independent=i == 0, map_uri=MAP, program_date_time=T0)
        p.end_segment()
    p.add_part(500, independent=True, map_uri=MAP, program_date_time=T0)
    full, delta = p.render(), p.render(skip=True)
    # 24.5 s listed, CAN-SKIP-UNTIL 12 s: the 6 segments ending 12.5 s or more back go.
    assert "#EXT-X-SKIP:SKIPPED-SEGMENTS=6\n" in delta
    assert delta.split("#EXT-X-SKIP:SKIPPED-SEGMENTS=6\n")[1].startswith('#EXT-X-MAP:URI="')
    assert full.split("ll-7-5.m4s\n")[1] == delta.split('URI="init-7-0.mp4"\n')[1]
    history = History()
    history.add(full)
    history.add(delta)
    assert history.deltas == 1


def test_bad_parts_and_arguments() -> None:
    p = playlist()
    with pytest.raises(hls.HLSError, match="PART-TARGET"):
        p.add_part(301, independent=True, map_uri=MAP)
    with pytest.raises(hls.HLSError, match="EXT-X-MAP"):
        p.add_part(300, independent=True, map_uri='a"b')
    with pytest.raises(hls.HLSError, match="timezone"):
        p.add_part(300, independent=True, map_uri=MAP, program_date_time=datetime(2026, 1, 1))
    for _ in range(11):
        p.add_part(300, independent=True, map_uri=MAP)
    with pytest.raises(hls.HLSError, match="TARGETDURATION"):
        p.add_part(300, independent=True, map_uri=MAP)
    with pytest.raises(ValueError, match="positive"):
        playlist(window_size=0)
    with pytest.raises(ValueError, match="exceed"):
        playlist(target_duration_s=1, part_target_ms=1001)
    with pytest.raises(ValueError, match="negative"):
        playlist(media_sequence=-1)
    with pytest.raises(hls.HLSError, match="prefix"):
        hls.LLPlaylist(prefix="", target_duration_s=1, part_target_ms=300, window_size=1)
    long_parts = playlist(target_duration_s=2, part_target_ms=1000)
    assert long_parts.advance_part_limit == 3
    assert (long_parts.target_duration_s, long_parts.part_target_ms) == (2, 1000)
    assert playlist(part_target_ms=300).advance_part_limit == 10


# --- blocking reload --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ((None, None, None), hls.ReloadRequest()),
        (("12", "3", "YES"), hls.ReloadRequest(msn=12, part=3, skip=True)),
        (("0", None, "v2"), hls.ReloadRequest(msn=0, skip=True)),
    ],
)
def test_reload_request_parsing(
    query: tuple[str | None, str | None, str | None], expected: hls.ReloadRequest
) -> None:
    assert hls.ReloadRequest.parse(*query) == expected


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ((None, "1", None), "without _HLS_msn"),
        (("-1", None, None), "_HLS_msn"),
        (("1", "x", None), "_HLS_part"),
        (("\uff11", None, None), "_HLS_msn"),  # a fullwidth digit one
        (("9" * 20, None, None), "_HLS_msn"),
        (("9223372036854775808", None, None), "_HLS_msn"),
        (("1", None, "NO"), "_HLS_skip"),
    ],
)
def test_bad_reload_requests(query: tuple[str | None, str | None, str | None], error: str) -> None:
    with pytest.raises(hls.HLSError, match=error):
        hls.ReloadRequest.parse(*query)


def test_reload_decisions() -> None:
    p = playlist()
    ready, wait, too_far = hls.Reload.READY, hls.Reload.WAIT, hls.Reload.TOO_FAR

    def decide(msn: int | None, part: int | None = None) -> hls.Reload:
        return p.reload(hls.ReloadRequest(msn=msn, part=part))

    assert decide(None) is ready
    assert decide(0) is wait and decide(0, 0) is wait and decide(1) is wait
    assert decide(2) is too_far and decide(0, 10) is too_far
    fill(p, 2)  # segments 0 and 1, three parts each
    p.add_part(300, independent=True, map_uri=MAP)  # 2.0
    assert decide(1, 2) is ready and decide(2) is ready and decide(2, 0) is ready
    assert decide(2, 1) is wait and decide(3, 0) is wait and decide(4) is wait
    assert decide(5) is too_far
    assert decide(2, 10) is wait and decide(2, 11) is too_far and decide(3, 10) is too_far
    assert p.has(1) and not p.has(3) and p.has(0, 99) and not p.has(2, 1)
    p.end()
    assert decide(9, 9) is ready


@st.composite
def frame_runs(draw: st.DrawFn) -> list[tuple[int, bool]]:
    """Frames at a steady rate with keyframes at random places, and a few stalls."""
    interval = draw(st.sampled_from([17, 33, 40, 67]))
    frames = []
    ts = draw(st.integers(0, 10_000))
    for _ in range(draw(st.integers(1, 400))):
        ts += interval + draw(st.sampled_from([0, 0, 0, 1, -1]))
        frames.append((ts, draw(st.integers(0, 40)) == 0))
    return frames


@given(
    frames=frame_runs(),
    part_target_ms=st.sampled_from([200, 300, 334, 500]),
    segment_ms=st.sampled_from([1000, 2000]),
    windows=st.integers(1, 8),
    checkpoints=st.sets(st.integers(0, 400), max_size=12),
)
def test_any_stream_gives_playlists_the_checker_accepts(
    frames: list[tuple[int, bool]],
    part_target_ms: int,
    segment_ms: int,
    windows: int,
    checkpoints: set[int],
) -> None:
    """Cutter and playlist together: whatever the keyframes, every playlist on the way
    (full and delta) passes the RFC 8216bis checker and reload decisions match it."""
    # Steady frames may still come 1 ms late: the part target is declared with that room.
    cutter = hls.PartCutter(part_target_ms=part_target_ms - 2, segment_target_ms=segment_ms)
    p = hls.LLPlaylist(
        prefix="p-",
        target_duration_s=-(-(segment_ms + 1500) // 1000),
        part_target_ms=part_target_ms,
        window_size=windows,
    )
    history = History()
    when = T0
    for n, (ts, key) in enumerate(frames):
        ended = cutter.push(ts, start_point=key)
        if ended is not None:
            p.add_part(
                ended.duration_ms,
                independent=ended.independent,
                map_uri=MAP,
                program_date_time=when,
            )
            if ended.ends_segment:
                p.end_segment()
        if n in checkpoints:
            for skip in (False, True):
                parsed = history.add(p.render(skip=skip))
                last = parsed.last_part
                if last is not None:
                    assert (
                        p.reload(hls.ReloadRequest(msn=last[0], part=last[1])) is hls.Reload.READY
                    )
                    assert (
                        p.reload(hls.ReloadRequest(msn=last[0], part=last[1] + 1))
                        is hls.Reload.WAIT
                    )
        when += timedelta(milliseconds=33)
    ended = cutter.finish()
    if ended is not None:
        p.add_part(
            ended.duration_ms, independent=ended.independent, map_uri=MAP, program_date_time=when
        )
    p.end()
    history.add(p.render())
    history.add(p.render(skip=True))


def test_the_checker_catches_a_part_over_the_target_and_a_missing_hint() -> None:
    p = playlist()
    fill(p, 1)
    p.add_part(300, independent=True, map_uri=MAP, program_date_time=T0)
    text = p.render()
    with pytest.raises(PlaylistError, match="longer than PART-TARGET"):
        parse(text.replace("DURATION=0.300", "DURATION=0.301", 1))
    with pytest.raises(PlaylistError, match="PRELOAD-HINT"):
        parse("".join(line for line in text.splitlines(True) if "HINT" not in line))
    history = History()
    history.add(text)
    open_part = 'DURATION=0.300,URI="ll-7-1.0.m4s"'
    changed = text.replace(open_part, open_part.replace("0.300", "0.200"))
    with pytest.raises(PlaylistError, match="changed"):
        history.add(changed)
