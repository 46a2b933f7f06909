"""The source rendition: ffmpeg publishes over RTMP, HLS comes out, ffmpeg/ffprobe read it."""

from __future__ import annotations

import itertools
import signal
from typing import TYPE_CHECKING

import pytest
import trio

from tests.interop.media import FFMPEG, Sample, require
from tests.waiting import WAIT_LIMIT_S

from .helpers import (
    auth,
    check_playlist_rules,
    decode_errors,
    go_live,
    parse_master_playlist,
    parse_media_playlist,
    start_publisher,
    video_pts_ms,
    wait_live,
)

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import Server

pytestmark = [pytest.mark.slow, pytest.mark.interop]

FRAME_MS = 1000 / 30

SAMPLE_SECONDS = 7  # the sample fixture's length
ENDLIST_WAIT_S = 6.0


async def _download(server: Server, url: str, path: Path) -> None:
    response = await server.client.get(url)
    assert response.status_code == 200, (url, response.text)
    assert response.headers["content-type"] == "video/mp2t"
    # A segment name is never reused and its file never changes: caches keep it.
    assert response.headers["cache-control"] == "public, max-age=3600, immutable"
    await trio.Path(path).write_bytes(response.content)


async def test_source_rendition_plays_and_ends(
    server: Server, sample: Sample, tmp_path: Path, nursery: trio.Nursery
) -> None:
    alice = await go_live(nursery, server, sample.path)
    status = await server.client.get("/api/streaming/status", headers=auth(alice.token))
    hls_url = f"{server.url}/live/alice/master.m3u8"
    assert status.json()["playback"]["hls"] == hls_url
    channels = (await server.client.get("/api/channels")).json()["channels"]
    assert channels[0]["playback"]["hls"] == hls_url

    # The master playlist waits for the first segment rather than answering 404.
    response = await server.client.get("/live/alice/master.m3u8")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert response.headers["access-control-allow-origin"] == "*"
    assert "#EXT-X-INDEPENDENT-SEGMENTS" in response.text
    variants = parse_master_playlist(response.text)
    assert len(variants) == 1
    attrs, uri = variants[0]
    assert uri.startswith("source/index.m3u8?vs=")
    assert attrs["RESOLUTION"] == "640x360"
    assert attrs["CODECS"].startswith("avc1.") and attrs["CODECS"].endswith(",mp4a.40.2")
    assert float(attrs["FRAME-RATE"]) == pytest.approx(30, abs=0.01)
    assert int(attrs["BANDWIDTH"]) >= int(attrs["AVERAGE-BANDWIDTH"]) > 50_000

    # Follow the live playlist until the publisher is done. The server ends the
    # playlist when the connection closes, which may come before ffmpeg has exited.
    sequences = []
    while alice.publisher.returncode is None:
        live = await server.client.get(f"/live/alice/{uri}")
        assert live.status_code == 200
        playlist = parse_media_playlist(live.text)
        sequences.append((playlist.media_sequence, len(playlist.segments)))
        if playlist.ended:
            break
        await trio.sleep(0.3)
    assert sequences == sorted(sequences), "media sequence or segment count went backwards"
    with trio.fail_after(ENDLIST_WAIT_S):
        assert await alice.publisher.wait() == 0

    # ffmpeg unpublished: EXT-X-ENDLIST within 2 s by design, bounded more loosely here
    # for a busy machine (a writer that waited for the reconnect grace would take 10 s).
    with trio.fail_after(ENDLIST_WAIT_S):
        while True:
            playlist = parse_media_playlist((await server.client.get(f"/live/alice/{uri}")).text)
            if playlist.ended:
                break
            await trio.sleep(0.05)
    check_playlist_rules(playlist, 2000)
    assert playlist.target_duration == 2  # 2 s segments are announced as 2 s
    assert playlist.media_sequence == 0  # 7 s fit in the window: nothing slid out
    assert not any(s.discontinuity for s in playlist.segments)
    assert len(playlist.segments) >= 3

    # Every segment decodes cleanly on its own, starts on a keyframe, and together they
    # hold every frame of the sample from the first keyframe on, without gaps or repeats.
    all_pts: list[int] = []
    for segment in playlist.segments:
        path = tmp_path / segment.uri
        await _download(server, f"/live/alice/source/{segment.uri}", path)
        assert decode_errors(path) == ""
        pts = video_pts_ms(path)
        assert pts, segment
        all_pts += pts
    assert len(all_pts) == len(set(all_pts))
    first = sample.keyframe_pts_ms[0]
    expected = [p for p in sample.video_pts_ms if p >= first]
    offset = all_pts[0] - min(expected)  # TS timestamps start at 1 s (protocols.hls)
    assert sorted(p - offset for p in all_pts) == sorted(expected)
    gaps = [b - a for a, b in itertools.pairwise(all_pts)]
    assert max(gaps) <= FRAME_MS + 1

    # A player reads the whole thing through the master playlist.
    ffmpeg = require(FFMPEG, "ffmpeg")
    out = tmp_path / "played.ts"
    with trio.fail_after(30):
        played = await trio.run_process(
            [
                ffmpeg,
                "-hide_banner",
                "-v",
                "error",
                "-i",
                f"{server.url}/live/alice/master.m3u8",
                "-c",
                "copy",
                "-y",
                str(out),
            ],
            capture_stderr=True,
            check=False,
        )
    assert played.returncode == 0, played.stderr
    assert len(video_pts_ms(out)) == len(expected)

    # The session's files are on disk too, written atomically (no temporary left over).
    session_dir = server.settings.data_dir / "live" / "alice"
    leftovers = [p for p in session_dir.rglob(".*.tmp")]
    assert leftovers == []
    assert any(session_dir.rglob("master.m3u8"))


async def test_unknown_channel_and_bad_names_are_404(server: Server) -> None:
    for url in (
        "/live/nobody/master.m3u8",
        "/live/nobody/source/index.m3u8",
        "/live/nobody/source/seg-1-000000.ts",
        "/live/nobody/source/../../etc/passwd",
        "/live/nobody/evil/seg-1-000000.ts",
    ):
        response = await server.client.get(url)
        assert response.status_code == 404, url


async def test_killed_publisher_ends_playlist_and_reconnect_continues_it(
    server: Server, sample: Sample, nursery: trio.Nursery
) -> None:
    alice = await go_live(nursery, server, sample.path, loops=3)
    master = await server.client.get("/live/alice/master.m3u8")
    uri = parse_master_playlist(master.text)[0][1]
    # Two segments to start from, however long a busy machine takes to cut them.
    with trio.fail_after(WAIT_LIMIT_S):
        while True:
            response = await server.client.get(f"/live/alice/{uri}")
            if len(parse_media_playlist(response.text).segments) >= 2:
                break
            await trio.sleep(0.2)

    alice.publisher.send_signal(signal.SIGKILL)
    await alice.publisher.wait()
    # The publisher dropped (no unpublish): every playlist shows the end, within 2 s by
    # design (bounded as above).
    with trio.fail_after(ENDLIST_WAIT_S):
        while True:
            response = await server.client.get(f"/live/alice/{uri}")
            assert response.status_code == 200
            before = parse_media_playlist(response.text)
            if before.ended:
                break
            await trio.sleep(0.05)
    status = (await server.client.get("/api/streaming/status", headers=auth(alice.token))).json()
    assert status["state"] == "reconnecting"

    # Same key within the grace window: the same playlist goes on after a discontinuity,
    # and it never answered 404 meanwhile.
    again = await start_publisher(nursery, server, alice.key, sample.path)
    with trio.fail_after(15):
        while True:
            response = await server.client.get(f"/live/alice/{uri}")
            assert response.status_code == 200
            after = parse_media_playlist(response.text)
            if not after.ended and len(after.segments) > len(before.segments):
                break
            await trio.sleep(0.1)
    assert after.media_sequence >= before.media_sequence
    old_uris = [s.uri for s in before.segments]
    assert [s.uri for s in after.segments[: len(old_uris)]] == old_uris
    resumed = after.segments[len(old_uris)]
    assert resumed.discontinuity
    check_playlist_rules(after, 2000)
    again.send_signal(signal.SIGTERM)
    await again.wait()
    with trio.fail_after(15):
        await wait_live(server, "alice", live=False)
