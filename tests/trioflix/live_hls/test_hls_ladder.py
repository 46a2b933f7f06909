"""The transcoded ladder: renditions decode, cut at the same timestamps, and fail alone."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pytest
import trio

from trioflix.live.hls.transcoder import Ladder

from .helpers import (
    check_playlist_rules,
    decode_errors,
    go_live,
    parse_master_playlist,
    parse_media_playlist,
    stream_info,
    video_pts_ms,
)

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import Server
    from tests.interop.media import Sample
    from trioflix.live.hls.hub import HLSHub
    from trioflix.live.hls.writer import HLSSession

pytestmark = [
    pytest.mark.slow,
    pytest.mark.interop,
    pytest.mark.backends(
        "sqlite",
        reason="the transcoder's media, at real-time speed; publishing's SQL runs on both"
        " in test_hls_passthrough and test_recording",
    ),
]

LADDER = pytest.mark.settings(hls_ladder="240p:300k,160p")

SAMPLE_SECONDS = 7  # the sample fixture's length


def _hub(server: Server) -> HLSHub:
    return server.app.trioflix.hls


async def _wait_rungs(server: Server, channel: str, count: int) -> HLSSession:
    """Until the ladder has ``count`` rungs with a segment each (the master playlist lists
    the rungs ready within RUNG_START_WAIT_S; a loaded CI machine may take longer)."""
    with trio.fail_after(30):
        while True:
            session = _hub(server).session(channel)
            if session is not None:
                rungs = session.rungs.values()
                if len(rungs) == count and all(r.segments_added for r in rungs):
                    return session
            await trio.sleep(0.05)


async def _playlist_until_ended(server: Server, channel: str, uri: str) -> str:
    with trio.fail_after(5):
        while True:
            text = (await server.client.get(f"/live/{channel}/{uri}")).text
            if parse_media_playlist(text).ended:
                return text
            await trio.sleep(0.05)


@LADDER
async def test_ladder_renditions_decode_and_align(
    server: Server, sample: Sample, tmp_path: Path, nursery: trio.Nursery
) -> None:
    alice = await go_live(nursery, server, sample.path)
    await _wait_rungs(server, "alice", 2)
    master = await server.client.get("/live/alice/master.m3u8")
    variants = parse_master_playlist(master.text)
    assert [a["RESOLUTION"] for a, _ in variants] == ["640x360", "426x240", "284x160"]
    for attrs, _ in variants:
        assert attrs["CODECS"].startswith("avc1.") and attrs["CODECS"].endswith(",mp4a.40.2")
        assert float(attrs["FRAME-RATE"]) == pytest.approx(30, abs=0.01)
        assert int(attrs["BANDWIDTH"]) >= int(attrs["AVERAGE-BANDWIDTH"]) > 0
    # The 240p rung's declared peak covers its configured 300 kbit/s plus audio.
    assert int(variants[1][0]["BANDWIDTH"]) >= 300_000
    with trio.fail_after(30):
        await alice.publisher.wait()

    starts: dict[str, list[int]] = {}
    for attrs, uri in variants:
        name = uri.split("/")[0]
        playlist = parse_media_playlist(await _playlist_until_ended(server, "alice", uri))
        check_playlist_rules(playlist, 2000)
        assert playlist.target_duration == 2  # the segment length, not one more
        starts[name] = []
        for segment in playlist.segments:
            path = tmp_path / f"{name}-{segment.uri}"
            response = await server.client.get(f"/live/alice/{name}/{segment.uri}")
            assert response.status_code == 200
            path.write_bytes(response.content)
            assert decode_errors(path) == ""
            starts[name].append(video_pts_ms(path)[0])
            width, height = (int(x) for x in attrs["RESOLUTION"].split("x"))
            video = next(s for s in stream_info(path) if s["codec_type"] == "video")
            assert (video["width"], video["height"]) == (width, height)
            assert any(s["codec_type"] == "audio" for s in stream_info(path))
    # Aligned: every rendition's segments start at the same presentation timestamps.
    source = starts["source"]
    assert len(source) >= 3
    for name in ("240p", "160p"):
        assert len(starts[name]) >= len(source) - 1
        common = min(len(source), len(starts[name]))
        assert starts[name][:common] == source[:common], name


@LADDER
async def test_encoder_crash_leaves_the_source_going(
    server: Server, sample: Sample, nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    alice = await go_live(nursery, server, sample.path, loops=2)
    session = await _wait_rungs(server, "alice", 2)
    master = parse_master_playlist((await server.client.get("/live/alice/master.m3u8")).text)
    assert len(master) == 3
    ladder = session.ladder
    assert isinstance(ladder, Ladder) and ladder.process is not None
    before = session.source.segments_added
    with caplog.at_level(logging.ERROR, logger="trioflix.live.hls.transcoder"):
        ladder.process.kill()
        with trio.fail_after(5):
            while any(not r.dropped for r in session.rungs.values()):  # noqa: ASYNC110
                await trio.sleep(0.05)
    assert "the ladder process died" in caplog.text
    master = parse_master_playlist((await server.client.get("/live/alice/master.m3u8")).text)
    assert [a["RESOLUTION"] for a, _ in master] == ["640x360"]
    rung = parse_media_playlist((await server.client.get("/live/alice/240p/index.m3u8")).text)
    assert rung.ended
    # The source rendition goes on.
    with trio.fail_after(10):
        while session.source.segments_added < before + 2:  # noqa: ASYNC110
            await trio.sleep(0.1)
    assert not parse_media_playlist(session.source.text).ended
    alice.publisher.terminate()


@LADDER
async def test_rung_behind_real_time_is_dropped_highest_first(
    server: Server, sample: Sample, nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    alice = await go_live(nursery, server, sample.path, loops=2)
    session = await _wait_rungs(server, "alice", 2)
    ladder = session.ladder
    assert isinstance(ladder, Ladder)
    # No encoder is that fast: with a 1 ms allowance every rung is "behind".
    ladder.lag_limit_ms = -1_000_000
    with caplog.at_level(logging.WARNING, logger="trioflix.live.hls.transcoder"):
        with trio.fail_after(5):
            while not session.rungs["240p"].dropped:  # noqa: ASYNC110
                await trio.sleep(0.05)
        # One at a time: the lower rung gets DROP_INTERVAL_S to catch up.
        assert not session.rungs["160p"].dropped
    assert "dropping rung 240p from the master playlist" in caplog.text
    master = parse_master_playlist((await server.client.get("/live/alice/master.m3u8")).text)
    assert [a["RESOLUTION"] for a, _ in master] == ["640x360", "284x160"]
    # The rung leaves the master playlist at once; its own playlist ends once its
    # encoder's pipe is closed (CI once asked in between).
    with trio.fail_after(5):
        while not parse_media_playlist(session.rungs["240p"].text).ended:  # noqa: ASYNC110
            await trio.sleep(0.05)
    assert ladder.process is not None and ladder.process.returncode is None
    alice.publisher.terminate()
