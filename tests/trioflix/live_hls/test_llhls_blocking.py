"""LL-HLS delivery on Trio's clock (``autojump_clock``): no blocked request outlives the
change that satisfies it, blocked requests share one wake-up and one rendering per
playlist version, time out after three target durations (503),
are bounded per channel, and a hinted part that will never exist is not waited for.

Media: H.264 + AAC encoded by PyAV, in the FLV tag form an RTMP publisher sends, fed
through the MPEG-TS segmenter (whose codec records LL-HLS reuses) as the session does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import pytest
import trio

from protocols import flv, hls
from tests.protocols.hls.helpers import Stream, make_stream
from trioflix.api.ll_hls import block
from trioflix.errors import APIError
from trioflix.live.hls.cmaf import (
    KEEP_BEHIND_SEGMENTS,
    LL_WINDOW_SEGMENTS,
    CMAFRendition,
    Waiters,
)

if TYPE_CHECKING:
    from trioflix.live.hls.writer import HLSSession

TARGET_DURATION_S = 3


@pytest.fixture(scope="module")
def stream() -> Stream:
    return make_stream(seconds=9.0, keyint=30)


class Feeder:
    """Feeds a stream's tags, in send order, to a rendition as the HLS session does."""

    def __init__(self, stream: Stream) -> None:
        self.tags = iter(stream.interleaved())
        self.segmenter = hls.Segmenter()
        self.ll = CMAFRendition(
            "source",
            session_id=7,
            part_target_ms=300,
            segment_target_ms=2000,
            max_segment_ms=3000,
            target_duration_s=TARGET_DURATION_S,
            dates=lambda _ms: None,
        )

    def until(self, msn: int, part: int) -> None:
        """Feed tags until the playlist lists part ``part`` of segment ``msn``."""
        while not self.ll.playlist.has(msn, part):
            self.step()

    def step(self) -> bool:
        """Feed the next tag; ``False`` once there is none left."""
        try:
            kind, ts, body = next(self.tags)
        except StopIteration:
            return False
        if kind == "video":
            tag = flv.parse_video_tag(body)
            self.segmenter.push_video(tag, ts)
            config = self.segmenter
            self.ll.push_video(tag, ts, video=config.video_config, audio=config.audio_config)
        else:
            audio = flv.parse_audio_tag(body)
            self.segmenter.push_audio(audio, ts)
            self.ll.push_audio(audio, ts)
        return True


@dataclass
class FakeSession:
    """What :func:`block` reads of a session."""

    ll_waiters: Waiters
    target_duration_s: int = TARGET_DURATION_S


async def test_waiters_share_one_wake_up_and_one_rendering(
    stream: Stream, autojump_clock: trio.abc.Clock
) -> None:
    feeder = Feeder(stream)
    feeder.until(0, 1)
    ll = feeder.ll
    got: list[bytes] = []
    asked = hls.ReloadRequest(msn=0, part=2, skip=True)

    async def player() -> None:
        assert await ll.wait_playlist(asked) is hls.Reload.READY
        got.append(ll.render(skip=True))

    async with trio.open_nursery() as nursery:
        for _ in range(50):
            nursery.start_soon(player)
        await trio.testing.wait_all_tasks_blocked()
        assert got == []
        version = ll.playlist.version
        feeder.until(0, 2)
        assert ll.playlist.version == version + 1  # one new version woke all 50
    assert len(got) == 50 and all(text is got[0] for text in got)  # rendered once
    assert b'URI="ll-7-0.2.m4s"' in got[0]
    assert ll.render(skip=True) is got[0] and ll.render() is not got[0]


async def test_no_blocked_request_outlives_the_change_that_satisfies_it(
    stream: Stream, autojump_clock: trio.abc.Clock
) -> None:
    """A low-latency player always has a blocking reload for the part after the newest
    and a request for the hinted part pending. After every tag the rendition takes (new
    parts, segment ends, a cut, the end), no request is still blocked that the playlist
    already satisfies: one left blocked would wait out its three target durations."""
    feeder = Feeder(stream)
    ll = feeder.ll
    feeder.until(0, 0)
    reloads: set[tuple[int, int]] = set()
    parts: set[tuple[int, int]] = set()
    woken: list[tuple[str, int, int]] = []

    async def reload(msn: int, part: int) -> None:
        assert await ll.wait_playlist(hls.ReloadRequest(msn=msn, part=part)) is hls.Reload.READY
        reloads.remove((msn, part))
        woken.append(("reload", msn, part))

    async def fetch(msn: int, part: int) -> None:
        await ll.wait_part(msn, part)
        parts.remove((msn, part))
        woken.append(("part", msn, part))

    async with trio.open_nursery() as nursery:
        tags = 0
        while True:
            hinted = ll.playlist.next_part
            if not ll.playlist.ended and hinted not in reloads:
                reloads.add(hinted)
                nursery.start_soon(reload, *hinted)
            if not ll.playlist.ended and hinted not in parts:
                parts.add(hinted)
                nursery.start_soon(fetch, *hinted)
            await trio.testing.wait_all_tasks_blocked()
            for msn, part in reloads:
                request = hls.ReloadRequest(msn=msn, part=part)
                assert ll.playlist.reload(request) is hls.Reload.WAIT, (tags, msn, part)
            for msn, part in parts:
                assert not ll.playlist.has(msn, part), (tags, msn, part)
            tags += 1
            if tags == 150:
                ll.cut()  # a new publisher, mid-segment
            elif not feeder.step():
                if ll.playlist.ended:
                    break
                ll.end()
    assert reloads == parts == set()
    # Every part of the stream was waited for, and the cut's segment end too.
    assert {(m, p) for kind, m, p in woken if kind == "reload"} >= {(1, 0), (2, 0), (3, 0)}


async def test_a_blocked_request_gets_503_after_three_target_durations(
    stream: Stream, autojump_clock: trio.abc.Clock
) -> None:
    feeder = Feeder(stream)
    feeder.until(0, 0)
    session = cast("HLSSession", FakeSession(Waiters()))
    started = trio.current_time()
    with pytest.raises(APIError) as raised:
        await block(session, feeder.ll.wait_playlist, hls.ReloadRequest(msn=0, part=1))
    assert (raised.value.status, raised.value.code) == (503, "not_yet")
    assert trio.current_time() - started == pytest.approx(3 * TARGET_DURATION_S)
    # A request too far ahead is answered at once.
    far = hls.ReloadRequest(msn=3)
    assert await block(session, feeder.ll.wait_playlist, far) is hls.Reload.TOO_FAR
    assert session.ll_waiters.count == 0


async def test_blocked_requests_are_bounded_per_channel(
    stream: Stream, autojump_clock: trio.abc.Clock
) -> None:
    feeder = Feeder(stream)
    feeder.until(0, 0)
    session = cast("HLSSession", FakeSession(Waiters(limit=2)))
    answers: list[bytes | memoryview | None] = []

    async def fetch_hinted_part() -> None:
        answers.append(await block(session, feeder.ll.wait_part, 0, 1))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(fetch_hinted_part)
        nursery.start_soon(fetch_hinted_part)
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(APIError) as raised:
            await block(session, feeder.ll.wait_part, 0, 1)
        assert (raised.value.status, raised.value.code) == (503, "too_many_waiters")
        feeder.until(0, 1)
    assert len(answers) == 2 and answers[0] is not None and answers[0][4:8] == b"moof"
    assert session.ll_waiters.count == 0


async def test_a_hinted_part_comes_when_cut_and_not_at_all_after_the_end(
    stream: Stream, autojump_clock: trio.abc.Clock
) -> None:
    feeder = Feeder(stream)
    ll = feeder.ll
    feeder.until(0, 0)
    answers: dict[tuple[int, int], bytes | memoryview | None] = {}

    async def fetch(msn: int, part: int) -> None:
        answers[msn, part] = await ll.wait_part(msn, part)

    async with trio.open_nursery() as nursery:
        hinted = ll.playlist.next_part
        nursery.start_soon(fetch, *hinted)
        await trio.testing.wait_all_tasks_blocked()
        ll.cut()  # a new publisher: the part in progress ends early, and is served
        assert ll.playlist.next_part == (1, 0)
        nursery.start_soon(fetch, 1, 0)
        await trio.testing.wait_all_tasks_blocked()
        ll.end()  # the stream ends: the part hinted now will never exist
    part = answers[hinted]
    assert part is not None and part[4:8] == b"moof"
    assert answers[1, 0] is None
    assert await ll.wait_part(0, 0) is not None


async def test_parts_are_kept_for_the_window_only() -> None:
    # A keyframe every 5 frames, and a cut after each segment's first part: 16 short
    # segments slide the 12-segment window.
    feeder = Feeder(make_stream(seconds=6.0, keyint=5, audio=False))
    ll = feeder.ll
    for msn in range(16):
        feeder.until(msn, 0)
        ll.cut()
    first = ll.playlist.media_sequence
    assert first > KEEP_BEHIND_SEGMENTS
    assert ll.segment(first - KEEP_BEHIND_SEGMENTS - 1) is None
    assert ll.segment(first - KEEP_BEHIND_SEGMENTS) is not None
    assert ll.segment(ll.playlist.next_part[0]) is None  # not made yet


async def test_a_part_is_joined_once_when_first_asked_for(stream: Stream) -> None:
    feeder = Feeder(stream)
    ll = feeder.ll
    feeder.until(1, 0)  # segment 0 is complete
    count = 0
    while ll.playlist.part_duration(0, count) is not None:
        count += 1
    assert count > 1
    parts = [await ll.wait_part(0, part) for part in range(count)]
    assert all(part is not None and part[4:8] == b"moof" for part in parts)
    assert await ll.wait_part(0, 0) is parts[0]  # kept joined, shared by every request
    segment = ll.segment(0)
    assert segment is not None
    assert segment.tobytes() == b"".join(p for p in parts if p is not None)


@pytest.fixture(scope="module")
def long_stream() -> Stream:
    # 2 s segments past the window and the parts' three target durations.
    return make_stream(seconds=40.0, fps=10, keyint=10, audio=False)


async def test_parts_go_after_three_target_durations_while_their_segment_stays(
    long_stream: Stream,
) -> None:
    feeder = Feeder(long_stream)
    ll = feeder.ll
    feeder.until(16, 0)
    listed_from = ll.playlist.parts_listed_from
    gone, kept = listed_from - KEEP_BEHIND_SEGMENTS - 1, listed_from - KEEP_BEHIND_SEGMENTS
    assert gone >= ll.playlist.media_sequence  # its segment is still listed
    text = ll.render().decode()
    assert ll.playlist.part_uri(gone, 0) not in text and ll.playlist.segment_uri(gone) in text
    assert ll.playlist.part_uri(kept, 0) not in text  # not listed, yet still served
    assert await ll.wait_part(gone, 0) is None
    segment, part = ll.segment(gone), await ll.wait_part(kept, 0)
    assert segment is not None and segment[4:8].tobytes() == b"moof"
    whole = ll.segment(kept)
    assert part is not None and whole is not None and whole[: len(part)] == part


async def test_the_window_is_held_in_a_buffer_per_segment_reused_when_none_is_sent(
    long_stream: Stream,
) -> None:
    feeder = Feeder(long_stream)
    ll = feeder.ll
    feeder.until(15, 0)
    held = ll._segments
    assert len(held) == LL_WINDOW_SEGMENTS + KEEP_BEHIND_SEGMENTS
    # A complete segment's parts are views of its buffer; only the open one's are frames.
    open_msn = ll.playlist.next_part[0]
    assert all(isinstance(v, memoryview) for (msn, _), v in ll._parts.items() if msn < open_msn)
    oldest = min(held)
    buffer = held[oldest][0]
    feeder.until(open_msn + 1, 0)  # the oldest segment goes, the open one is complete
    assert oldest not in held and held[open_msn][0] is buffer
    # An answer still being sent keeps its buffer and its bytes.
    oldest = min(held)
    sending, buffer = ll.segment(oldest), held[oldest][0]
    assert sending is not None
    sent = sending.tobytes()
    feeder.until(open_msn + 3, 0)
    assert oldest not in held and all(b is not buffer for b, _ in held.values())
    assert sending.tobytes() == sent and len(held) == LL_WINDOW_SEGMENTS + KEEP_BEHIND_SEGMENTS
