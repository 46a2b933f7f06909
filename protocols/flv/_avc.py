"""H.264: AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.3.3) and the SPS (H.264 7.3.2.1)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from ._bits import BitReader, unescape_rbsp
from ._errors import FLVError

__all__ = [
    "H264SPS",
    "AVCDecoderConfig",
    "avc_codec_string",
    "encode_avc_config",
    "parse_avc_config",
    "parse_h264_sps",
    "split_annex_b",
]

# profile_idc values whose SPS carries chroma_format_idc, bit depths and scaling matrices
# (H.264 7.3.2.1.1, the `if (profile_idc == 100 || ...)` branch).
_HIGH_PROFILES: Final = frozenset({100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135})
_NAL_TYPE_SPS: Final = 7


@dataclass(frozen=True, slots=True, kw_only=True)
class AVCDecoderConfig:
    """An AVCDecoderConfigurationRecord: the AVC sequence header's payload.

    Attributes:
        profile: AVCProfileIndication (profile_idc).
        compatibility: profile_compatibility (the constraint_set flags byte).
        level: AVCLevelIndication (level_idc, e.g. 31 for 3.1).
        nal_length_size: Bytes of each NAL unit length prefix in frames (1, 2 or 4).
        sps: Sequence parameter set NAL units (with their NAL header byte).
        pps: Picture parameter set NAL units.
    """

    profile: int
    compatibility: int
    level: int
    nal_length_size: int
    sps: tuple[bytes, ...]
    pps: tuple[bytes, ...]

    @property
    def codec_string(self) -> str:
        """RFC 6381 ``avc1.PPCCLL`` for the HLS CODECS attribute."""
        return avc_codec_string(self.profile, self.compatibility, self.level)


@dataclass(frozen=True, slots=True, kw_only=True)
class H264SPS:
    """The fields of an H.264 sequence parameter set that a server needs.

    Attributes:
        profile: profile_idc.
        compatibility: The constraint_set0..5 flags byte.
        level: level_idc.
        width: Displayed width in pixels (after frame cropping).
        height: Displayed height in pixels (after frame cropping).
        frame_rate: time_scale / (2 * num_units_in_tick) from the VUI, if signalled.
    """

    profile: int
    compatibility: int
    level: int
    width: int
    height: int
    frame_rate: float | None = None

    @property
    def codec_string(self) -> str:
        """RFC 6381 ``avc1.PPCCLL``."""
        return avc_codec_string(self.profile, self.compatibility, self.level)


def avc_codec_string(profile: int, compatibility: int, level: int) -> str:
    """Format ``avc1.PPCCLL`` (RFC 6381 3.3: hex of profile_idc, constraint flags, level_idc)."""
    return f"avc1.{profile:02X}{compatibility:02X}{level:02X}"


def parse_avc_config(data: bytes) -> AVCDecoderConfig:
    """Parse an AVCDecoderConfigurationRecord.

    Raises:
        FLVError: Truncated record, a wrong configurationVersion, or a length size of 3.
    """
    if len(data) < 6:
        raise FLVError("AVCDecoderConfigurationRecord is truncated")
    if data[0] != 1:
        raise FLVError(f"unsupported AVCDecoderConfigurationRecord version {data[0]}")
    length_size = (data[4] & 0x03) + 1
    if length_size == 3:
        # 14496-15 5.3.3.1.2: lengthSizeMinusOne is 0, 1 or 3.
        raise FLVError("AVC NAL unit length size 3 is not allowed")
    pos = 5
    sps, pos = _read_nal_list(data, data[pos] & 0x1F, pos + 1)
    if pos >= len(data):
        raise FLVError("AVCDecoderConfigurationRecord is truncated before its PPS count")
    pps, pos = _read_nal_list(data, data[pos], pos + 1)
    return AVCDecoderConfig(
        profile=data[1],
        compatibility=data[2],
        level=data[3],
        nal_length_size=length_size,
        sps=sps,
        pps=pps,
    )


def encode_avc_config(config: AVCDecoderConfig) -> bytes:
    """Serialise an AVCDecoderConfigurationRecord; the inverse of :func:`parse_avc_config`.

    Raises:
        FLVError: A length size other than 1, 2 or 4, more than 31 SPS or 255 PPS,
            or a parameter set over 65535 bytes.
    """
    if config.nal_length_size not in (1, 2, 4):
        raise FLVError(f"AVC NAL unit length size {config.nal_length_size} is not allowed")
    if len(config.sps) > 0x1F or len(config.pps) > 0xFF:
        raise FLVError("too many parameter sets for an AVCDecoderConfigurationRecord")
    out = bytearray(
        (
            1,
            config.profile,
            config.compatibility,
            config.level,
            0xFC | (config.nal_length_size - 1),  # 6 reserved bits set (14496-15 5.3.3.1.1)
            0xE0 | len(config.sps),  # 3 reserved bits set
        )
    )
    for index, nals in enumerate((config.sps, config.pps)):
        if index:
            out.append(len(nals))
        for nal in nals:
            if len(nal) > 0xFFFF:
                raise FLVError("a parameter set is longer than 65535 bytes")
            out += len(nal).to_bytes(2, "big") + nal
    return bytes(out)


def split_annex_b(data: bytes) -> list[bytes]:
    """The NAL units of an H.264 Annex B byte stream (H.264 B.2), without start codes.

    Both start code lengths (``00 00 01`` and ``00 00 00 01``) are taken; bytes before
    the first start code and empty units are dropped.
    """
    units: list[bytes] = []
    start = -1
    pos = data.find(b"\x00\x00\x01")
    while pos != -1:
        if start >= 0:
            # A 4-byte start code's leading zero belongs to it, not to the unit before.
            end = pos - 1 if pos > start and data[pos - 1] == 0 else pos
            if end > start:
                units.append(data[start:end])
        start = pos + 3
        pos = data.find(b"\x00\x00\x01", start)
    if 0 <= start < len(data):
        units.append(data[start:])
    return units


def _read_nal_list(data: bytes, count: int, pos: int) -> tuple[tuple[bytes, ...], int]:
    nals: list[bytes] = []
    for _ in range(count):
        if pos + 2 > len(data):
            raise FLVError("parameter set length is truncated")
        size = int.from_bytes(data[pos : pos + 2], "big")
        pos += 2
        if pos + size > len(data):
            raise FLVError("parameter set is truncated")
        nals.append(data[pos : pos + size])
        pos += size
    return tuple(nals), pos


def _skip_scaling_list(r: BitReader, size: int) -> None:
    last, nxt = 8, 8
    for _ in range(size):
        if nxt != 0:
            nxt = (last + r.se() + 256) % 256
        last = nxt if nxt != 0 else last


def parse_h264_sps(nal: bytes) -> H264SPS:
    """Parse an H.264 SPS NAL unit (with its one-byte NAL header, without a start code).

    Raises:
        FLVError: Not an SPS NAL unit, or a truncated/corrupt one.
    """
    if not nal or nal[0] & 0x1F != _NAL_TYPE_SPS:
        raise FLVError("not an H.264 SPS NAL unit")
    r = BitReader(unescape_rbsp(nal[1:]))
    profile, compatibility, level = r.u(8), r.u(8), r.u(8)
    r.ue()  # seq_parameter_set_id
    chroma_format_idc = 1
    separate_colour_plane = 0
    if profile in _HIGH_PROFILES:
        chroma_format_idc = r.ue()
        if chroma_format_idc == 3:
            separate_colour_plane = r.u(1)
        r.ue()  # bit_depth_luma_minus8
        r.ue()  # bit_depth_chroma_minus8
        r.u(1)  # qpprime_y_zero_transform_bypass_flag
        if r.u(1):  # seq_scaling_matrix_present_flag
            for i in range(8 if chroma_format_idc != 3 else 12):
                if r.u(1):
                    _skip_scaling_list(r, 16 if i < 6 else 64)
    r.ue()  # log2_max_frame_num_minus4
    poc_type = r.ue()
    if poc_type == 0:
        r.ue()  # log2_max_pic_order_cnt_lsb_minus4
    elif poc_type == 1:
        r.u(1)  # delta_pic_order_always_zero_flag
        r.se()  # offset_for_non_ref_pic
        r.se()  # offset_for_top_to_bottom_field
        for _ in range(r.ue()):
            r.se()  # offset_for_ref_frame[i]
    r.ue()  # max_num_ref_frames
    r.u(1)  # gaps_in_frame_num_value_allowed_flag
    width_mbs = r.ue() + 1
    height_map_units = r.ue() + 1
    frame_mbs_only = r.u(1)
    if not frame_mbs_only:
        r.u(1)  # mb_adaptive_frame_field_flag
    r.u(1)  # direct_8x8_inference_flag
    crop_left = crop_right = crop_top = crop_bottom = 0
    if r.u(1):  # frame_cropping_flag
        crop_left, crop_right, crop_top, crop_bottom = r.ue(), r.ue(), r.ue(), r.ue()
    # H.264 7.4.2.1.1, frame_crop_*_offset: crop units depend on ChromaArrayType.
    chroma_array_type = 0 if separate_colour_plane else chroma_format_idc
    if chroma_array_type == 0:
        crop_x, crop_y = 1, 2 - frame_mbs_only
    else:
        sub_width = 1 if chroma_array_type == 3 else 2
        sub_height = 2 if chroma_array_type == 1 else 1
        crop_x, crop_y = sub_width, sub_height * (2 - frame_mbs_only)
    width = width_mbs * 16 - crop_x * (crop_left + crop_right)
    height = (2 - frame_mbs_only) * height_map_units * 16 - crop_y * (crop_top + crop_bottom)
    if width <= 0 or height <= 0:
        raise FLVError("SPS cropping leaves no picture")
    frame_rate = _vui_frame_rate(r) if r.u(1) else None
    return H264SPS(
        profile=profile,
        compatibility=compatibility,
        level=level,
        width=width,
        height=height,
        frame_rate=frame_rate,
    )


def _vui_frame_rate(r: BitReader) -> float | None:
    """Read VUI parameters (H.264 E.1.1) up to timing_info; return the frame rate."""
    if r.u(1):  # aspect_ratio_info_present_flag
        if r.u(8) == 255:  # aspect_ratio_idc == Extended_SAR
            r.u(32)  # sar_width, sar_height
    if r.u(1):  # overscan_info_present_flag
        r.u(1)
    if r.u(1):  # video_signal_type_present_flag
        r.u(4)  # video_format, video_full_range_flag
        if r.u(1):  # colour_description_present_flag
            r.u(24)
    if r.u(1):  # chroma_loc_info_present_flag
        r.ue()
        r.ue()
    if not r.u(1):  # timing_info_present_flag
        return None
    num_units_in_tick, time_scale = r.u(32), r.u(32)
    if num_units_in_tick == 0 or time_scale == 0:
        return None
    return time_scale / (2 * num_units_in_tick)
