"""Initialization segments, from the codec records of real FLV files and hand-made ones,
read back box by box."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from protocols import flv, fmp4

from .helpers import Box, full, parse_boxes, read_flv, u

VECTORS = Path(__file__).parents[1] / "flv" / "vectors"
H264 = read_flv(VECTORS / "ffmpeg-h264-aac.flv")
HEVC = read_flv(VECTORS / "pyav-hevc-aac.flv")
assert isinstance(H264.video_config, flv.AVCDecoderConfig)
assert isinstance(HEVC.video_config, flv.HEVCDecoderConfig)
assert H264.audio_config is not None
AVC_CONFIG = H264.video_config
HEVC_CONFIG = HEVC.video_config
AAC_CONFIG = H264.audio_config

VISUAL_SAMPLE_ENTRY_BYTES = 78  # 14496-12 12.1.3, before the codec's boxes
AUDIO_SAMPLE_ENTRY_BYTES = 28  # 14496-12 12.2.3


def moov_of(init: bytes) -> Box:
    ftyp, moov = parse_boxes(init)
    assert ftyp.type == b"ftyp"
    assert ftyp.payload[:4] == b"iso5"
    assert moov.type == b"moov"
    return moov


def tracks(moov: Box) -> dict[int, Box]:
    return {u(full(t.find(b"tkhd"))[2], 8, 4): t for t in moov.all(b"trak")}


def sample_entry(trak: Box) -> Box:
    _, _, rest = full(trak.find(b"mdia", b"minf", b"stbl", b"stsd"))
    assert u(rest, 0, 4) == 1
    (entry,) = parse_boxes(rest[4:])
    return entry


def entry_children(entry: Box, fixed: int) -> list[Box]:
    assert u(entry.payload, 6, 2) == 1  # data_reference_index
    return parse_boxes(entry.payload[fixed:])


def timescale(trak: Box) -> int:
    return u(full(trak.find(b"mdia", b"mdhd"))[2], 8, 4)


def handler(trak: Box) -> bytes:
    return full(trak.find(b"mdia", b"hdlr"))[2][4:8]


def trex_ids(moov: Box) -> list[int]:
    return [u(full(t)[2], 0, 4) for t in moov.find(b"mvex").all(b"trex")]


def descriptors(data: bytes) -> dict[int, bytes]:
    """ISO/IEC 14496-1 descriptors, nested ones flattened: {tag: body}."""
    out: dict[int, bytes] = {}
    pos = 0
    while pos < len(data):
        tag, size = data[pos], 0
        pos += 1
        while True:  # 8.3.3 expandable size: 7 bits per byte, top bit = more follow
            size = (size << 7) | (data[pos] & 0x7F)
            pos += 1
            if not data[pos - 1] & 0x80:
                break
        body = data[pos : pos + size]
        out[tag] = body
        nested = {3: 3, 4: 13}.get(tag)  # ES_Descriptor, DecoderConfigDescriptor headers
        if nested is not None:
            out.update(descriptors(body[nested:]))
        pos += size
    return out


def test_avc_and_aac_tracks() -> None:
    moov = moov_of(fmp4.init_segment(video=AVC_CONFIG, audio=AAC_CONFIG))
    assert [c.type for c in moov.children] == [b"mvhd", b"trak", b"trak", b"mvex"]
    by_id = tracks(moov)
    video, audio = by_id[fmp4.VIDEO_TRACK_ID], by_id[fmp4.AUDIO_TRACK_ID]
    assert (handler(video), timescale(video)) == (b"vide", fmp4.VIDEO_TIMESCALE)
    assert (handler(audio), timescale(audio)) == (b"soun", 44100)
    assert trex_ids(moov) == [fmp4.VIDEO_TRACK_ID, fmp4.AUDIO_TRACK_ID]

    avc1 = sample_entry(video)
    assert avc1.type == b"avc1"
    assert (u(avc1.payload, 24, 2), u(avc1.payload, 26, 2)) == (160, 120)  # from the SPS
    tkhd = full(video.find(b"tkhd"))[2]
    assert (u(tkhd, 72, 4), u(tkhd, 76, 4)) == (160 << 16, 120 << 16)
    (avcc,) = entry_children(avc1, VISUAL_SAMPLE_ENTRY_BYTES)
    assert avcc.type == b"avcC"
    assert flv.parse_avc_config(avcc.payload) == AVC_CONFIG

    mp4a = sample_entry(audio)
    assert mp4a.type == b"mp4a"
    assert u(mp4a.payload, 16, 2) == AAC_CONFIG.channel_config == 1  # channelcount: mono
    assert u(mp4a.payload, 24, 4) == 44100 << 16
    (esds,) = entry_children(mp4a, AUDIO_SAMPLE_ENTRY_BYTES)
    found = descriptors(full(esds)[2])
    assert found[4][:2] == b"\x40\x15"  # MPEG-4 Audio, AudioStream
    assert found[5] == AAC_CONFIG.raw
    assert found[6] == b"\x02"


def test_hevc_track_carries_its_record_and_the_given_size() -> None:
    moov = moov_of(fmp4.init_segment(video=HEVC_CONFIG, size=(160, 120)))
    assert [c.type for c in moov.children] == [b"mvhd", b"trak", b"mvex"]
    (video,) = tracks(moov).values()
    hvc1 = sample_entry(video)
    assert hvc1.type == b"hvc1"
    assert (u(hvc1.payload, 24, 2), u(hvc1.payload, 26, 2)) == (160, 120)
    (hvcc,) = entry_children(hvc1, VISUAL_SAMPLE_ENTRY_BYTES)
    assert hvcc.type == b"hvcC"
    assert flv.parse_hevc_config(hvcc.payload) == HEVC_CONFIG
    assert trex_ids(moov) == [fmp4.VIDEO_TRACK_ID]


def picture_size(init: bytes) -> tuple[int, int]:
    (video,) = [t for t in tracks(moov_of(init)).values() if handler(t) == b"vide"]
    entry = sample_entry(video)
    return u(entry.payload, 24, 2), u(entry.payload, 26, 2)


def test_hevc_size_comes_from_its_sps() -> None:
    assert picture_size(fmp4.init_segment(video=HEVC_CONFIG)) == (160, 120)


class Bits:
    """An H.265 bit string: u(n) and ue(v) fields, then RBSP trailing bits and emulation
    prevention (7.4.2), as an encoder writes a parameter set."""

    def __init__(self) -> None:
        self.bits = ""

    def u(self, value: int, n: int) -> Bits:
        self.bits += format(value, f"0{n}b") if n else ""
        return self

    def ue(self, value: int) -> Bits:
        code = format(value + 1, "b")
        self.bits += "0" * (len(code) - 1) + code
        return self

    def nal(self) -> bytes:
        bits = self.bits + "1"
        bits += "0" * (-len(bits) % 8)
        rbsp = int(bits, 2).to_bytes(len(bits) // 8, "big")
        out = bytearray()
        for byte in rbsp:
            if len(out) >= 2 and out[-2:] == b"\x00\x00" and byte <= 3:
                out.append(3)
            out.append(byte)
        return b"\x42\x01" + bytes(out)  # NAL header: SPS, layer 0, temporal id 0


def hevc_sps(
    width: int,
    height: int,
    *,
    sub_layers: tuple[tuple[int, int], ...] = (),
    chroma: int = 1,
    separate_planes: int = 0,
    window: tuple[int, int, int, int] | None = None,
) -> bytes:
    bits = Bits().u(0, 4).u(len(sub_layers), 3).u(1, 1)
    bits.u(0x01600000, 32).u(0, 32).u(0, 32)  # general profile_tier_level, level_idc 0
    for profile_present, level_present in sub_layers:
        bits.u(profile_present, 1).u(level_present, 1)
    if sub_layers:
        bits.u(0, 2 * (8 - len(sub_layers)))
    for profile_present, level_present in sub_layers:
        bits.u(0, 88 * profile_present).u(0, 8 * level_present)
    bits.ue(0).ue(chroma)
    if chroma == 3:
        bits.u(separate_planes, 1)
    bits.ue(width).ue(height).u(window is not None, 1)
    for offset in window or ():
        bits.ue(offset)
    bits.ue(0).ue(0).ue(0)  # bit depths, log2_max_pic_order_cnt_lsb: beyond what is read
    return bits.nal()


def with_sps(*sps: bytes) -> flv.HEVCDecoderConfig:
    arrays = [a for a in HEVC_CONFIG.arrays if a.nal_type != flv.HEVCNalType.SPS]
    if sps:
        arrays.append(flv.HEVCNalArray(nal_type=flv.HEVCNalType.SPS, complete=True, units=sps))
    return dataclasses.replace(HEVC_CONFIG, arrays=tuple(arrays))


@pytest.mark.parametrize(
    ("sps", "size"),
    [
        (hevc_sps(1920, 1088, window=(0, 0, 0, 4)), (1920, 1080)),  # 4:2:0: 2 rows a unit
        (hevc_sps(1280, 720, sub_layers=((1, 1), (0, 1), (1, 0))), (1280, 720)),
        (hevc_sps(64, 64, chroma=2, window=(1, 2, 3, 0)), (58, 61)),  # 4:2:2: 2 columns
        (hevc_sps(64, 64, chroma=3, window=(1, 2, 3, 0)), (61, 61)),  # 4:4:4: no subsampling
        (hevc_sps(64, 64, chroma=3, separate_planes=1, window=(1, 0, 0, 1)), (63, 63)),
        (hevc_sps(64, 64, chroma=0, window=(1, 1, 1, 1)), (62, 62)),  # monochrome
    ],
    ids=["4:2:0", "sub-layers", "4:2:2", "4:4:4", "separate-planes", "monochrome"],
)
def test_hevc_size_reads_the_conformance_window(sps: bytes, size: tuple[int, int]) -> None:
    assert picture_size(fmp4.init_segment(video=with_sps(sps))) == size


def test_hevc_without_sps_has_no_size() -> None:
    assert picture_size(fmp4.init_segment(video=with_sps())) == (0, 0)


@pytest.mark.parametrize(
    ("sps", "message"),
    [
        (hevc_sps(1280, 720)[:12], "bad HEVC SPS in the hvcC record: parameter set is truncated"),
        (hevc_sps(16, 16, window=(4, 4, 0, 0)), "conformance window leaves no picture"),
        (hevc_sps(16, 16, window=(0, 0, 8, 0)), "conformance window leaves no picture"),
    ],
    ids=["truncated", "no-width", "no-height"],
)
def test_hevc_sps_that_gives_no_size(sps: bytes, message: str) -> None:
    with pytest.raises(fmp4.FMP4Error, match=message):
        fmp4.init_segment(video=with_sps(sps))


def test_avc_record_without_sps_has_no_size() -> None:
    config = dataclasses.replace(AVC_CONFIG, sps=())
    (video,) = tracks(moov_of(fmp4.init_segment(video=config))).values()
    avc1 = sample_entry(video)
    assert avc1.payload[24:28] == bytes(4)
    (avcc,) = entry_children(avc1, VISUAL_SAMPLE_ENTRY_BYTES)
    assert flv.parse_avc_config(avcc.payload) == config


def test_audio_only() -> None:
    moov = moov_of(fmp4.init_segment(audio=AAC_CONFIG))
    assert list(tracks(moov)) == [fmp4.AUDIO_TRACK_ID]
    assert trex_ids(moov) == [fmp4.AUDIO_TRACK_ID]


@pytest.mark.parametrize(
    ("asc", "rate", "channels", "samplerate_field"),
    [
        (bytes((0x10, 0x00)), 96000, 0, 0),  # above 16.16: written as 0
        (bytes((0x11, 0x80)), 48000, 0, 48000 << 16),  # channel config 0: stereo
        (bytes((0x11, 0xB8)), 48000, 7, 48000 << 16),  # 7.1: eight channels
    ],
)
def test_audio_sample_entry_fields(
    asc: bytes, rate: int, channels: int, samplerate_field: int
) -> None:
    config = flv.parse_audio_specific_config(asc)
    assert (config.sample_rate, config.channel_config) == (rate, channels)
    (audio,) = tracks(moov_of(fmp4.init_segment(audio=config))).values()
    assert timescale(audio) == rate
    mp4a = sample_entry(audio)
    assert u(mp4a.payload, 16, 2) == {0: 2, 7: 8}[channels]
    assert u(mp4a.payload, 24, 4) == samplerate_field


def test_needs_a_track() -> None:
    with pytest.raises(fmp4.FMP4Error, match="needs a video or an audio track"):
        fmp4.init_segment()


@pytest.mark.parametrize(
    ("video", "audio", "message"),
    [
        (dataclasses.replace(AVC_CONFIG, sps=(AVC_CONFIG.sps[0],) * 32), None, "at most 31 SPS"),
        (dataclasses.replace(AVC_CONFIG, pps=(b"\x68",) * 256), None, "255 PPS"),
        (
            dataclasses.replace(AVC_CONFIG, pps=(b"\x68" * 0x10000,)),
            None,
            "PPS of 65536 bytes does not fit",
        ),
        (dataclasses.replace(AVC_CONFIG, sps=(b"\x67",)), None, "bad H.264 SPS"),
        (
            dataclasses.replace(HEVC_CONFIG, arrays=HEVC_CONFIG.arrays * 86),
            None,
            "at most 255 NAL unit arrays",
        ),
        (
            dataclasses.replace(
                HEVC_CONFIG,
                arrays=(flv.HEVCNalArray(nal_type=39, complete=False, units=(b"\x4e",) * 0x10000),),
            ),
            None,
            "at most 255 NAL unit arrays of 65535 units",
        ),
        (None, dataclasses.replace(AAC_CONFIG, raw=b""), "no raw bytes"),
        (None, dataclasses.replace(AAC_CONFIG, sample_rate=0), "cannot be a timescale"),
    ],
)
def test_records_a_sample_entry_cannot_carry(
    video: fmp4.VideoConfig | None, audio: flv.AudioSpecificConfig | None, message: str
) -> None:
    with pytest.raises(fmp4.FMP4Error, match=message):
        fmp4.init_segment(video=video, audio=audio)


@pytest.mark.parametrize(
    ("video", "size"),
    [
        (AVC_CONFIG, (65536, 120)),
        (AVC_CONFIG, (160, 65536)),
        (with_sps(hevc_sps(65536, 16)), None),
    ],
    ids=["given-width", "given-height", "from-sps"],
)
def test_a_picture_larger_than_a_sample_entry_holds(
    video: fmp4.VideoConfig, size: tuple[int, int] | None
) -> None:
    with pytest.raises(fmp4.FMP4Error, match="does not fit a sample entry"):
        fmp4.init_segment(video=video, size=size)
