"""LL-HLS across a takeover, on the rig: ffmpeg publishes to host A, then the same key to
host B; B's LL playlist goes on past every number A listed, after EXT-X-DISCONTINUITY,
and no part, segment or map name that A listed comes back from B."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import httpx
import pytest
import trio

from tests.llhls_checker import History, Playlist

from .test_rig import SLACK_S, create_key, publish, sign_up, wait_origin

if TYPE_CHECKING:
    from tests.interop.media import Sample

    from .rig import Rig, RigHost

pytestmark = pytest.mark.slow

CHANNEL = "llmover"
LIVE_LIMIT_S = 60.0  # the first segments on a busy two-core machine with three hosts
_DISCONTINUITY_SEQUENCE = re.compile(r"^#EXT-X-DISCONTINUITY-SEQUENCE:(\d+)$", re.MULTILINE)


def names(playlist: Playlist) -> set[str]:
    """Every part, segment and map URI ``playlist`` lists, and its hint."""
    out = {playlist.hint} if playlist.hint else set()
    for segment in playlist.segments:
        out.update(part.uri for part in segment.parts)
        out.update(uri for uri in (segment.uri, segment.map_uri) if uri)
    return out


def discontinuity_sequence(playlist: Playlist) -> int:
    found = _DISCONTINUITY_SEQUENCE.search(playlist.text)
    return int(found[1]) if found else 0


async def ll_playlist(client: httpx.AsyncClient, host: RigHost) -> httpx.Response:
    return await client.get(f"{host.url}/live/{CHANNEL}/source/ll.m3u8")


async def until_segments(
    client: httpx.AsyncClient, host: RigHost, history: History, count: int
) -> Playlist:
    """Reload ``host``'s LL playlist (each one checked) until it lists ``count``
    complete segments."""
    while True:
        response = await ll_playlist(client, host)
        if response.status_code == 200:
            playlist = history.add(response.text)
            if len([s for s in playlist.segments if s.uri]) >= count:
                return playlist
        await trio.sleep(0.2)


async def test_a_takeover_continues_the_ll_hls_numbering(
    rig: Rig, sample: Sample, nursery: trio.Nursery
) -> None:
    a, b, _ = rig.hosts
    token = await sign_up(a, CHANNEL)
    key = await create_key(a, token)
    on_a = await publish(nursery, a, key, sample)
    history = History()  # one rendition's playlists, whichever host served them
    async with httpx.AsyncClient(timeout=30) as client:
        with trio.fail_after(LIVE_LIMIT_S):
            await wait_origin(rig, CHANNEL, a)
            before = await until_segments(client, a, history, 3)
        listed_on_a = names(before)
        bytes_on_a = {}
        for name in listed_on_a - {before.hint}:
            response = await client.get(f"{a.url}/live/{CHANNEL}/source/{name}")
            assert response.status_code == 200, (name, response.text)
            bytes_on_a[name] = response.content
        last_on_a = max(s.msn for s in before.segments)

        on_b = await publish(nursery, b, key, sample)
        with trio.fail_after(LIVE_LIMIT_S):
            await wait_origin(rig, CHANNEL, b)
            after = await until_segments(client, b, History(), 2)
        history.add(after.text)  # the same rendition: numbers and names go on
        first = after.segments[0]
        # B goes on past A's numbers, after a discontinuity, counting A's breaks.
        assert first.msn > last_on_a, (first.msn, last_on_a)
        assert first.discontinuity, after.text
        assert discontinuity_sequence(after) >= discontinuity_sequence(before)
        listed_on_b = names(after)
        assert not listed_on_a & listed_on_b, listed_on_a & listed_on_b
        # What A listed is still A's bytes wherever it is asked for now.
        for name, body in bytes_on_a.items():
            response = await client.get(f"{b.url}/live/{CHANNEL}/source/{name}")
            assert response.status_code in (200, 404), (name, response.status_code)
            if response.status_code == 200:
                assert response.content == body, name
        # B's own parts are served.
        for part in after.segments[-1].parts:
            response = await client.get(f"{b.url}/live/{CHANNEL}/source/{part.uri}")
            assert response.status_code == 200, (part.uri, response.text)
    with trio.fail_after(30):
        await on_a.wait()  # A dropped its encoder
    on_b.terminate()
    with trio.fail_after(30 + SLACK_S):
        await on_b.wait()
