"""H.265: HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 8.3.3) and its codec string."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from ._errors import FLVError

__all__ = ["HEVCDecoderConfig", "HEVCNalArray", "HEVCNalType", "parse_hevc_config"]

_FIXED_PART: Final = 23  # bytes before the first NAL unit array


class HEVCNalType(enum.IntEnum):
    """The HEVC NAL unit types that appear in configuration records."""

    VPS = 32
    SPS = 33
    PPS = 34
    PREFIX_SEI = 39
    SUFFIX_SEI = 40


@dataclass(frozen=True, slots=True, kw_only=True)
class HEVCNalArray:
    """One NAL unit array of the record.

    Attributes:
        nal_type: NAL_unit_type of every unit in the array (32 VPS, 33 SPS, 34 PPS, ...).
        complete: array_completeness: all units of this type are in the record.
        units: The NAL units, each with its two-byte NAL header.
    """

    nal_type: int
    complete: bool
    units: tuple[bytes, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class HEVCDecoderConfig:
    """An HEVCDecoderConfigurationRecord.

    Attributes:
        profile_space: general_profile_space (0-3).
        tier_flag: general_tier_flag (0 Main tier, 1 High tier).
        profile_idc: general_profile_idc (1 Main, 2 Main 10, ...).
        compatibility_flags: general_profile_compatibility_flags (32 bits).
        constraint_flags: general_constraint_indicator_flags (6 bytes).
        level_idc: general_level_idc (30 x level, e.g. 93 for 3.1).
        chroma_format: chroma_format_idc.
        bit_depth_luma: Luma bit depth.
        bit_depth_chroma: Chroma bit depth.
        nal_length_size: Bytes of each NAL unit length prefix in frames.
        arrays: The NAL unit arrays (VPS, SPS, PPS, SEI ...).
    """

    profile_space: int
    tier_flag: int
    profile_idc: int
    compatibility_flags: int
    constraint_flags: bytes
    level_idc: int
    chroma_format: int
    bit_depth_luma: int
    bit_depth_chroma: int
    nal_length_size: int
    arrays: tuple[HEVCNalArray, ...]

    def units_of(self, nal_type: int) -> tuple[bytes, ...]:
        """All NAL units of one type, in record order."""
        return tuple(u for a in self.arrays if a.nal_type == nal_type for u in a.units)

    @property
    def vps(self) -> tuple[bytes, ...]:
        """Video parameter sets."""
        return self.units_of(HEVCNalType.VPS)

    @property
    def sps(self) -> tuple[bytes, ...]:
        """Sequence parameter sets."""
        return self.units_of(HEVCNalType.SPS)

    @property
    def pps(self) -> tuple[bytes, ...]:
        """Picture parameter sets."""
        return self.units_of(HEVCNalType.PPS)

    @property
    def codec_string(self) -> str:
        """The ``hvc1.`` CODECS value (ISO/IEC 14496-15 E.3).

        Profile space as a letter (none for 0), profile_idc, the compatibility flags
        bit-reversed in hex, ``L``/``H`` tier with level_idc, then the constraint bytes
        in hex with trailing zero bytes left out.
        """
        space = ("", "A", "B", "C")[self.profile_space]
        reversed_flags = int(f"{self.compatibility_flags:032b}"[::-1], 2)
        tier = "H" if self.tier_flag else "L"
        constraints = self.constraint_flags.rstrip(b"\x00")
        parts = [
            "hvc1",
            f"{space}{self.profile_idc}",
            f"{reversed_flags:X}",
            f"{tier}{self.level_idc}",
            *(f"{b:X}" for b in constraints),
        ]
        return ".".join(parts)


def parse_hevc_config(data: bytes) -> HEVCDecoderConfig:
    """Parse an HEVCDecoderConfigurationRecord.

    Raises:
        FLVError: Truncated record, wrong configurationVersion, or length size 3.
    """
    if len(data) < _FIXED_PART:
        raise FLVError("HEVCDecoderConfigurationRecord is truncated")
    if data[0] != 1:
        raise FLVError(f"unsupported HEVCDecoderConfigurationRecord version {data[0]}")
    length_size = (data[21] & 0x03) + 1
    if length_size == 3:
        raise FLVError("HEVC NAL unit length size 3 is not allowed")
    arrays: list[HEVCNalArray] = []
    pos = _FIXED_PART
    for _ in range(data[22]):
        if pos + 3 > len(data):
            raise FLVError("HEVC NAL unit array header is truncated")
        kind = data[pos]
        count = int.from_bytes(data[pos + 1 : pos + 3], "big")
        pos += 3
        units: list[bytes] = []
        for _ in range(count):
            if pos + 2 > len(data):
                raise FLVError("HEVC NAL unit length is truncated")
            size = int.from_bytes(data[pos : pos + 2], "big")
            pos += 2
            if pos + size > len(data):
                raise FLVError("HEVC NAL unit is truncated")
            units.append(data[pos : pos + size])
            pos += size
        arrays.append(
            HEVCNalArray(nal_type=kind & 0x3F, complete=bool(kind & 0x80), units=tuple(units))
        )
    return HEVCDecoderConfig(
        profile_space=data[1] >> 6,
        tier_flag=(data[1] >> 5) & 1,
        profile_idc=data[1] & 0x1F,
        compatibility_flags=int.from_bytes(data[2:6], "big"),
        constraint_flags=data[6:12],
        level_idc=data[12],
        chroma_format=data[16] & 0x03,
        bit_depth_luma=(data[17] & 0x07) + 8,
        bit_depth_chroma=(data[18] & 0x07) + 8,
        nal_length_size=length_size,
        arrays=tuple(arrays),
    )
