"""The HLS session worker without sockets: a LiveStream fed from a sample, both endings."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import trio
import trio.testing

from protocols import flv, hls
from trioflix.config import Settings
from trioflix.live.channel.packets import Kind
from trioflix.live.channel.stream import LiveStream
from trioflix.live.hls.hub import HLSHub
from trioflix.live.hls.rendition import Rendition

from .helpers import check_playlist_rules, decode_errors, parse_media_playlist

if TYPE_CHECKING:
    from pathlib import Path

    from tests.interop.media import Sample

pytestmark = pytest.mark.slow

SAMPLE_SECONDS = 5  # the sample fixture's length


def _tags(path: Path) -> list[flv.FLVTag]:
    reader = flv.FLVReader()
    reader.receive_data(path.read_bytes())
    reader.receive_data(b"")
    tags = []
    while (event := reader.next_event()) is not flv.NEED_DATA:
        if isinstance(event, flv.FLVEnd):
            break
        if isinstance(event, flv.FLVTag) and event.tag_type in (Kind.AUDIO, Kind.VIDEO):
            tags.append(event)
    return tags


@pytest.mark.parametrize("ending", ["session_ends", "server_cancels"])
async def test_worker_finalises_playlist(ending: str, sample: Sample, tmp_path: Path) -> None:
    hub = HLSHub(Settings(data_dir=tmp_path, hls_ladder="off"))
    stream = LiveStream(channel="alice", user_id=1, session_id=7, key_id=1, started_at=0.0)
    stream.new_publisher()
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(hub.session_worker, stream)
            await trio.testing.wait_all_tasks_blocked()  # it has subscribed
            for tag in _tags(sample.path):
                stream.publish(Kind(tag.tag_type), tag.timestamp_ms, tag.data)
            session = hub.session("alice")
            assert session is not None
            while session.source.segments_added < 2:  # noqa: ASYNC110 (a thread writes them)
                await trio.sleep(0.02)
            assert not session.source.playlist.ended
            if ending == "session_ends":
                stream.end("publisher stopped")
            else:
                nursery.cancel_scope.cancel()
    playlist_path = tmp_path / "live" / "alice" / "7" / "source" / "index.m3u8"
    playlist = parse_media_playlist(playlist_path.read_text())
    assert playlist.ended
    # The open segment was flushed too: every frame made it into a segment.
    assert len(playlist.segments) == 3
    check_playlist_rules(playlist, 2000)
    for segment in playlist.segments:
        assert decode_errors(playlist_path.parent / segment.uri) == ""
    assert (tmp_path / "live" / "alice" / "7" / "master.m3u8").exists()
    assert not list((tmp_path / "live").rglob(".*.tmp"))


async def test_sweep_deletes_ended_sessions_after_linger(sample: Sample, tmp_path: Path) -> None:
    hub = HLSHub(Settings(data_dir=tmp_path, hls_ladder="off"))
    stream = LiveStream(channel="bob", user_id=1, session_id=8, key_id=1, started_at=0.0)
    stream.new_publisher()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(hub.session_worker, stream)
        await trio.testing.wait_all_tasks_blocked()
        for tag in _tags(sample.path)[:40]:
            stream.publish(Kind(tag.tag_type), tag.timestamp_ms, tag.data)
        stream.end("publisher stopped")
    session = hub.session("bob")
    assert session is not None and session.ended_at is not None
    directory = session.directory
    assert directory.exists()
    await hub.sweep(session.ended_at + 1)
    assert hub.session("bob") is session  # still lingering for players finishing
    await hub.sweep(session.ended_at + 61)
    assert hub.session("bob") is None
    assert hub.session("bob", 8) is None
    assert not directory.exists()


async def test_a_segment_written_as_its_playlist_ends_is_dropped(tmp_path: Path) -> None:
    """A ladder rung's last segment is being written when the session ends its playlist:
    the segment is not listed after EXT-X-ENDLIST (that raised, and took the session's
    HLS worker down), and its file is removed."""
    limiter = trio.CapacityLimiter(1)
    rendition = Rendition("240p", tmp_path, session_id=1, target_duration_s=2, limiter=limiter)
    segment = hls.SegmentFinished(
        sequence=0,
        start_ms=0,
        duration_ms=2000,
        chunks=(b"\x47" * 188,),
        discontinuity=False,
        independent=True,
    )
    async with trio.open_nursery() as nursery:
        async with limiter:  # the disk is busy: the segment's write waits its turn
            nursery.start_soon(rendition.add, segment, None)
            await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(rendition.end)  # the playlist ends at once, its file waits
            await trio.testing.wait_all_tasks_blocked()
    playlist = parse_media_playlist(await trio.Path(tmp_path / "index.m3u8").read_text())
    assert playlist.ended and playlist.segments == []
    assert [p.name for p in await trio.Path(tmp_path).iterdir()] == ["index.m3u8"]
