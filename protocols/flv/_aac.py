"""AAC AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1) and its codec string."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from ._bits import BitReader
from ._errors import FLVError

__all__ = ["AAC_SAMPLE_RATES", "AudioSpecificConfig", "parse_audio_specific_config"]

AAC_SAMPLE_RATES: Final = (
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
)  # fmt: skip
"""samplingFrequencyIndex 0-12 in Hz (14496-3 Table 1.18)."""

_ESCAPE_OBJECT_TYPE: Final = 31
_EXPLICIT_FREQUENCY: Final = 15
_SBR_OBJECT_TYPES: Final = frozenset({5, 29})  # SBR (HE-AAC), PS (HE-AAC v2)


@dataclass(frozen=True, slots=True, kw_only=True)
class AudioSpecificConfig:
    """The fields of an AudioSpecificConfig that ADTS framing and HLS need.

    Attributes:
        object_type: audioObjectType (2 AAC LC, 5 SBR/HE-AAC, 29 PS, ...).
        sample_rate_index: samplingFrequencyIndex (15 = explicit frequency).
        sample_rate: Sampling frequency in Hz.
        channel_config: channelConfiguration (0 = defined in-band, 1-7 standard layouts).
        core_object_type: For explicit SBR/PS signalling (object type 5 or 29) the
            underlying object type that ADTS must carry; otherwise ``object_type``.
        extension_sample_rate: The SBR output rate for object types 5 and 29, else ``None``.
        raw: The record's bytes as received.
    """

    object_type: int
    sample_rate_index: int
    sample_rate: int
    channel_config: int
    core_object_type: int
    extension_sample_rate: int | None = None
    raw: bytes = b""

    @property
    def codec_string(self) -> str:
        """RFC 6381 ``mp4a.40.N`` with N the audioObjectType in decimal."""
        return f"mp4a.40.{self.object_type}"


def parse_audio_specific_config(data: bytes) -> AudioSpecificConfig:
    """Parse the start of an AudioSpecificConfig (the AAC sequence header payload).

    Raises:
        FLVError: Truncated, or a reserved sampling frequency index (13, 14).
    """
    r = BitReader(data)
    object_type = _object_type(r)
    index, rate = _sample_rate(r)
    channels = r.u(4)
    core_object_type, extension_rate = object_type, None
    if object_type in _SBR_OBJECT_TYPES:
        # 14496-3 1.6.2.1: explicit hierarchical SBR/PS signalling.
        _, extension_rate = _sample_rate(r)
        core_object_type = _object_type(r)
    return AudioSpecificConfig(
        object_type=object_type,
        sample_rate_index=index,
        sample_rate=rate,
        channel_config=channels,
        core_object_type=core_object_type,
        extension_sample_rate=extension_rate,
        raw=bytes(data),
    )


def _object_type(r: BitReader) -> int:
    object_type = r.u(5)
    return 32 + r.u(6) if object_type == _ESCAPE_OBJECT_TYPE else object_type


def _sample_rate(r: BitReader) -> tuple[int, int]:
    index = r.u(4)
    if index == _EXPLICIT_FREQUENCY:
        return index, r.u(24)
    if index < len(AAC_SAMPLE_RATES):
        return index, AAC_SAMPLE_RATES[index]
    raise FLVError(f"reserved AAC sampling frequency index {index}")
