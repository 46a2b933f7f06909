"""The picture size in an HEVC sequence parameter set (Rec. ITU-T H.265 7.3.2.2.1).

The ``hvcC`` record carries the SPS but not the size that ``tkhd`` and the sample entry
state, and a player may size the track from those rather than from the decoder. Only the
fields up to the conformance window are read. The bit reader is :mod:`protocols.flv`'s,
the one that reads H.264 parameter sets: H.265 reads ``u(n)`` and ``ue(v)`` the same way.
"""

from __future__ import annotations

from typing import Final

from protocols.flv import FLVError, HEVCDecoderConfig
from protocols.flv._bits import BitReader, unescape_rbsp

from ._errors import FMP4Error

__all__ = ["hevc_picture_size"]

_NAL_HEADER_BYTES: Final = 2
# profile_tier_level(): general_profile_space .. general_level_idc (H.265 7.3.3).
_GENERAL_PROFILE_TIER_LEVEL_BITS: Final = 96
_SUB_LAYER_PROFILE_BITS: Final = 88
_SUB_LAYER_LEVEL_BITS: Final = 8


def hevc_picture_size(config: HEVCDecoderConfig) -> tuple[int, int]:
    """Width and height of the first SPS's cropped picture; (0, 0) without an SPS.

    Raises:
        FMP4Error: A truncated SPS, or a conformance window that leaves no picture.
    """
    if not config.sps:
        return 0, 0
    try:
        return _picture_size(BitReader(unescape_rbsp(config.sps[0][_NAL_HEADER_BYTES:])))
    except FLVError as exc:
        raise FMP4Error(f"bad HEVC SPS in the hvcC record: {exc}") from exc


def _picture_size(r: BitReader) -> tuple[int, int]:
    r.u(4)  # sps_video_parameter_set_id
    sub_layers = r.u(3)  # sps_max_sub_layers_minus1
    r.u(1)  # sps_temporal_id_nesting_flag
    r.u(_GENERAL_PROFILE_TIER_LEVEL_BITS)
    present = [(r.u(1), r.u(1)) for _ in range(sub_layers)]  # profile, level present
    if sub_layers:
        r.u(2 * (8 - sub_layers))  # reserved_zero_2bits up to eight sub-layers
    for profile_present, level_present in present:
        r.u(_SUB_LAYER_PROFILE_BITS * profile_present + _SUB_LAYER_LEVEL_BITS * level_present)
    r.ue()  # sps_seq_parameter_set_id
    chroma_format_idc = r.ue()
    separate_colour_plane = r.u(1) if chroma_format_idc == 3 else 0
    width, height = r.ue(), r.ue()  # pic_width/height_in_luma_samples
    if r.u(1):  # conformance_window_flag
        left, right, top, bottom = r.ue(), r.ue(), r.ue(), r.ue()
        # H.265 7.4.3.2.1 and Table 6-1: offsets count in chroma samples.
        chroma_array_type = 0 if separate_colour_plane else chroma_format_idc
        sub_width = 2 if chroma_array_type in (1, 2) else 1
        sub_height = 2 if chroma_array_type == 1 else 1
        width -= sub_width * (left + right)
        height -= sub_height * (top + bottom)
    if width <= 0 or height <= 0:
        raise FMP4Error("the HEVC SPS's conformance window leaves no picture")
    return width, height
