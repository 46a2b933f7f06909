"""The tests' own reading of ISO/IEC 14496-12 boxes, and FLV files turned into samples.

Written from the standard, independently of :mod:`protocols.fmp4`: a box is only what
this reader finds, and each box the muxer writes is read field by field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from protocols import flv

if TYPE_CHECKING:
    from pathlib import Path

# Boxes whose payload is nothing but child boxes (14496-12 8.1-8.8).
CONTAINERS = frozenset(
    {b"moov", b"trak", b"mdia", b"minf", b"dinf", b"stbl", b"mvex", b"moof", b"traf"}
)


@dataclass
class Box:
    type: bytes
    payload: bytes
    children: list[Box] = field(default_factory=list)

    def find(self, *path: bytes) -> Box:
        """The one child at ``path`` (each step must match exactly one box)."""
        box = self
        for step in path:
            (box,) = [c for c in box.children if c.type == step]
        return box

    def all(self, box_type: bytes) -> list[Box]:
        return [c for c in self.children if c.type == box_type]


def parse_boxes(data: bytes, containers: frozenset[bytes] = CONTAINERS) -> list[Box]:
    """Split ``data`` into boxes whose 32-bit sizes tile it exactly; descend into
    ``containers``. Asserts on any size that does not fit."""
    boxes = []
    pos = 0
    while pos < len(data):
        assert pos + 8 <= len(data), "truncated box header"
        size = int.from_bytes(data[pos : pos + 4], "big")
        assert 8 <= size <= len(data) - pos, f"box size {size} does not fit"
        box_type = data[pos + 4 : pos + 8]
        payload = data[pos + 8 : pos + size]
        children = parse_boxes(payload, containers) if box_type in containers else []
        boxes.append(Box(box_type, payload, children))
        pos += size
    return boxes


def full(box: Box) -> tuple[int, int, bytes]:
    """(version, flags, rest) of a FullBox."""
    return box.payload[0], int.from_bytes(box.payload[1:4], "big"), box.payload[4:]


def u(data: bytes, pos: int, n: int) -> int:
    return int.from_bytes(data[pos : pos + n], "big")


@dataclass
class TrunSample:
    duration: int
    size: int
    flags: int | None
    composition_offset: int | None


@dataclass
class Traf:
    track_id: int
    tfhd_flags: int
    default_sample_flags: int | None
    base_decode_time: int
    trun_version: int
    data_offset: int
    samples: list[TrunSample]


def read_traf(traf: Box) -> Traf:
    """tfhd, tfdt and trun of a traf, as 14496-12 8.8.7, 8.8.12 and 8.8.8 define them."""
    _, tfhd_flags, rest = full(traf.find(b"tfhd"))
    track_id = u(rest, 0, 4)
    pos = 4
    for flag, size in ((0x01, 8), (0x02, 4), (0x08, 4), (0x10, 4)):
        pos += size if tfhd_flags & flag else 0
    default_flags = u(rest, pos, 4) if tfhd_flags & 0x20 else None
    tfdt_version, _, rest = full(traf.find(b"tfdt"))
    base = u(rest, 0, 8 if tfdt_version == 1 else 4)
    version, flags, rest = full(traf.find(b"trun"))
    count = u(rest, 0, 4)
    pos = 4
    data_offset = 0
    if flags & 0x01:
        data_offset = int.from_bytes(rest[pos : pos + 4], "big", signed=True)
        pos += 4
    assert not flags & 0x04, "first_sample_flags is not written"
    samples = []
    for _ in range(count):
        values: list[int | None] = []
        for flag in (0x100, 0x200, 0x400, 0x800):
            if flags & flag:
                values.append(
                    int.from_bytes(
                        rest[pos : pos + 4], "big", signed=flag == 0x800 and version == 1
                    )
                )
                pos += 4
            else:
                values.append(None)
        duration, sample_size, sample_flags, offset = values
        assert duration is not None and sample_size is not None
        samples.append(TrunSample(duration, sample_size, sample_flags, offset))
    assert pos == len(rest), "trun has trailing bytes"
    return Traf(track_id, tfhd_flags, default_flags, base, version, data_offset, samples)


@dataclass
class ReadFragment:
    """A moof + mdat pair, read back: its sequence number, trafs and every sample's bytes."""

    sequence: int
    trafs: list[Traf]
    sample_data: dict[int, list[bytes]]


def read_fragment(data: bytes) -> ReadFragment:
    moof, mdat = parse_boxes(data)
    assert (moof.type, mdat.type) == (b"moof", b"mdat")
    _, _, rest = full(moof.find(b"mfhd"))
    trafs = [read_traf(t) for t in moof.all(b"traf")]
    samples: dict[int, list[bytes]] = {}
    # The trafs' samples tile the mdat payload, one track after another.
    pos = len(data) - len(mdat.payload)
    for traf in trafs:
        assert traf.tfhd_flags & 0x020000  # default-base-is-moof: offsets from the moof
        assert traf.data_offset == pos, (traf.data_offset, pos)
        chunk = []
        for sample in traf.samples:
            chunk.append(data[pos : pos + sample.size])
            pos += sample.size
        samples[traf.track_id] = chunk
    assert pos == len(data), "mdat holds bytes no sample owns"
    return ReadFragment(u(rest, 0, 4), trafs, samples)


@dataclass
class FLVMedia:
    """An FLV file's codec records and coded samples: (kind, dts ms, tag) in file order."""

    video_config: flv.AVCDecoderConfig | flv.HEVCDecoderConfig | None
    audio_config: flv.AudioSpecificConfig | None
    samples: list[tuple[str, int, flv.VideoTag | flv.ExVideoTag | flv.AudioTag]]

    def video(self) -> list[flv.VideoTag | flv.ExVideoTag]:
        return [t for k, _, t in self.samples if k == "video" and not isinstance(t, flv.AudioTag)]

    def times(self, kind: str) -> list[int]:
        return [ts for k, ts, _ in self.samples if k == kind]


def read_flv(source: Path | bytes) -> FLVMedia:
    reader = flv.FLVReader()
    reader.receive_data(source if isinstance(source, bytes) else source.read_bytes())
    reader.receive_data(b"")
    media = FLVMedia(None, None, [])
    while not isinstance(event := reader.next_event(), flv.FLVEnd):
        if not isinstance(event, flv.FLVTag):
            continue
        if event.tag_type == flv.TagType.VIDEO:
            video = flv.parse_video_tag(event.data)
            if video.is_sequence_header:
                media.video_config = (
                    flv.parse_avc_config(video.data)
                    if video.fourcc == "avc1"
                    else flv.parse_hevc_config(video.data)
                )
            elif video.is_coded_frame:
                media.samples.append(("video", event.timestamp_ms, video))
        elif event.tag_type == flv.TagType.AUDIO:
            audio = flv.parse_audio_tag(event.data)
            if audio.is_sequence_header:
                media.audio_config = flv.parse_audio_specific_config(audio.data)
            elif audio.is_aac_frame:
                media.samples.append(("audio", event.timestamp_ms, audio))
    return media
