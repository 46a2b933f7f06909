"""Several video tracks in one enhanced RTMP v2 connection (ffmpeg 9), played per track
(HTTP-FLV, HLS and LL-HLS).

The publisher is the static ffmpeg 9 that the ``imageio-ffmpeg`` package ships: it writes
track 0 as legacy AVC tags and every further video/audio output as Multitrack tags. Viewers
decode with the system's ffmpeg, which knows nothing of multitrack: what the server sends
each of them must be a plain FLV stream of one track.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import h11
import imageio_ffmpeg  # type: ignore[import-untyped]  # no type information shipped
import pytest
import trio
from trio_websocket import open_websocket_url

from protocols import flv, rtmp
from tests.api import auth
from tests.interop.media import decoded_frames, ffprobe
from tests.llhls_checker import History, check_alignment, reports
from tests.trioflix.live.test_rtmp_tracks import play
from tests.trioflix.live_hls.helpers import (
    MediaPlaylistText,
    copy_with_ffmpeg,
    decode_errors,
    parse_master_playlist,
    parse_media_playlist,
    stream_info,
    wait_live,
)
from tests.waiting import wait_until

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import Server

pytestmark = [
    pytest.mark.slow,
    pytest.mark.interop,
    pytest.mark.backends("sqlite", reason="what it checks is the media each track's viewer gets"),
]

SECONDS = 5
SIZES = ["640x360", "320x180"]  # track 0, track 1


def publish_command(url: str, seconds: int = SECONDS) -> list[str]:
    """ffmpeg 9 sending one test picture as two H.264 tracks (keyframes every 1 s) + AAC."""
    encodes = []
    for index, size in enumerate(SIZES):
        encodes += [f"-s:v:{index}", size]
    return [
        imageio_ffmpeg.get_ffmpeg_exe(),
        *("-hide_banner", "-loglevel", "error", "-re"),
        *("-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30"),
        *("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"),
        *("-t", str(seconds), "-map", "0:v", "-map", "0:v", "-map", "1:a"),
        *("-c:v", "libx264", "-preset", "ultrafast", "-g", "30", *encodes),
        *("-c:a", "aac", "-b:a", "64k", "-f", "flv", url),
    ]


async def read_flv(server: Server, target: str) -> bytes | None:
    """Everything an HTTP-FLV viewer of ``target`` receives, or ``None`` on a 404."""
    host, port = server.url.removeprefix("http://").split(":")
    conn = h11.Connection(h11.CLIENT)
    body = bytearray()
    async with await trio.open_tcp_stream(host, int(port)) as stream:
        request = h11.Request(method="GET", target=target, headers=[("Host", host)])
        await stream.send_all(conn.send(request) + conn.send(h11.EndOfMessage()))
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await stream.receive_some(65536))
            elif isinstance(event, h11.Response):
                if event.status_code == 404:
                    return None
                assert event.status_code == 200
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                return bytes(body)


async def watch(server: Server, target: str, into: dict[str, bytes]) -> None:
    # Track 1 exists once its sequence header arrived, just after track 0's: until
    # then its URL answers 404, and the viewer asks again.
    while (data := await read_flv(server, target)) is None:  # noqa: ASYNC110 (polls HTTP)
        await trio.sleep(0.05)
    into[target] = data


async def ended_playlist(server: Server, path: str) -> MediaPlaylistText:
    """The media playlist at ``path`` once the publisher's end finalised it (2 s at most)."""
    with trio.fail_after(10):
        while not (playlist := parse_media_playlist((await server.client.get(path)).text)).ended:  # noqa: ASYNC110 (polls HTTP)
            await trio.sleep(0.1)
    return playlist


def video_tags(data: bytes) -> list[tuple[int, flv.VideoTag | flv.ExVideoTag]]:
    reader = flv.FLVReader()
    reader.receive_data(data)
    reader.receive_data(b"")
    tags = []
    while not isinstance(event := reader.next_event(), flv.FLVEnd):
        if isinstance(event, flv.FLVTag) and event.tag_type == flv.TagType.VIDEO:
            tags.append((event.timestamp_ms, flv.parse_video_tag(event.data)))
    return tags


async def test_each_track_plays_as_a_plain_flv_stream(
    server: Server, tmp_path: Path, nursery: trio.Nursery
) -> None:
    token, _ = await server.register("alice")
    key = await server.create_key(token)
    cmd = publish_command(f"{server.rtmp_url}/{key}")
    publisher: trio.Process = await nursery.start(partial(trio.run_process, cmd, check=False))
    await wait_live(server, "alice")
    assert await read_flv(server, "/live/alice.flv?track=7") is None  # not sent: a 404
    received: dict[str, bytes] = {}
    targets = ["/live/alice.flv", "/live/alice.flv?track=1"]
    with trio.fail_after(60):
        async with trio.open_nursery() as viewers:
            for target in targets:
                viewers.start_soon(watch, server, target, received)
        await publisher.wait()
    assert publisher.returncode == 0

    keyframes = {}
    for target, size in zip(targets, SIZES, strict=True):
        tags = video_tags(received[target])
        # plain legacy AVC only: the system's ffmpeg 5.1 reads it
        assert all(isinstance(tag, flv.VideoTag) and tag.codec_id == 7 for _, tag in tags)
        path = tmp_path / f"track{targets.index(target)}.flv"
        path.write_bytes(received[target])
        report, errors = ffprobe(path, "-show_entries", "stream=codec_type,width,height")
        (video,) = [s for s in report["streams"] if s["codec_type"] == "video"]
        assert f"{video['width']}x{video['height']}" == size
        assert errors == ""
        frames = decoded_frames(path)
        coded = [tag for _, tag in tags if tag.is_coded_frame]
        assert frames["video"] == len(coded) and frames["audio"] > 0
        keyframes[target] = [ts for ts, tag in tags if tag.is_coded_frame and tag.is_keyframe]
    # one encoder's rungs: every keyframe of track 1 is a keyframe of track 0 too
    assert len(keyframes[targets[1]]) >= 2
    assert set(keyframes[targets[1]]) <= set(keyframes[targets[0]])

    # HLS: track 1 is a variant of its own beside the source, cut at the same times
    master = parse_master_playlist((await server.client.get("/live/alice/master.m3u8")).text)
    assert [(attrs["RESOLUTION"], uri.split("/")[0]) for attrs, uri in master] == [
        ("640x360", "source"),
        ("320x180", "track1"),
    ]
    durations = []
    for (_, uri), size in zip(master, SIZES, strict=True):
        playlist = await ended_playlist(server, f"/live/alice/{uri}")
        assert len(playlist.segments) >= 2
        durations.append([segment.duration_ms for segment in playlist.segments])
        rendition = uri.split("/")[0]
        path = tmp_path / f"{rendition}.ts"
        for segment in playlist.segments:
            response = await server.client.get(f"/live/alice/{rendition}/{segment.uri}")
            assert response.status_code == 200
            with path.open("ab") as out:
                out.write(response.content)
        assert decode_errors(path) == ""
        (video,) = [s for s in stream_info(path) if s["codec_type"] == "video"]
        assert f"{video['width']}x{video['height']}" == size
    assert durations[0] == durations[1]

    # LL-HLS: track 1 has an LL playlist of its own, offered beside the source's, its
    # parts numbered and timed as the source's; ffmpeg reads it and its frames decode.
    master_ll = (await server.client.get("/live/alice/master-ll.m3u8")).text
    offered = [uri.split("/")[0] for _, uri in parse_master_playlist(master_ll)]
    assert offered == ["source", "track1"]
    histories = {}
    for name in offered:
        history = History()
        ll_playlist = history.add((await server.client.get(f"/live/alice/{name}/ll.m3u8")).text)
        assert ll_playlist.ended and len(ll_playlist.segments) >= 2
        assert set(reports(ll_playlist, name, set(offered))) == set(offered) - {name}
        histories[name] = history
    assert histories["source"].segments.keys() == histories["track1"].segments.keys()
    last = max(histories["source"].segments)
    assert check_alignment(histories, tolerance_s=0.005, before_msn=last) >= 6
    played = tmp_path / "track1-ll.mkv"
    await copy_with_ffmpeg(f"{server.url}/live/alice/track1/ll.m3u8", played)
    assert decode_errors(played) == ""
    (video,) = [s for s in stream_info(played) if s["codec_type"] == "video"]
    assert f"{video['width']}x{video['height']}" == SIZES[1]
    assert decoded_frames(played)["video"] >= 2 * 30


async def hold_http_flv(server: Server, target: str) -> None:
    """An HTTP-FLV viewer of ``target`` that reads until it is cancelled."""
    async with server.client.stream("GET", target, timeout=None) as response:
        assert response.status_code == 200
        async for _ in response.aiter_bytes():
            pass


async def hold_ws_flv(server: Server, target: str) -> None:
    """A WS-FLV viewer of ``target`` that reads until it is cancelled."""
    async with open_websocket_url(server.url.replace("http://", "ws://") + target) as ws:
        try:
            while True:
                await ws.get_message()
        finally:
            await trio.aclose_forcefully(ws._stream)  # see test_rtmp_live.test_ws_flv


async def hold_rtmp(server: Server, name: str) -> None:
    """An RTMP player of ``name`` that reads until it is cancelled."""
    client, answer = await play(server, name)
    assert isinstance(answer, rtmp.PlayAccepted)
    try:
        while data := await client.stream.receive_some(65536):
            client.conn.receive_data(data)
            while client.conn.next_event() is not rtmp.NEED_DATA:
                pass
            await client.flush()
    finally:
        await client.aclose()


async def test_viewers_of_another_track_count_as_the_channels_viewers(
    server: Server, nursery: trio.Nursery
) -> None:
    token, _ = await server.register("alice")
    key = await server.create_key(token)
    cmd = publish_command(f"{server.rtmp_url}/{key}", seconds=60)
    publisher: trio.Process = await nursery.start(partial(trio.run_process, cmd, check=False))
    await wait_live(server, "alice")
    live = server.app.trioflix.registry.get("alice")
    assert live is not None
    await wait_until(lambda: live.track(1) is not None)

    with trio.fail_after(60):
        async with trio.open_nursery() as viewers:
            viewers.start_soon(hold_http_flv, server, "/live/alice.flv?track=1")
            viewers.start_soon(hold_ws_flv, server, "/live/alice.flv?track=1")
            viewers.start_soon(hold_rtmp, server, "alice?track=1")
            # HLS: a player of the track's own variant, counted by its playback session
            while True:
                text = (await server.client.get("/live/alice/master.m3u8")).text
                uris = [uri for _, uri in parse_master_playlist(text) if "track1/" in uri]
                if uris:
                    break
                await trio.sleep(0.2)
            assert (await server.client.get(f"/live/alice/{uris[0]}")).status_code == 200

            one_each = {"rtmp": 1, "http-flv": 1, "ws-flv": 1, "webrtc": 0, "hls": 1}
            await wait_until(lambda: live.viewers_by_protocol() == one_each)
            status = await server.client.get("/api/streaming/status", headers=auth(token))
            assert status.json()["viewers"] == {"total": 4, **one_each}
            channel = (await server.client.get("/api/channels/alice")).json()
            assert channel["viewers"] == 4
            metrics = (await server.client.get("/metrics")).text
            for protocol in ("rtmp", "http-flv", "ws-flv", "hls"):
                line = f'trioflix_live_viewers{{channel="alice",protocol="{protocol}"}} 1.0'
                assert line in metrics
            assert live.peak_viewers == 4
            sent = live.bytes_out
            await wait_until(lambda: live.bytes_out > sent)  # the tracks' bytes count too
            viewers.cancel_scope.cancel()

    # The connection viewers are gone at once; the HLS player once its reloads stop.
    await wait_until(lambda: live.viewers_by_protocol()["rtmp"] == 0)
    assert live.viewers == live.viewers_by_protocol()["hls"]
    assert live.peak_viewers == 4
    publisher.kill()
