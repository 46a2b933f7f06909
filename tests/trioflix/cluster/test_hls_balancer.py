"""Live HLS on the rig behind nginx, with no sticky sessions: ffmpeg publishes to host A
and players whose requests the balancer spreads round-robin over A, B and C play the
same stream from every host, fifty players at once on an edge cost the origin one
fetch, a player is one viewer of the site whichever hosts it asks, hls.js plays in
Chromium through the balancer, LL-HLS too (the edges relay the origin's, blocking
reloads and hinted parts included, fifty identical blocking reloads on an edge cost
the origin one request), and a takeover by B continues the numbering with
EXT-X-DISCONTINUITY."""

from __future__ import annotations

import itertools
import re
import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
import pytest
import trio

from tests.browser.helpers import (
    PageLog,
    in_browser,
    new_context,
    time_waits,
    video_time,
    wait_playing,
    waits_ms,
)
from tests.interop.media import FFMPEG, decoded_frames, require
from tests.llhls_checker import History, parse
from tests.trioflix.live_hls.helpers import parse_master_playlist, parse_media_playlist

from . import test_balancer as behind_nginx
from .helpers import wait_until
from .test_edge import record
from .test_rig import SLACK_S, create_key, publish, sign_up, wait_origin

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from playwright.sync_api import Browser

    from tests.interop.media import Sample
    from tests.trioflix.live_hls.helpers import MediaPlaylistText

    from .balancer import Balancer
    from .rig import Rig, RigHost

pytestmark = pytest.mark.slow

# The rig behind nginx, as the balancer's own tests run it (a rig of this module's own).
nginx = behind_nginx.nginx
rig = behind_nginx.rig
balancer = behind_nginx.balancer

CHANNEL = "hlsfan"
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
SEGMENT_ROUTE = "/live/<channel>/<rendition>/<segment>"
HLS_ROUTES = (
    "/live/<channel>/master.m3u8",
    "/live/<channel>/<rendition>/index.m3u8",
    SEGMENT_ROUTE,
)
LL_PLAYLIST_ROUTE = "/live/<channel>/<rendition>/ll.m3u8"
LL_PLAYLIST_ROUTES = ("/live/<channel>/master-ll.m3u8", LL_PLAYLIST_ROUTE)
PART_TARGET_S = 0.3  # the default TRIOFLIX_HLS_PART
PLAYERS_AT_ONCE = 50
WATCH_S = 15  # hls.js on LL-HLS through the balancer
# A wait for data longer than this is a stall (tests/browser/test_ll_hls_player.py says why).
STALL_MS = 1000
LIVE_LIMIT_S = 60.0  # the first segments on a busy two-core machine with five servers
_SAMPLE = re.compile(r"^trioflix_http_requests_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$")


@dataclass
class Publisher:
    """ffmpeg publishing the channel to host A for the whole module, and its account."""

    token: str
    key: str
    encoder: subprocess.Popen[bytes]


@pytest.fixture(scope="module")
def publisher(rig: Rig, sample: Sample) -> Iterator[Publisher]:
    a = rig.hosts[0]
    # A module's fixture runs outside the tests' Trio runs: one of its own each.
    token = trio.run(sign_up, a, CHANNEL)
    key = trio.run(create_key, a, token)
    cmd = [require(FFMPEG, "ffmpeg"), "-hide_banner", "-loglevel", "error", "-re"]
    cmd += ["-stream_loop", "-1", "-i", str(sample.path), "-c", "copy", "-f", "flv"]
    cmd.append(f"rtmp://127.0.0.1:{a.rtmp_port}/live/{key}")
    encoder = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
    try:
        yield Publisher(token, key, encoder)
    finally:
        encoder.kill()
        encoder.wait()


async def served(host: RigHost, routes: tuple[str, ...] = HLS_ROUTES) -> float:
    """HLS requests ``host`` answered with 200 since it started, on ``routes``."""
    async with httpx.AsyncClient(timeout=10) as client:
        text = (await client.get(f"{host.url}/metrics")).text
    total = 0.0
    for line in text.splitlines():
        found = _SAMPLE.match(line)
        if found is None or 'status="200"' not in found["labels"]:
            continue
        if any(f'route="{route}"' in found["labels"] for route in routes):
            total += float(found["value"])
    return total


async def playlist(client: httpx.AsyncClient, url: str) -> MediaPlaylistText:
    response = await client.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == PLAYLIST_TYPE
    return parse_media_playlist(response.text)


def numbered(listed: MediaPlaylistText) -> dict[int, str]:
    """Each listed segment's URI by its media sequence number."""
    return {listed.media_sequence + i: s.uri for i, s in enumerate(listed.segments)}


async def test_a_player_without_stickiness_plays_through_the_balancer(
    rig: Rig, balancer: Balancer, publisher: Publisher, tmp_path: Path
) -> None:
    with trio.fail_after(30):
        await wait_origin(rig, CHANNEL, rig.hosts[0])
    before = [await served(host) for host in rig.hosts]

    base = f"{balancer.url}/live/{CHANNEL}"
    segments: dict[int, bytes] = {}
    async with httpx.AsyncClient(timeout=30) as client:
        with trio.fail_after(LIVE_LIMIT_S):
            master = await client.get(f"{base}/master.m3u8")
        assert master.status_code == 200, master.text
        assert master.headers["content-type"] == PLAYLIST_TYPE
        ((_, uri),) = parse_master_playlist(master.text)
        assert re.fullmatch(r"source/index\.m3u8\?vs=[A-Za-z0-9_-]{16}", uri), uri
        # Playlist, then its new segments, every request to the next host in turn.
        with trio.fail_after(LIVE_LIMIT_S):
            while len(segments) < 4:
                listed = await playlist(client, f"{base}/{uri}")
                for number, name in numbered(listed).items():
                    if number in segments:
                        continue
                    response = await client.get(f"{base}/source/{name}")
                    assert response.status_code == 200, response.text
                    assert response.headers["content-type"] == "video/mp2t"
                    assert "immutable" in response.headers["cache-control"]
                    segments[number] = response.content
                await trio.sleep(0.5)
    assert sorted(segments) == list(range(min(segments), max(segments) + 1))
    stream = tmp_path / "segments.ts"
    stream.write_bytes(b"".join(segments[n] for n in sorted(segments)))
    frames = decoded_frames(stream)
    assert frames.get("video", 0) > 30, frames
    assert frames.get("audio", 0) > 30, frames
    after = [await served(host) for host in rig.hosts]
    assert all(n > m for n, m in zip(after, before, strict=True)), (before, after)

    # ffmpeg's own HLS client, reading the balancer's master playlist.
    out = tmp_path / "ffmpeg.ts"
    cmd = [require(FFMPEG, "ffmpeg"), "-hide_banner", "-loglevel", "error"]
    cmd += ["-i", f"{base}/master.m3u8", "-c", "copy", "-f", "mpegts", str(out)]
    with trio.fail_after(LIVE_LIMIT_S):
        await record(cmd, out, 6)
    frames = decoded_frames(out)
    assert frames.get("video", 0) > 30, frames
    assert frames.get("audio", 0) > 30, frames


async def every_host_offers_ll_hls(rig: Rig) -> bool:
    """Every host lists the channel's LL-HLS among its playback URLs (once the channel
    is live: an edge relays the origin's)."""
    async with httpx.AsyncClient(timeout=10) as client:
        answers = [await client.get(f"{host.url}/api/channels/{CHANNEL}") for host in rig.hosts]
    return all("ll_hls" in answer.json().get("playback", {}) for answer in answers)


async def test_every_host_gives_the_same_playlist(rig: Rig, publisher: Publisher) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        with trio.fail_after(LIVE_LIMIT_S):
            while True:
                answers = [
                    await client.get(f"{host.url}/live/{CHANNEL}/source/index.m3u8")
                    for host in rig.hosts
                ]
                texts = {response.text for response in answers}
                # Not live with a segment on every host yet (this test may run first), or
                # a new segment came out between two of the requests: ask again.
                if all(r.status_code == 200 for r in answers):
                    playlists = [parse_media_playlist(t) for t in texts]
                    if all(p.segments for p in playlists):
                        sequences = {p.media_sequence for p in playlists}
                        lasts = {p.segments[-1].uri for p in playlists}
                        if len(sequences) == 1 and len(lasts) == 1:
                            break
                await trio.sleep(0.1)
    assert len(texts) == 1
    heads = {
        (r.status_code, r.headers["content-type"], r.headers["cache-control"]) for r in answers
    }
    assert heads == {(200, PLAYLIST_TYPE, "no-cache")}
    # WHEP is served by the origin alone: no host of a site offers it, so a player
    # behind a balancer never asks another host for it. LL-HLS every host serves (the
    # edges relay the origin's) and offers as soon as the channel is live.
    with trio.fail_after(LIVE_LIMIT_S):
        await wait_until(lambda: every_host_offers_ll_hls(rig), poll_s=0.5)
    async with httpx.AsyncClient(timeout=10) as client:
        for host in rig.hosts:
            playback = (await client.get(f"{host.url}/api/channels/{CHANNEL}")).json()["playback"]
            assert playback["ll_hls"] == f"{host.url}/live/{CHANNEL}/master-ll.m3u8"
            assert "whep" not in playback, host.url


async def test_fifty_players_at_once_on_an_edge_cost_the_origin_one_fetch(
    rig: Rig, publisher: Publisher
) -> None:
    a, _, c = rig.hosts
    url = f"{a.url}/live/{CHANNEL}/source/index.m3u8"
    async with httpx.AsyncClient(timeout=30) as client:
        # A segment nobody has asked for yet: the next one the origin lists.
        known = len(numbered(await playlist(client, url)))
        first = (await playlist(client, url)).media_sequence
        with trio.fail_after(LIVE_LIMIT_S):
            while True:
                listed = await playlist(client, url)
                if listed.media_sequence + len(listed.segments) > first + known:
                    break
                await trio.sleep(0.1)
        name = listed.segments[-1].uri
        fetched_before = await served(a, (SEGMENT_ROUTE,))
        bodies: list[bytes] = []

        async def player() -> None:
            response = await client.get(f"{c.url}/live/{CHANNEL}/source/{name}")
            assert response.status_code == 200, response.text
            bodies.append(response.content)

        with trio.fail_after(30):
            async with trio.open_nursery() as players:
                for _ in range(PLAYERS_AT_ONCE):
                    players.start_soon(player)
        assert await served(a, (SEGMENT_ROUTE,)) == fetched_before + 1
        original = (await client.get(f"{a.url}/live/{CHANNEL}/source/{name}")).content
    assert bodies == [original] * PLAYERS_AT_ONCE


async def hls_viewers(host: RigHost, token: str) -> int:
    """The channel's HLS viewers on the whole site, as ``host`` counts them."""
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(
            f"{host.url}/api/streaming/status", headers={"Authorization": f"Bearer {token}"}
        )
    assert response.status_code == 200, response.text
    count: int = response.json()["viewers"]["hls"]
    return count


async def test_a_player_spread_over_the_hosts_is_one_viewer(
    rig: Rig, publisher: Publisher, nursery: trio.Nursery
) -> None:
    # Each player reloads its playlist twice a target duration, each time from the
    # next of its hosts, as a round-robin balancer would send it: the first from the
    # edges alone (the origin never sees it), the second from every host.
    players: dict[str, list[RigHost]] = {}

    async def reload(token: str) -> None:
        async with httpx.AsyncClient(timeout=10) as client:
            for turn in itertools.count():
                hosts = players[token]
                url = f"{hosts[turn % len(hosts)].url}/live/{CHANNEL}/source/index.m3u8"
                assert (await client.get(f"{url}?vs={token}")).status_code == 200
                await trio.sleep(0.5)

    async def every_host_counts(expected: int) -> bool:
        return all([await hls_viewers(host, publisher.token) == expected for host in rig.hosts])

    # Earlier tests' players have stopped reloading: they drop out of the count.
    with trio.fail_after(LIVE_LIMIT_S):
        await wait_until(lambda: every_host_counts(0), poll_s=0.5)
    players["player-on-the-edges"] = rig.hosts[1:]
    nursery.start_soon(reload, "player-on-the-edges")
    with trio.fail_after(LIVE_LIMIT_S):
        await wait_until(lambda: every_host_counts(1), poll_s=0.5)
    players["player-everywhere"] = rig.hosts
    nursery.start_soon(reload, "player-everywhere")
    with trio.fail_after(LIVE_LIMIT_S):
        await wait_until(lambda: every_host_counts(2), poll_s=0.5)
    # Every host has served them for several heartbeats now: still two, not five.
    for host in rig.hosts:
        assert await hls_viewers(host, publisher.token) == 2
    nursery.cancel_scope.cancel()


async def ll_get(client: httpx.AsyncClient, url: str, **params: str) -> httpx.Response:
    response = await client.get(url, params=params)
    assert response.status_code == 200, (url, params, response.text)
    return response


async def test_ll_hls_plays_through_the_balancer_with_the_origins_bytes(
    rig: Rig, balancer: Balancer, publisher: Publisher, tmp_path: Path
) -> None:
    a, _, c = rig.hosts
    with trio.fail_after(30):
        await wait_origin(rig, CHANNEL, a)
    before = [await served(host, LL_PLAYLIST_ROUTES) for host in rig.hosts]
    base = f"{balancer.url}/live/{CHANNEL}"
    async with httpx.AsyncClient(timeout=30) as client:

        async def ll_hls_served() -> bool:
            return (await client.get(f"{base}/master-ll.m3u8")).status_code == 200

        with trio.fail_after(LIVE_LIMIT_S):  # when run alone: the publish just started
            await wait_until(ll_hls_served, poll_s=0.2)
        master = await ll_get(client, f"{base}/master-ll.m3u8", vs="ll-player-one")
        # The player's own token, not the one the edge fetched the origin's copy with.
        ((_, uri),) = parse_master_playlist(master.text)
        assert uri == "source/ll.m3u8?vs=ll-player-one", uri

        # Follow the stream as hls.js does, every request to the next host: blocking
        # delta reloads for the next part, the hinted part asked for before it exists.
        history = History()
        playlist = history.add((await ll_get(client, f"{base}/source/ll.m3u8")).text)
        joined = playlist.last_part
        assert joined is not None
        parts: dict[str, bytes] = {}
        with trio.fail_after(LIVE_LIMIT_S):
            while len([n for n, s in history.segments.items() if n > joined[0] and s.uri]) < 2:
                last = playlist.last_part
                assert last is not None
                msn, part = last[0], last[1] + 1
                response = await ll_get(
                    client,
                    f"{base}/source/ll.m3u8",
                    _HLS_msn=str(msn),
                    _HLS_part=str(part),
                    _HLS_skip="YES",
                )
                playlist = history.add(response.text)
                newest = playlist.last_part
                assert newest is not None and newest >= (msn, part)
                if playlist.hint is not None and playlist.hint not in parts:
                    hinted = await ll_get(client, f"{base}/source/{playlist.hint}")
                    parts[playlist.hint] = hinted.content
                for segment in playlist.segments:
                    for listed in segment.parts if segment.msn > joined[0] else ():
                        if listed.uri not in parts:
                            body = (await ll_get(client, f"{base}/source/{listed.uri}")).content
                            parts[listed.uri] = body
        # Two whole segments: their parts, fetched from every host, are the origin's
        # segments byte for byte, and decode after the origin's init segment.
        complete = [s for n, s in sorted(history.segments.items()) if n > joined[0] and s.uri]
        media = b""
        for segment in complete[:2]:
            assert segment.uri is not None and segment.map_uri is not None and segment.parts
            whole = b"".join(parts[listed.uri] for listed in segment.parts)
            origins = await ll_get(client, f"{a.url}/live/{CHANNEL}/source/{segment.uri}")
            assert whole == origins.content, segment.msn
            if not media:
                media = (await ll_get(client, f"{base}/source/{segment.map_uri}")).content
            media += whole
    played = tmp_path / "parts.mp4"
    played.write_bytes(media)
    frames = decoded_frames(played)
    assert frames.get("video", 0) > 30 and frames.get("audio", 0) > 30, frames
    after = [await served(host, LL_PLAYLIST_ROUTES) for host in rig.hosts]
    assert all(n > m for n, m in zip(after, before, strict=True)), (before, after)

    # ffmpeg's HLS client (it reads the LL playlist's whole segments) through an edge.
    out = tmp_path / "ffmpeg.ts"
    cmd = [require(FFMPEG, "ffmpeg"), "-hide_banner", "-loglevel", "error"]
    cmd += ["-i", f"{c.url}/live/{CHANNEL}/source/ll.m3u8", "-c", "copy", "-f", "mpegts"]
    with trio.fail_after(LIVE_LIMIT_S):
        await record([*cmd, str(out)], out, 4)
    frames = decoded_frames(out)
    assert frames.get("video", 0) > 30 and frames.get("audio", 0) > 30, frames


async def test_blocking_requests_on_an_edge_wait_and_share_one_upstream_request(
    rig: Rig, publisher: Publisher
) -> None:
    a, _, c = rig.hosts
    edge = f"{c.url}/live/{CHANNEL}/source/"
    origin = f"{a.url}/live/{CHANNEL}/source/"
    async with httpx.AsyncClient(timeout=30) as client:

        async def edge_has_ll_hls() -> bool:
            response = await client.get(f"{edge}ll.m3u8")
            return response.status_code == 200 and parse(response.text).last_part is not None

        with trio.fail_after(LIVE_LIMIT_S):  # when run alone: the publish just started
            await wait_origin(rig, CHANNEL, a)
            await wait_until(edge_has_ll_hls, poll_s=0.2)
        history = History()
        playlist = history.add((await ll_get(client, f"{edge}ll.m3u8")).text)
        # A blocking reload through the edge waits for the part asked for, and lists it.
        waits = []
        for _ in range(8):
            last = playlist.last_part
            assert last is not None
            msn, part = last[0], last[1] + 1
            started = trio.current_time()
            with trio.fail_after(30):
                response = await ll_get(
                    client, f"{edge}ll.m3u8", _HLS_msn=str(msn), _HLS_part=str(part)
                )
            waits.append(trio.current_time() - started)
            playlist = history.add(response.text)
            newest = playlist.last_part
            assert newest is not None and newest >= (msn, part)
        assert sorted(waits)[len(waits) // 2] > PART_TARGET_S / 4, waits

        # What the edge hop adds: the same blocking reload on the origin and on the
        # edge at once, each answer timed as it arrives (printed: a figure, not a bound).
        hop_ms = []
        answers: dict[str, tuple[float, str]] = {}

        async def reload(base: str, params: dict[str, str]) -> None:
            response = await ll_get(client, f"{base}ll.m3u8", **params)
            answers[base] = (trio.current_time(), response.text)

        for _ in range(8):
            last = playlist.last_part
            assert last is not None
            params = {"_HLS_msn": str(last[0]), "_HLS_part": str(last[1] + 1)}
            with trio.fail_after(30):
                async with trio.open_nursery() as both:
                    both.start_soon(reload, origin, params)
                    both.start_soon(reload, edge, params)
            hop_ms.append(round((answers[edge][0] - answers[origin][0]) * 1000, 1))
            playlist = history.add(answers[edge][1])
        print(f"a part on the edge after the origin (ms): {sorted(hop_ms)}")

        # Fifty players blocked on the same part (two segments ahead: every request is
        # made before it exists) cost the origin one request, and all get its answer.
        last = playlist.last_part
        assert last is not None
        wanted = {"_HLS_msn": str(last[0] + 2), "_HLS_part": "0", "_HLS_skip": "YES"}
        asked_before = await served(a, (LL_PLAYLIST_ROUTE,))
        bodies: list[str] = []

        async def player(n: int) -> None:
            response = await ll_get(client, f"{edge}ll.m3u8", vs=f"blocked-{n:04d}", **wanted)
            bodies.append(response.text)

        with trio.fail_after(30):
            async with trio.open_nursery() as players:
                for n in range(PLAYERS_AT_ONCE):
                    players.start_soon(player, n)
        assert await served(a, (LL_PLAYLIST_ROUTE,)) == asked_before + 1
        assert len(bodies) == PLAYERS_AT_ONCE and len(set(bodies)) == 1
        answered = history.add(bodies[0])
        newest = answered.last_part
        assert newest is not None and newest >= (last[0] + 2, 0)

        # The hinted part, asked for before it exists, comes when made: the origin's bytes.
        assert answered.hint is not None
        with trio.fail_after(30):
            hinted = await ll_get(client, edge + answered.hint)
        assert hinted.content[4:8] == b"moof"
        assert hinted.content == (await ll_get(client, origin + answered.hint)).content

        # The origin's errors are passed on as it gives them.
        too_far = {"_HLS_msn": str(newest[0] + 5)}
        on_edge = await client.get(f"{edge}ll.m3u8", params=too_far)
        on_origin = await client.get(f"{origin}ll.m3u8", params=too_far)
        assert on_edge.status_code == on_origin.status_code == 400
        assert on_edge.json() == on_origin.json()
        assert on_edge.json()["error"]["code"] == "too_far_ahead"


@pytest.mark.interop
async def test_hls_js_in_chromium_plays_ll_hls_then_hls_through_the_balancer(
    rig: Rig, balancer: Balancer, publisher: Publisher
) -> None:
    """The channel page picks LL-HLS (offered by whichever host it asks) and plays it
    without a stall, then the standard HLS of the latency menu; each request of
    hls.js goes to the next host."""
    with trio.fail_after(LIVE_LIMIT_S):  # the page asks whichever host for its URLs
        await wait_until(lambda: every_host_offers_ll_hls(rig), poll_s=0.5)
    before = [await served(host, LL_PLAYLIST_ROUTES) for host in rig.hosts]

    def scenario(browser: Browser) -> tuple[list[str | None], float, list[float], list[str]]:
        page = new_context(browser, balancer.url).new_page()
        log = PageLog()
        log.attach(page)
        page.goto(f"/channel/{CHANNEL}")
        wait_playing(page)
        engines = [page.locator(".player").get_attribute("data-engine")]
        time_waits(page)
        start = video_time(page)
        page.wait_for_timeout(WATCH_S * 1000)
        waits = waits_ms(page, STALL_MS)
        played_s = video_time(page) - start
        # Several target durations of standard HLS: playlist reloads and new segments.
        page.get_by_label("Latency mode").select_option("hls")
        page.wait_for_function("document.querySelector('.player').dataset.engine === 'hls'")
        wait_playing(page, advance_s=6)
        engines.append(page.locator(".player").get_attribute("data-engine"))
        return engines, played_s, waits, log.errors

    engines, played_s, waits, errors = await in_browser(scenario)
    print(f"LL-HLS through the balancer: played {played_s:.1f} s, waits (ms) {waits}")
    assert engines == ["ll-hls", "hls"]
    assert errors == []
    assert [ms for ms in waits if ms > STALL_MS] == [], waits
    assert played_s > WATCH_S / 2, played_s  # moving: a paused video has no waits
    after = [await served(host, LL_PLAYLIST_ROUTES) for host in rig.hosts]
    assert all(n > m for n, m in zip(after, before, strict=True)), (before, after)


async def test_a_takeover_continues_the_numbering_through_the_balancer(
    rig: Rig,
    balancer: Balancer,
    publisher: Publisher,
    sample: Sample,
    tmp_path: Path,
    nursery: trio.Nursery,
) -> None:
    b = rig.hosts[1]
    url = f"{balancer.url}/live/{CHANNEL}/source/index.m3u8"
    seen: dict[int, str] = {}
    async with httpx.AsyncClient(timeout=30) as client:
        seen.update(numbered(await playlist(client, url)))
        before = max(seen)
        on_b = await publish(nursery, b, publisher.key, sample)
        with trio.fail_after(30):
            await wait_origin(rig, CHANNEL, b)
            # B has taken the lease; its HLS starts with the session there.
            on_b_url = f"{b.url}/live/{CHANNEL}/source/index.m3u8"
            while (await client.get(on_b_url)).status_code != 200:  # noqa: ASYNC110 (poll)
                await trio.sleep(0.05)
        # Reload through the balancer until B's part shows, two segments of it: its
        # first carries EXT-X-DISCONTINUITY. No number is ever listed with two names.
        moved: list[int] = []
        with trio.fail_after(LIVE_LIMIT_S):
            while len(moved) < 2:
                listed = await playlist(client, url)
                for number, name in numbered(listed).items():
                    assert seen.setdefault(number, name) == name, (number, name, seen[number])
                for i, segment in enumerate(listed.segments):
                    number = listed.media_sequence + i
                    if segment.discontinuity and number > before and not moved:
                        moved = [number]
                    elif moved and number == moved[-1] + 1:
                        moved.append(number)
                await trio.sleep(0.3)
        parts = []
        for number in moved:
            response = await client.get(f"{balancer.url}/live/{CHANNEL}/source/{seen[number]}")
            assert response.status_code == 200, response.text
            parts.append(response.content)
    # B went on past every segment A listed (the loop's condition), under names of
    # its own.
    names_on_a = {seen[n] for n in seen if n < moved[0]}
    assert not names_on_a & {seen[n] for n in moved}
    stream = tmp_path / "after-takeover.ts"
    stream.write_bytes(b"".join(parts))
    frames = decoded_frames(stream)
    assert frames.get("video", 0) > 10, frames
    # A dropped its encoder.
    with trio.fail_after(30):
        await trio.to_thread.run_sync(publisher.encoder.wait)
    on_b.terminate()
    with trio.fail_after(30 + SLACK_S):
        await on_b.wait()
