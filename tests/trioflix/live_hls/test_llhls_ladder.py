"""LL-HLS of every ladder rung: ffmpeg publishes, the ladder transcodes two rungs, and a
client per rendition follows its LL playlist as hls.js does. Every playlist served goes
through the tests' RFC 8216bis checker, rendition reports included (each reported part
is asked for on its rendition); the renditions' parts are checked against each other
(same numbers, same durations, the same pictures at their starts), and ffmpeg reads
each rung's LL playlist, whose frames decode.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import av
import pytest
import trio

from tests.llhls_checker import History, check_alignment, reports
from tests.waiting import wait_until

from .helpers import (
    copy_with_ffmpeg,
    decode_errors,
    go_live,
    parse_master_playlist,
    start_publisher,
    stream_info,
)

if TYPE_CHECKING:
    from pathlib import Path

    import httpx

    from tests.conftest import Server
    from tests.interop.media import Sample
    from tests.llhls_checker import Playlist

pytestmark = [
    pytest.mark.slow,
    pytest.mark.interop,
    pytest.mark.backends(
        "sqlite", reason="the transcoder's media at real-time speed; no SQL of its own"
    ),
]

SAMPLE_SECONDS = 10  # the rungs start a few seconds in; this leaves them several segments
RUNGS = ["240p", "160p"]
FRAME_MS = 1000 / 30  # the sample's frame interval
# Part durations agree to the millisecond rounding of the two encodings' timestamps; a
# part cut one frame off would be 33 ms off.
TOLERANCE_S = 0.005


async def _get(client: httpx.AsyncClient, url: str, **params: str) -> httpx.Response:
    response = await client.get(url, params=params, timeout=20)
    assert response.status_code == 200, (url, params, response.text)
    return response


class Follower:
    """One rendition's player: blocking reloads for the next part, delta updates, and
    every fourth playlist's rendition reports checked against the renditions reported
    (each names a part that exists and is not a gap). It records each rendition's newest
    part as it goes (:attr:`newest`)."""

    def __init__(self, client: httpx.AsyncClient, base: str, offered: set[str]) -> None:
        self.client = client
        self.base = base
        self.offered = offered
        self.histories = {name: History() for name in offered}
        self.newest: dict[str, list[tuple[int, int]]] = {name: [] for name in offered}
        self.reports_checked = 0

    async def follow(self, name: str, finished: trio.Event | None = None) -> None:
        """Follow ``name``'s playlist until it ends (and ``finished`` is set: an end
        before it is the pause between two publishers, looked at again)."""
        history = self.histories[name]
        url = f"{self.base}{name}/ll.m3u8"
        playlist = history.add((await _get(self.client, url)).text)
        while True:
            if playlist.last_part is not None:
                self.newest[name].append(playlist.last_part)
            if playlist.ended:
                if finished is None or finished.is_set():
                    return
                await trio.sleep(0.2)
                playlist = history.add((await _get(self.client, url)).text)
                continue
            await self._check_reports(name, playlist)
            last = playlist.last_part
            assert last is not None
            response = await _get(
                self.client,
                f"{self.base}{name}/ll.m3u8",
                _HLS_msn=str(last[0]),
                _HLS_part=str(last[1] + 1),
                _HLS_skip="YES",
            )
            playlist = history.add(response.text)

    async def _check_reports(self, name: str, playlist: Playlist) -> None:
        if self.histories[name].checked % 4:
            return
        for other, (msn, part) in reports(playlist, name, self.offered).items():
            # The part reported exists: the other rendition's playlist lists it without
            # waiting for it, and a blocking reload for it answers with it.
            listed = self.histories[other].add(
                (await _get(self.client, f"{self.base}{other}/ll.m3u8")).text
            )
            assert listed.last_part is not None and listed.last_part >= (msn, part), other
            blocked = self.histories[other].add(
                (
                    await _get(
                        self.client,
                        f"{self.base}{other}/ll.m3u8",
                        _HLS_msn=str(msn),
                        _HLS_part=str(part),
                    )
                ).text
            )
            assert blocked.last_part is not None and blocked.last_part >= (msn, part)
            assert not self.histories[other].parts[(msn, part)].gap, (other, msn, part)
            self.reports_checked += 1


def _first_pts_ms(init: bytes, part: bytes) -> tuple[int, bool]:
    """The earliest presentation time of the part's video, and whether it starts with a
    keyframe."""
    with av.open(io.BytesIO(init + part), "r", format="mp4") as container:
        stream = container.streams.video[0]
        packets = [p for p in container.demux(stream) if p.size and p.pts is not None]
        assert packets and stream.time_base is not None
        first = min(int(p.pts) for p in packets)  # type: ignore[arg-type]  # pts checked
        return round(first * stream.time_base * 1000), bool(packets[0].is_keyframe)


@pytest.mark.settings(hls_ladder="240p:300k,160p")
async def test_every_rung_has_an_ll_playlist_aligned_with_the_source(
    server: Server,
    player: httpx.AsyncClient,
    sample: Sample,
    tmp_path: Path,
    nursery: trio.Nursery,
) -> None:
    alice = await go_live(nursery, server, sample.path, ll_variants=3)
    client = player
    master = parse_master_playlist((await _get(client, "/live/alice/master-ll.m3u8")).text)
    classic = parse_master_playlist((await _get(server.client, "/live/alice/master.m3u8")).text)
    names = [uri.split("/")[0] for _, uri in master]
    assert names == ["source", *RUNGS]
    assert all(uri.split("?")[0].endswith("/ll.m3u8") for _, uri in master)
    # The same ladder as the MPEG-TS master playlist.
    assert [a["RESOLUTION"] for a, _ in master] == [a["RESOLUTION"] for a, _ in classic]
    for attrs, _ in master:
        assert attrs["CODECS"].startswith("avc1.") and attrs["CODECS"].endswith(",mp4a.40.2")

    follower = Follower(client, "/live/alice/", set(names))
    with trio.fail_after(60):
        async with trio.open_nursery() as players:
            for name in names:
                players.start_soon(follower.follow, name)
    # The playlists end once the server saw the publisher go; ffmpeg may still be exiting.
    with trio.fail_after(30):
        assert await alice.publisher.wait() == 0
    assert follower.reports_checked >= 6

    finals = {}
    for name in names:
        finals[name] = follower.histories[name].add(
            (await _get(client, f"/live/alice/{name}/ll.m3u8")).text
        )
        assert finals[name].ended
    # Aligned: parts and segments of the same numbers last as long everywhere (but the
    # last segment, cut where each rendition's frames stopped when the publisher did).
    last_msn = finals["source"].segments[-1].msn
    compared = check_alignment(follower.histories, tolerance_s=TOLERANCE_S, before_msn=last_msn)
    assert compared > 20

    # The same pictures start the same parts: every part of a segment listed with parts
    # in every rendition starts at the same presentation time (to a frame: the source's
    # B-frames reorder its pictures within a part), a segment exactly at its keyframe.
    common = [
        s.msn
        for s in finals["source"].segments[:-1]
        if s.parts
        and all(any(t.msn == s.msn and t.parts for t in finals[n].segments) for n in RUNGS)
    ]
    assert common
    msn = common[-1]
    starts: dict[str, list[tuple[int, bool]]] = {}
    for name in names:
        segment = next(s for s in finals[name].segments if s.msn == msn)
        assert segment.map_uri is not None
        init = (await _get(client, f"/live/alice/{name}/{segment.map_uri}")).content
        starts[name] = []
        for listed in segment.parts:
            body = (await _get(client, f"/live/alice/{name}/{listed.uri}")).content
            starts[name].append(_first_pts_ms(init, body))
            assert starts[name][-1][1] == listed.independent, (name, listed)
    for name in RUNGS:
        assert len(starts[name]) == len(starts["source"])
        assert starts[name][0] == starts["source"][0]  # the keyframe, independent
        for (rung_ms, _), (source_ms, _) in zip(starts[name], starts["source"], strict=True):
            assert abs(rung_ms - source_ms) <= 2 * FRAME_MS + 1, (name, starts)

    # ffmpeg reads each rung's LL playlist; its frames decode, at the rung's size.
    for attrs, uri in master[1:]:
        name = uri.split("/")[0]
        out = tmp_path / f"{name}.mkv"
        await copy_with_ffmpeg(f"{server.url}/live/alice/{name}/ll.m3u8", out)
        assert decode_errors(out) == ""
        (video,) = [s for s in stream_info(out) if s["codec_type"] == "video"]
        assert f"{video['width']}x{video['height']}" == attrs["RESOLUTION"]
        with av.open(str(out)) as container:
            frames = sum(1 for _ in container.decode(video=0))
        assert frames >= 3 * 30, name  # several seconds of the rung


@pytest.mark.settings(hls_ladder="240p:300k,160p")
async def test_a_takeover_keeps_every_rung_s_ll_playlist_going(
    server: Server, sample: Sample, nursery: trio.Nursery
) -> None:
    alice = await go_live(nursery, server, sample.path, ll_variants=3)
    session = server.app.trioflix.hls.session("alice")
    assert session is not None
    names = ["source", *RUNGS]
    follower = Follower(server.client, "/live/alice/", set(names))
    finished = trio.Event()

    def segments_after_a_break(name: str) -> list[int]:
        """The segments of ``name`` from its first discontinuity on that have media."""
        segments = sorted(follower.histories[name].segments.values(), key=lambda s: s.msn)
        breaks = [s.msn for s in segments if s.discontinuity]
        return [
            s.msn
            for s in segments
            if breaks and s.msn >= breaks[0] and any(not p.gap for p in s.parts)
        ]

    with trio.fail_after(90):
        async with trio.open_nursery() as players:
            for name in names:
                players.start_soon(follower.follow, name, finished)
            # The same key again, from a new connection: it takes over, the first goes.
            second = await start_publisher(nursery, server, alice.key, sample.path)
            await alice.publisher.wait()  # kicked
            # Every rung goes on after EXT-X-DISCONTINUITY with the new publisher's media,
            # still offered.
            await wait_until(lambda: all(len(segments_after_a_break(n)) >= 2 for n in names))
            assert [info.name for info, _ in session.ll_variants()] == names
            assert not any(ll.retired for ll in session.lls.values())
            assert await second.wait() == 0
            finished.set()
    assert follower.reports_checked >= 6
    for name in names:
        newest = follower.newest[name]
        assert newest == sorted(newest), name  # numbers never go back
    # Aligned across the takeover: parts and segments of the same numbers last as long
    # in every rendition (but the last segment, cut where each one's frames stopped).
    last_msn = max(follower.histories["source"].segments)
    assert check_alignment(follower.histories, tolerance_s=TOLERANCE_S, before_msn=last_msn) > 20
