"""H.265: the picture size in a sequence parameter set (Rec. ITU-T H.265 7.3.2.2.1).

The ``hvcC`` record carries the SPS but not the size that an MP4 ``tkhd`` or a playlist's
RESOLUTION states. Only the fields up to the conformance window are read; ``u(n)`` and
``ue(v)`` read as in H.264, so the bit reader is the one :func:`parse_h264_sps` uses.
"""

from __future__ import annotations

from typing import Final

from ._bits import BitReader, unescape_rbsp
from ._errors import FLVError

__all__ = ["parse_hevc_sps_size"]

_NAL_HEADER_BYTES: Final = 2
# profile_tier_level(): general_profile_space .. general_level_idc (H.265 7.3.3).
_GENERAL_PROFILE_TIER_LEVEL_BITS: Final = 96
_SUB_LAYER_PROFILE_BITS: Final = 88
_SUB_LAYER_LEVEL_BITS: Final = 8


def parse_hevc_sps_size(nal: bytes) -> tuple[int, int]:
    """Width and height of the cropped picture an HEVC SPS NAL unit describes.

    Raises:
        FLVError: A truncated SPS, or a conformance window that leaves no picture.
    """
    return _picture_size(BitReader(unescape_rbsp(nal[_NAL_HEADER_BYTES:])))


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
        raise FLVError("the HEVC SPS's conformance window leaves no picture")
    return width, height
