"""The ladder transcodes only the rungs a multitrack encoder does not send itself, and
keeps no input when it has nothing to transcode."""

from __future__ import annotations

import tracemalloc
from typing import TYPE_CHECKING

import trio

from protocols import flv
from trioflix.live.channel.packets import Kind, Packet
from trioflix.live.channel.stream import LiveStream
from trioflix.live.hls.ladder_spec import parse_ladder
from trioflix.live.hls.rendition import Rendition
from trioflix.live.hls.track_renditions import covered_heights
from trioflix.live.hls.transcoder import Ladder, LadderSettings
from trioflix.live.hls.writer import SOURCE

if TYPE_CHECKING:
    from datetime import datetime
    from pathlib import Path

    from trioflix.live.hls.cmaf import CMAFRendition

# SPS and PPS from libx264 (640x360, High profile, level 3.0) in an AVCDecoderConfigurationRecord.
SPS = bytes.fromhex("6764001eacd940a02ff9610000030001000003003c0f162d96")
PPS = bytes.fromhex("68ebe3cb22c0")
RECORD = bytes((1, 0x64, 0x00, 0x1E, 0xFF, 0xE1, 0, len(SPS))) + SPS + bytes((1, 0, len(PPS))) + PPS


class Host:
    """The session side of the ladder: hands out renditions, remembers their names."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.limiter = trio.CapacityLimiter(1)
        self.names: list[str] = []

    @property
    def paused(self) -> bool:
        return False

    def new_rung(self, name: str, *, nominal_bps: int, resolution: tuple[int, int]) -> Rendition:
        self.names.append(name)
        return Rendition(
            name,
            self.directory / name,
            session_id=1,
            target_duration_s=3,
            limiter=self.limiter,
            nominal_bps=nominal_bps,
            resolution=resolution,
        )

    def program_date_time(self, timestamp_ms: int) -> datetime | None:
        return None

    def low_latency(self, name: str) -> CMAFRendition | None:
        return None

    async def rung_changed(self) -> None:
        pass


def multitrack_stream() -> LiveStream:
    """A 1080p publisher that also sends a 640x360 track (track 1)."""
    stream = LiveStream(channel="alice", user_id=1, session_id=1, key_id=1, started_at=0.0)
    stream.new_publisher()
    track = flv.MultitrackVideoTag(
        frame_type=1,
        multitrack_type=flv.AvMultitrackType.ONE_TRACK,
        packet_type=flv.VideoPacketType.SEQUENCE_START,
        tracks=(flv.TrackPacket(track_id=1, fourcc="avc1", data=RECORD),),
    )
    stream.publish(Kind.VIDEO, 0, flv.encode_multitrack_video(track))
    stream.stats.width, stream.stats.height = 1920, 1080  # as the default track's SPS says
    return stream


def test_covered_rungs_are_not_transcoded(tmp_path: Path) -> None:
    stream = multitrack_stream()
    assert covered_heights(stream) == {360}
    host = Host(tmp_path)
    ladder_for(stream, host, "720p,480p,360p")
    assert host.names == [SOURCE, "720p", "480p"]  # 360p comes from the encoder


FRAME = b"\x27\x01\x00\x00\x00" + bytes(100_000)  # an inter frame's FLV tag body


def fed_bytes_kept(ladder: Ladder, frames: int) -> int:
    """Memory still held after ``frames`` frames of 100 kB went into the ladder."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for index in range(frames):
            ladder.feed(Packet(Kind.VIDEO, 33 * (index + 1), FRAME), None)
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def ladder_for(stream: LiveStream, host: Host, ladder: str) -> Ladder:
    """A ladder of ``stream``'s session, fed its video sequence header."""
    settings = LadderSettings(
        rungs=parse_ladder(ladder), preset="veryfast", segment_ms=2000, max_segment_ms=3000
    )
    size = (stream.stats.width or 0, stream.stats.height or 0)
    source = host.new_rung(SOURCE, nominal_bps=0, resolution=size)
    built = Ladder(
        settings,
        host,
        channel="alice",
        source=source,
        stats=stream.stats,
        covered=lambda: covered_heights(stream),
    )
    built.feed(Packet(Kind.VIDEO, 0, b"\x17\x00\x00\x00\x00" + RECORD, config=True), None)
    return built


def small_stream() -> LiveStream:
    """A 640x360 publisher."""
    stream = LiveStream(channel="alice", user_id=1, session_id=1, key_id=1, started_at=0.0)
    stream.new_publisher()
    stream.stats.width, stream.stats.height = 640, 360
    return stream


def test_a_source_below_every_rung_keeps_no_input(tmp_path: Path) -> None:
    """Every video tag was queued for a child that never started: 16 MiB a channel."""
    host = Host(tmp_path)
    ladder = ladder_for(small_stream(), host, "720p,480p,360p")
    assert host.names == [SOURCE]  # no rung below 360p
    assert fed_bytes_kept(ladder, 100) < 1_000_000  # 10 MB fed


def test_a_ladder_whose_rungs_were_all_dropped_keeps_no_input(tmp_path: Path) -> None:
    host = Host(tmp_path)
    ladder = ladder_for(small_stream(), host, "240p")
    assert host.names == [SOURCE, "240p"]
    assert fed_bytes_kept(ladder, 20) > 1_000_000  # queued for the child while it lives
    for rung in ladder.rungs:  # as when the child dies or the rung falls behind
        rung.rendition.dropped = True
    assert fed_bytes_kept(ladder, 100) < 1_000_000
