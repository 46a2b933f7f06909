"""RFC 8216 playlists: live sliding window, EVENT, VOD, master."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from protocols import hls

T0 = datetime(2026, 11, 26, 11, 34, 0, tzinfo=UTC)


def seg(n: int, ms: int = 2000, **kw: object) -> hls.PlaylistSegment:
    return hls.PlaylistSegment(uri=f"seg-{n:06d}.ts", duration_ms=ms, **kw)  # type: ignore[arg-type]


def test_live_playlist_text() -> None:
    p = hls.MediaPlaylist(target_duration_s=3, window_size=3)
    assert p.add_segment(seg(0, 2000, program_date_time=T0)) == []
    p.add_segment(seg(1, 2002, program_date_time=T0 + timedelta(seconds=2)))
    assert p.render() == (
        "#EXTM3U\n"
        "#EXT-X-VERSION:3\n"
        "#EXT-X-TARGETDURATION:3\n"
        "#EXT-X-MEDIA-SEQUENCE:0\n"
        "#EXT-X-PROGRAM-DATE-TIME:2026-11-26T11:34:00.000Z\n"
        "#EXTINF:2.000,\n"
        "seg-000000.ts\n"
        "#EXT-X-PROGRAM-DATE-TIME:2026-11-26T11:34:02.000Z\n"
        "#EXTINF:2.002,\n"
        "seg-000001.ts\n"
    )
    p.end()
    p.end()
    assert p.ended and p.render().endswith("seg-000001.ts\n#EXT-X-ENDLIST\n")
    with pytest.raises(RuntimeError, match="after EXT-X-ENDLIST"):
        p.add_segment(seg(2))


def test_sliding_window_media_and_discontinuity_sequence() -> None:
    p = hls.MediaPlaylist(target_duration_s=2, window_size=2)
    p.add_segment(seg(0))
    p.add_segment(seg(1, discontinuity=True))
    p.add_segment(seg(2))
    assert (p.media_sequence, p.discontinuity_sequence) == (1, 0)
    assert "#EXT-X-DISCONTINUITY\n#EXTINF:2.000,\nseg-000001.ts" in p.render()
    p.add_segment(seg(3))
    assert (p.media_sequence, p.discontinuity_sequence) == (2, 1)
    text = p.render()
    assert "#EXT-X-MEDIA-SEQUENCE:2\n#EXT-X-DISCONTINUITY-SEQUENCE:1\n" in text
    assert "#EXT-X-DISCONTINUITY\n" not in text
    assert [s.uri for s in p.segments] == ["seg-000002.ts", "seg-000003.ts"]
    assert p.target_duration_s == 2


def test_removed_segments_are_held_then_released() -> None:
    """RFC 8216 6.2.2: kept for its duration + the playlist's duration after removal."""
    p = hls.MediaPlaylist(target_duration_s=2, window_size=2)
    released: list[str] = []
    for n in range(8):
        got = p.add_segment(seg(n))
        released += got
        if n == 2:
            assert p.retired_uris == ("seg-000000.ts",) and got == []
        if n == 6:
            # seg 0 left the window at n=2 with 3 x 2 s listed: held for 2 + 6 s = 4 segments
            assert got == ["seg-000000.ts"]
    assert released == ["seg-000000.ts", "seg-000001.ts"]
    assert p.retired_uris == tuple(f"seg-{n:06d}.ts" for n in range(2, 6))


def test_event_playlist_keeps_everything() -> None:
    p = hls.MediaPlaylist(target_duration_s=2, window_size=None)
    for n in range(20):
        assert p.add_segment(seg(n)) == []
    text = p.render()
    assert "#EXT-X-PLAYLIST-TYPE:EVENT\n" in text and text.count("#EXTINF") == 20


def test_target_duration_is_never_below_a_rounded_extinf() -> None:
    p = hls.MediaPlaylist(target_duration_s=2)
    p.add_segment(seg(0, 2499))  # rounds to 2
    with pytest.raises(hls.HLSError, match="exceeds EXT-X-TARGETDURATION:2"):
        p.add_segment(seg(1, 2500))  # rounds to 3
    assert len(p.segments) == 1


def test_a_playlist_continuing_another_starts_past_its_sequence_numbers() -> None:
    p = hls.MediaPlaylist(
        target_duration_s=2, window_size=2, media_sequence=7, discontinuity_sequence=3
    )
    p.add_segment(seg(7, discontinuity=True))
    text = p.render()
    assert "#EXT-X-MEDIA-SEQUENCE:7\n#EXT-X-DISCONTINUITY-SEQUENCE:3\n" in text
    assert "#EXT-X-DISCONTINUITY\n#EXTINF:2.000,\nseg-000007.ts" in text
    p.add_segment(seg(8))
    p.add_segment(seg(9))
    assert (p.media_sequence, p.discontinuity_sequence) == (8, 4)


@pytest.mark.parametrize("kwargs", [{"media_sequence": -1}, {"discontinuity_sequence": -1}])
def test_sequence_numbers_cannot_be_negative(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="cannot be negative"):
        hls.MediaPlaylist(target_duration_s=2, **kwargs)


@pytest.mark.parametrize(
    "kwargs", [{"target_duration_s": 0}, {"target_duration_s": 2, "window_size": 0}]
)
def test_invalid_playlist_parameters(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        hls.MediaPlaylist(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"uri": "", "duration_ms": 1}, "segment URI"),
        ({"uri": "a\nb", "duration_ms": 1}, "segment URI"),
        ({"uri": "a\rb", "duration_ms": 1}, "segment URI"),
        ({"uri": "a", "duration_ms": -1}, "negative"),
        (
            {"uri": "a", "duration_ms": 1, "program_date_time": datetime(2026, 1, 1)},
            "timezone-aware",
        ),
    ],
)
def test_segment_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(hls.HLSError, match=message):
        hls.PlaylistSegment(**kwargs)  # type: ignore[arg-type]


def test_program_date_time_with_an_offset() -> None:
    cet = timezone(timedelta(hours=1))
    p = hls.MediaPlaylist(target_duration_s=2)
    p.add_segment(seg(0, program_date_time=datetime(2026, 1, 1, 12, 0, 0, 250_000, tzinfo=cet)))
    assert "#EXT-X-PROGRAM-DATE-TIME:2026-01-01T12:00:00.250+01:00\n" in p.render()


def test_vod_playlist() -> None:
    segments = [seg(0, 6006), seg(1, 6006), seg(2, 3400, discontinuity=True)]
    assert hls.render_vod_playlist(segments) == (
        "#EXTM3U\n"
        "#EXT-X-VERSION:3\n"
        "#EXT-X-TARGETDURATION:6\n"
        "#EXT-X-MEDIA-SEQUENCE:0\n"
        "#EXT-X-PLAYLIST-TYPE:VOD\n"
        "#EXTINF:6.006,\nseg-000000.ts\n"
        "#EXTINF:6.006,\nseg-000001.ts\n"
        "#EXT-X-DISCONTINUITY\n#EXTINF:3.400,\nseg-000002.ts\n"
        "#EXT-X-ENDLIST\n"
    )
    assert "#EXT-X-TARGETDURATION:10\n" in hls.render_vod_playlist(segments, target_duration_s=10)
    assert "#EXT-X-TARGETDURATION:1\n" in hls.render_vod_playlist([])
    assert "#EXT-X-TARGETDURATION:1\n" in hls.render_vod_playlist([seg(0, 100)])
    with pytest.raises(hls.HLSError, match="exceeds EXT-X-TARGETDURATION:5"):
        hls.render_vod_playlist(segments, target_duration_s=5)


def test_master_playlist() -> None:
    variants = [
        hls.Variant(
            uri="1080p/index.m3u8",
            bandwidth=6_500_000,
            average_bandwidth=6_000_000,
            codecs=("avc1.640028", "mp4a.40.2"),
            resolution=(1920, 1080),
            frame_rate=29.97,
        ),
        hls.Variant(uri="audio/index.m3u8", bandwidth=128_000),
    ]
    assert hls.render_master_playlist(variants, independent_segments=True) == (
        "#EXTM3U\n"
        "#EXT-X-VERSION:3\n"
        "#EXT-X-INDEPENDENT-SEGMENTS\n"
        "#EXT-X-STREAM-INF:BANDWIDTH=6500000,AVERAGE-BANDWIDTH=6000000,"
        'CODECS="avc1.640028,mp4a.40.2",RESOLUTION=1920x1080,FRAME-RATE=29.970\n'
        "1080p/index.m3u8\n"
        "#EXT-X-STREAM-INF:BANDWIDTH=128000\n"
        "audio/index.m3u8\n"
    )
    assert "INDEPENDENT" not in hls.render_master_playlist(variants)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"uri": "", "bandwidth": 1}, "variant URI"),
        ({"uri": "a", "bandwidth": 0}, "BANDWIDTH"),
        ({"uri": "a", "bandwidth": 1, "codecs": ('av"c',)}, "codec string"),
        ({"uri": "a", "bandwidth": 1, "codecs": ("",)}, "codec string"),
        ({"uri": "a", "bandwidth": 1, "frame_rate": 0.0}, "frame rate"),
        ({"uri": "a", "bandwidth": 1, "frame_rate": float("nan")}, "frame rate"),
    ],
)
def test_variant_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(hls.HLSError, match=message):
        hls.Variant(**kwargs)  # type: ignore[arg-type]


def test_bitrate_meter() -> None:
    m = hls.BitrateMeter()
    assert (m.peak_bps, m.average_bps) == (0, 0)
    m.add(250_000, 2000)  # 1 Mbit/s
    m.add(750_000, 2000)  # 3 Mbit/s
    m.add(10, 0)
    assert (m.peak_bps, m.average_bps) == (3_000_000, 2_000_020)
