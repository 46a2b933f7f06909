"""Codec records: AVCDecoderConfigurationRecord, H.264 SPS, HEVCDecoderConfigurationRecord,
AudioSpecificConfig, and the RFC 6381 codec strings built from them."""

from __future__ import annotations

import fractions
import re

import av
import pytest
from av.codec.context import Flags

from protocols import flv


class BitWriter:
    """The test's own H.264 bit writer, to build SPSs that exercise every syntax branch."""

    def __init__(self) -> None:
        self.bits: list[int] = []

    def u(self, n: int, value: int) -> BitWriter:
        self.bits += [(value >> (n - 1 - i)) & 1 for i in range(n)]
        return self

    def ue(self, value: int) -> BitWriter:
        code = value + 1
        return self.u(code.bit_length() - 1, 0).u(code.bit_length(), code)

    def se(self, value: int) -> BitWriter:
        return self.ue(2 * value - 1 if value > 0 else -2 * value)

    def rbsp(self) -> bytes:
        bits = [*self.bits, 1]
        bits += [0] * (-len(bits) % 8)
        return bytes(int("".join(map(str, bits[i : i + 8])), 2) for i in range(0, len(bits), 8))


def escape(rbsp: bytes) -> bytes:
    """Insert emulation-prevention bytes (H.264 7.4.1)."""
    out = bytearray()
    zeros = 0
    for b in rbsp:
        if zeros >= 2 and b <= 3:
            out.append(3)
            zeros = 0
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    return bytes(out)


def sps_from_libx264(width: int, height: int, *, pix_fmt: str = "yuv420p", **options: str) -> bytes:
    cc = av.CodecContext.create("libx264", "w")
    cc.width, cc.height, cc.pix_fmt = width, height, pix_fmt
    cc.time_base = fractions.Fraction(1, 30)
    cc.framerate = fractions.Fraction(30, 1)
    cc.flags |= Flags.global_header
    cc.options = {"preset": "veryfast", **options}
    cc.open()
    assert cc.extradata is not None
    (sps,) = [n for n in re.split(b"\x00\x00\x01", bytes(cc.extradata)) if n and n[0] & 0x1F == 7]
    return sps.rstrip(b"\x00")


@pytest.mark.parametrize(
    ("width", "height", "pix_fmt", "options", "profile"),
    [
        (640, 360, "yuv420p", {"profile": "baseline"}, 66),  # cropped 368 -> 360
        (1920, 1080, "yuv420p", {}, 100),  # cropped 1088 -> 1080
        (1280, 720, "yuv420p", {"x264-params": "cqm=jvt"}, 100),  # scaling matrices
        (720, 576, "yuv420p", {"x264-params": "interlaced=1"}, 100),  # frame_mbs_only = 0
        (320, 180, "yuv444p", {}, 244),  # 4:4:4: crop unit 1
        (320, 180, "gray", {}, 100),  # 4:0:0: ChromaArrayType 0
        (480, 270, "yuv422p", {}, 122),  # 4:2:2: crop units 2 x 1
    ],
)
def test_sps_from_libx264(
    width: int, height: int, pix_fmt: str, options: dict[str, str], profile: int
) -> None:
    sps = flv.parse_h264_sps(sps_from_libx264(width, height, pix_fmt=pix_fmt, **options))
    assert (sps.width, sps.height, sps.profile) == (width, height, profile)
    assert sps.frame_rate == pytest.approx(30.0)
    assert sps.codec_string == f"avc1.{profile:02X}{sps.compatibility:02X}{sps.level:02X}"


def _sps(*, vui: BitWriter | None = None, poc_type: int = 1, crop: int = 0) -> bytes:
    w = BitWriter().u(8, 77).u(8, 0x40).u(8, 30).ue(0)  # Main profile: no chroma fields
    w.ue(0).ue(poc_type)
    if poc_type == 1:
        w.u(1, 0).se(-1).se(2).ue(2).se(1).se(-3)
    w.ue(1).u(1, 0).ue(7).ue(5).u(1, 1).u(1, 1)  # 128 x 96, frame_mbs_only
    if crop:
        w.u(1, 1).ue(0).ue(crop).ue(0).ue(0)
    else:
        w.u(1, 0)
    if vui is None:
        w.u(1, 0)
    else:
        w.u(1, 1).bits += vui.bits
    return b"\x67" + escape(w.rbsp())


def test_handmade_sps_poc_type_1_without_vui() -> None:
    sps = flv.parse_h264_sps(_sps())
    assert (sps.profile, sps.compatibility, sps.level) == (77, 0x40, 30)
    assert (sps.width, sps.height, sps.frame_rate) == (128, 96, None)
    assert sps.codec_string == "avc1.4D401E"


def test_handmade_sps_with_full_vui() -> None:
    vui = BitWriter().u(1, 1).u(8, 255).u(16, 4).u(16, 3)  # Extended_SAR
    vui.u(1, 1).u(1, 0)  # overscan
    vui.u(1, 1).u(3, 5).u(1, 0).u(1, 1).u(8, 1).u(8, 1).u(8, 1)  # signal type + colour
    vui.u(1, 1).ue(0).ue(0)  # chroma location
    vui.u(1, 1).u(32, 1001).u(32, 60000).u(1, 1)  # timing: 29.97 fps
    sps = flv.parse_h264_sps(_sps(vui=vui, poc_type=2, crop=4))
    assert (sps.width, sps.height) == (120, 96)
    assert sps.frame_rate == pytest.approx(29.97, abs=0.001)


def test_vui_without_or_with_zero_timing() -> None:
    no_timing = BitWriter().u(1, 0).u(1, 0).u(1, 0).u(1, 0).u(1, 0)
    assert flv.parse_h264_sps(_sps(vui=no_timing, poc_type=0)).frame_rate is None
    zero = BitWriter().u(1, 1).u(8, 1).u(1, 0).u(1, 1).u(4, 0).u(1, 0).u(1, 0)
    zero.u(1, 1).u(32, 0).u(32, 1)
    assert flv.parse_h264_sps(_sps(vui=zero, poc_type=0)).frame_rate is None


def test_handmade_high_profile_sps_with_scaling_lists() -> None:
    w = BitWriter().u(8, 100).u(8, 0).u(8, 40).ue(0)
    w.ue(1).ue(0).ue(0).u(1, 0).u(1, 1)  # 4:2:0, 8 bit, seq_scaling_matrix_present_flag
    w.u(1, 1).se(-8)  # list 0: first delta gives 0 -> "use the default matrix", stop
    w.u(1, 0).u(1, 0).u(1, 0).u(1, 0).u(1, 0)  # lists 1-5 absent
    w.u(1, 1)  # list 6 (8x8): 64 deltas
    for i in range(64):
        w.se(1 if i % 2 else -1)
    w.u(1, 0)  # list 7 absent
    w.ue(0).ue(0).ue(0).ue(4).u(1, 0).ue(79).ue(45).u(1, 1).u(1, 1).u(1, 1)  # 1280 x 736
    w.ue(0).ue(0).ue(0).ue(8).u(1, 0)  # crop 8 x 2 rows: 1280 x 720
    sps = flv.parse_h264_sps(b"\x67" + escape(w.rbsp()))
    assert (sps.profile, sps.width, sps.height) == (100, 1280, 720)


def test_emulation_prevention_is_removed() -> None:
    # A long run of zero bits (huge ue(v) width) forces 00 00 03 escapes into the NAL unit.
    w = BitWriter().u(8, 66).u(8, 0).u(8, 0).ue(0).ue(0).ue(0).ue(0).ue(0).u(1, 0)
    w.ue(2**26).ue(0).u(1, 1).u(1, 1).u(1, 0).u(1, 0)
    nal = b"\x67" + escape(w.rbsp())
    assert b"\x00\x00\x03" in nal
    assert flv.parse_h264_sps(nal).width == (2**26 + 1) * 16


@pytest.mark.parametrize(
    ("nal", "message"),
    [
        (b"", "not an H.264 SPS"),
        (b"\x68\x00", "not an H.264 SPS"),
        (b"\x67\x42\x00", "truncated"),
        (b"\x67\x42\x00\x1e" + bytes(5) + b"\x01", "Exp-Golomb code is too long"),
        (_sps(crop=64), "cropping leaves no picture"),
    ],
)
def test_sps_errors(nal: bytes, message: str) -> None:
    with pytest.raises(flv.FLVError, match=message):
        flv.parse_h264_sps(nal)


SPS = b"\x67\x64\x00\x1f\xac"
PPS = b"\x68\xee\x3c\x80"
AVCC = b"\x01\x64\x00\x1f\xff\xe1\x00\x05" + SPS + b"\x01\x00\x04" + PPS


def test_avc_config() -> None:
    config = flv.parse_avc_config(AVCC)
    assert config == flv.AVCDecoderConfig(
        profile=100, compatibility=0, level=31, nal_length_size=4, sps=(SPS,), pps=(PPS,)
    )
    assert config.codec_string == "avc1.64001F"
    assert flv.avc_codec_string(66, 0xC0, 30) == "avc1.42C01E"
    # High-profile trailing fields (chroma_format etc.) are tolerated.
    assert flv.parse_avc_config(AVCC + b"\xfd\xf8\xf8\x00").pps == (PPS,)
    assert flv.parse_avc_config(b"\x01\x42\xc0\x1e\xfd\xe0\x00").nal_length_size == 2


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (AVCC[:5], "truncated"),
        (b"\x02" + AVCC[1:], "version 2"),
        (AVCC[:4] + b"\xfe" + AVCC[5:], "length size 3"),
        (AVCC[:7], "length is truncated"),
        (AVCC[:10], "parameter set is truncated"),
        (AVCC[:13], "before its PPS count"),
    ],
)
def test_avc_config_errors(data: bytes, message: str) -> None:
    with pytest.raises(flv.FLVError, match=message):
        flv.parse_avc_config(data)


def test_encode_avc_config_round_trips() -> None:
    config = flv.parse_avc_config(AVCC)
    assert flv.encode_avc_config(config) == AVCC
    two = flv.AVCDecoderConfig(
        profile=66, compatibility=0xC0, level=30, nal_length_size=2, sps=(), pps=(PPS, PPS)
    )
    assert flv.parse_avc_config(flv.encode_avc_config(two)) == two


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"nal_length_size": 3}, "length size 3"),
        ({"sps": (SPS,) * 32}, "too many parameter sets"),
        ({"pps": (PPS,) * 256}, "too many parameter sets"),
        ({"pps": (b"\x68" * 0x10000,)}, "longer than 65535"),
    ],
)
def test_encode_avc_config_errors(changes: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {
        "profile": 100,
        "compatibility": 0,
        "level": 31,
        "nal_length_size": 4,
        "sps": (SPS,),
        "pps": (PPS,),
    }
    config = flv.AVCDecoderConfig(**(fields | changes))  # type: ignore[arg-type]
    with pytest.raises(flv.FLVError, match=message):
        flv.encode_avc_config(config)


@pytest.mark.parametrize(
    ("data", "units"),
    [
        (b"\x00\x00\x00\x01" + SPS + b"\x00\x00\x01" + PPS, [SPS, PPS]),
        (b"\x00\x00\x01" + SPS + b"\x00\x00\x00\x01" + PPS, [SPS, PPS]),
        (b"junk\x00\x00\x01" + SPS, [SPS]),  # bytes before the first start code
        (b"\x00\x00\x01\x00\x00\x01" + PPS + b"\x00\x00\x01", [PPS]),  # empty units
        (SPS, []),
        (b"", []),
    ],
)
def test_split_annex_b(data: bytes, units: list[bytes]) -> None:
    assert flv.split_annex_b(data) == units


VPS = b"\x40\x01\x0c"
HSPS = b"\x42\x01\x01"
HPPS = b"\x44\x01\xc1"


def hvcc(*, length_byte: int = 0x0F, arrays: bytes | None = None) -> bytes:
    fixed = bytes((1, 0x01)) + b"\x60\x00\x00\x00" + b"\xb0\x00\x00\x00\x00\x00" + bytes((93,))
    fixed += b"\xf0\x00\xfc\xfd\xf8\xf8\x00\x00" + bytes((length_byte,))
    if arrays is None:
        arrays = b"\x03" + b"".join(
            bytes((0x80 | t,)) + b"\x00\x01" + len(n).to_bytes(2, "big") + n
            for t, n in ((32, VPS), (33, HSPS), (34, HPPS))
        )
    return fixed + arrays


def test_hevc_config_and_codec_string() -> None:
    config = flv.parse_hevc_config(hvcc())
    assert config.vps == (VPS,) and config.sps == (HSPS,) and config.pps == (HPPS,)
    assert config.nal_length_size == 4
    assert (config.profile_idc, config.level_idc, config.tier_flag) == (1, 93, 0)
    assert (config.chroma_format, config.bit_depth_luma, config.bit_depth_chroma) == (1, 8, 8)
    assert config.arrays[0] == flv.HEVCNalArray(nal_type=32, complete=True, units=(VPS,))
    assert config.codec_string == "hvc1.1.6.L93.B0"  # ISO/IEC 14496-15 E.3 example
    high = flv.parse_hevc_config(hvcc()[:1] + b"\x22" + hvcc()[2:])
    assert high.codec_string == "hvc1.2.6.H93.B0"
    spaced = flv.parse_hevc_config(hvcc()[:1] + b"\x81" + hvcc()[2:6] + bytes(6) + hvcc()[12:])
    assert spaced.codec_string == "hvc1.B1.6.L93"
    assert flv.HEVCNalType.PPS.value == 34


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (hvcc()[:22], "truncated"),
        (b"\x00" + hvcc()[1:], "version 0"),
        (hvcc(length_byte=0x0E), "length size 3"),
        (hvcc(arrays=b"\x01\xa0\x00"), "array header is truncated"),
        (hvcc(arrays=b"\x01\xa0\x00\x01\x00"), "NAL unit length is truncated"),
        (hvcc(arrays=b"\x01\xa0\x00\x01\x00\x05ab"), "NAL unit is truncated"),
    ],
)
def test_hevc_config_errors(data: bytes, message: str) -> None:
    with pytest.raises(flv.FLVError, match=message):
        flv.parse_hevc_config(data)


@pytest.mark.parametrize(
    ("data", "fields"),
    [
        (b"\x12\x10", (2, 4, 44100, 2, 2, None)),  # AAC-LC 44.1 kHz stereo
        (b"\x11\x90", (2, 3, 48000, 2, 2, None)),
        (b"\x13\x88", (2, 7, 22050, 1, 2, None)),
        # HE-AAC explicit: object 5, core 24 kHz, SBR at 48 kHz, core object 2
        (b"\x2b\x11\x88\x00", (5, 6, 24000, 2, 2, 48000)),
        # escape object type 31 -> 32 + 10 = 42 (USAC), explicit 16 kHz frequency
        (
            BitWriter().u(5, 31).u(6, 10).u(4, 15).u(24, 16000).u(4, 1).rbsp(),
            (42, 15, 16000, 1, 42, None),
        ),
        # PS (29) with an explicit extension frequency
        (
            BitWriter().u(5, 29).u(4, 6).u(4, 1).u(4, 15).u(24, 44100).u(5, 2).rbsp(),
            (29, 6, 24000, 1, 2, 44100),
        ),
    ],
)
def test_audio_specific_config(
    data: bytes, fields: tuple[int, int, int, int, int, int | None]
) -> None:
    asc = flv.parse_audio_specific_config(data)
    got = (
        asc.object_type,
        asc.sample_rate_index,
        asc.sample_rate,
        asc.channel_config,
        asc.core_object_type,
        asc.extension_sample_rate,
    )
    assert got == fields
    assert asc.codec_string == f"mp4a.40.{fields[0]}"
    assert asc.raw == data
    assert flv.AAC_SAMPLE_RATES[3] == 48000


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"\x16\x90", "reserved AAC sampling frequency index 13"), (b"\x12", "truncated")],
)
def test_audio_specific_config_errors(data: bytes, message: str) -> None:
    with pytest.raises(flv.FLVError, match=message):
        flv.parse_audio_specific_config(data)
