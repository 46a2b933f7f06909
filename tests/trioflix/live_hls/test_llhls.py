"""LL-HLS of the source: ffmpeg publishes over RTMP; a client that behaves like hls.js
(blocking reloads for the next part, delta updates, the preload hint fetched before it
exists) follows the stream; every playlist goes through the tests' own RFC 8216bis
checker, every part is checked against the media, and ffmpeg reads the LL playlist.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import av
import pytest
import trio

from tests.llhls_checker import History, Playlist

from .helpers import copy_with_ffmpeg, go_live, parse_master_playlist

if TYPE_CHECKING:
    from pathlib import Path

    import httpx

    from tests.conftest import Server
    from tests.interop.media import Sample

pytestmark = [pytest.mark.slow, pytest.mark.interop]

SAMPLE_SECONDS = 8
PART_TARGET_S = 0.3  # the default TRIOFLIX_HLS_PART


async def _get(client: httpx.AsyncClient, url: str, **params: str) -> httpx.Response:
    response = await client.get(url, params=params, timeout=20)
    assert response.status_code == 200, (url, params, response.text)
    return response


def _first_video_keyframe(init: bytes, part: bytes) -> bool:
    """Whether the first video frame of ``part`` is a keyframe, as PyAV demuxes it."""
    with av.open(io.BytesIO(init + part), "r", format="mp4") as container:
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            if packet.size:
                return bool(packet.is_keyframe)
    raise AssertionError("a part without video")


async def test_ll_hls_follows_a_live_publish_part_by_part(
    server: Server,
    player: httpx.AsyncClient,
    sample: Sample,
    tmp_path: Path,
    nursery: trio.Nursery,
) -> None:
    alice = await go_live(nursery, server, sample.path)
    client = player
    # Players find it in the channel's playback URLs (a host of its own: offered).
    playback = (await _get(server.client, "/api/channels/alice")).json()["playback"]
    assert playback["ll_hls"] == f"{server.url}/live/alice/master-ll.m3u8"

    master = await _get(client, "/live/alice/master-ll.m3u8")
    (attrs, uri), *rest = parse_master_playlist(master.text)
    assert rest == [] and uri.startswith("source/ll.m3u8?vs=")
    assert attrs["CODECS"].startswith("avc1.") and attrs["CODECS"].endswith(",mp4a.40.2")
    # Asked for at once, before the first MPEG-TS segment: the resolution is there already.
    assert attrs["RESOLUTION"] == "640x360"
    base = "/live/alice/source/"

    history = History()
    playlist: Playlist = history.add((await _get(client, base + "ll.m3u8")).text)
    waits = []
    # Follow the stream as hls.js does: ask for the hinted part's playlist, blocking.
    while not playlist.ended:
        last = playlist.last_part
        assert last is not None
        msn, part = last[0], last[1] + 1
        started = trio.current_time()
        response = await _get(
            client, base + "ll.m3u8", _HLS_msn=str(msn), _HLS_part=str(part), _HLS_skip="YES"
        )
        waits.append(trio.current_time() - started)
        playlist = history.add(response.text)
        if not playlist.ended:
            # The delta names the part asked for, or later (the segment ended first).
            newest = playlist.last_part
            assert newest is not None and newest >= (msn, part)
        if len(waits) % 5 == 0:
            history.add((await _get(client, base + "ll.m3u8")).text)
    # The playlist ends once the server saw the publisher go; ffmpeg may still be exiting.
    with trio.fail_after(30):
        assert await alice.publisher.wait() == 0
    # Most reloads blocked until the next part: about a part target each, not at once.
    assert len(waits) > SAMPLE_SECONDS / PART_TARGET_S / 2, waits
    assert sorted(waits)[len(waits) // 2] > PART_TARGET_S / 4, waits
    assert history.deltas > 0

    # Every part listed decodes after the init segment; INDEPENDENT is on exactly the
    # parts whose first video frame is a keyframe; segments are their parts joined.
    full = history.add((await _get(client, base + "ll.m3u8")).text)
    assert full.ended and len(full.segments) >= SAMPLE_SECONDS // 2 - 1
    inits: dict[str, bytes] = {}
    for segment in full.segments:
        assert segment.map_uri is not None and segment.uri is not None
        if segment.map_uri not in inits:
            inits[segment.map_uri] = (await _get(client, base + segment.map_uri)).content
        init = inits[segment.map_uri]
        joined = b""
        for listed in segment.parts:
            body = (await _get(client, base + listed.uri)).content
            assert _first_video_keyframe(init, body) == listed.independent, listed
            joined += body
        whole = await _get(client, base + segment.uri)
        assert whole.headers["content-type"] == "video/mp4"
        assert not segment.parts or whole.content == joined
    assert len(inits) == 1

    # ffmpeg (no LL-HLS support: it reads the segments) plays the LL playlist whole.
    out = tmp_path / "played.mkv"
    await copy_with_ffmpeg(f"{server.url}{base}ll.m3u8", out)
    with av.open(str(out)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    first = sample.keyframe_pts_ms[0]
    assert frames == len([p for p in sample.video_pts_ms if p >= first])


async def test_blocking_requests_too_far_ahead_and_bad_directives(
    server: Server, player: httpx.AsyncClient, sample: Sample, nursery: trio.Nursery
) -> None:
    await go_live(nursery, server, sample.path, channel="bob")
    client = player
    base = "/live/bob/source/"
    await _get(client, "/live/bob/master-ll.m3u8")
    playlist = History().add((await _get(client, base + "ll.m3u8")).text)
    last = playlist.last_part
    assert last is not None
    for params, status in [
        ({"_HLS_msn": str(last[0] + 3)}, 400),
        ({"_HLS_msn": str(last[0]), "_HLS_part": str(last[1] + 12)}, 400),
        ({"_HLS_part": "1"}, 400),
        ({"_HLS_msn": "x"}, 400),
        ({"_HLS_skip": "maybe"}, 400),
    ]:
        response = await client.get(base + "ll.m3u8", params=params)
        assert response.status_code == status, (params, response.text)
        assert response.json()["error"]
    # A part far ahead, one of another session, a rendition without LL-HLS: 404.
    session = server.app.trioflix.hls.session("bob")
    assert session is not None
    for name in (
        f"ll-{session.session_id}-{last[0] + 5}.0.m4s",
        f"ll-{session.session_id + 1}-0.0.m4s",
        f"init-{session.session_id}-0-9.mp4",
    ):
        response = await client.get(base + name)
        assert response.status_code == 404, name
    assert (await client.get("/live/bob/720p/ll.m3u8")).status_code == 404
    # The hinted part: asked for before it exists, it comes when made.
    hinted = await _get(client, base + str(playlist.hint))
    assert hinted.content[4:8] == b"moof"


@pytest.mark.settings(hls_part=None)
async def test_with_ll_hls_off_only_the_mpeg_ts_playlists_are_served(
    server: Server, player: httpx.AsyncClient, sample: Sample, nursery: trio.Nursery
) -> None:
    await go_live(nursery, server, sample.path, channel="carol")
    await _get(server.client, "/live/carol/master.m3u8")
    assert "ll_hls" not in (await _get(server.client, "/api/channels/carol")).json()["playback"]
    for url in ("/live/carol/master-ll.m3u8", "/live/carol/source/ll.m3u8"):
        response = await player.get(url)
        assert response.status_code == 404, url
