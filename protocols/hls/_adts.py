"""ADTS framing of raw AAC frames (ISO/IEC 14496-3 1.A.2.2), as MPEG-TS stream type 0x0F needs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from ._errors import HLSError

if TYPE_CHECKING:
    from protocols.flv import AudioSpecificConfig

__all__ = ["adts_frame"]

ADTS_HEADER_SIZE: Final = 7  # protection_absent = 1: no CRC
_MAX_FRAME: Final = (1 << 13) - 1  # aac_frame_length is 13 bits


def adts_frame(raw: bytes, config: AudioSpecificConfig) -> bytes:
    """Prefix one raw AAC frame with an ADTS header built from the AudioSpecificConfig.

    Raises:
        HLSError: The configuration cannot be expressed in ADTS (object type above 4,
            explicit sampling frequency, channel configuration 0 or above 7), or the
            frame is too long for the 13-bit frame length.
    """
    profile = (
        config.core_object_type - 1
    )  # ADTS profile = audioObjectType - 1 (AAC Main/LC/SSR/LTP)
    if not 0 <= profile <= 3:
        raise HLSError(f"AAC object type {config.core_object_type} cannot be carried in ADTS")
    if config.sample_rate_index > 12:
        raise HLSError("an explicit AAC sampling frequency cannot be carried in ADTS")
    if not 1 <= config.channel_config <= 7:
        raise HLSError(f"AAC channel configuration {config.channel_config} is not supported")
    length = ADTS_HEADER_SIZE + len(raw)
    if length > _MAX_FRAME:
        raise HLSError(f"AAC frame of {len(raw)} bytes is too long for ADTS")
    # syncword 0xFFF, ID 0 (MPEG-4), layer 00, protection_absent 1 | profile(2) sf_index(4)
    # private(1) channel(3) original/home(2) copyright(2) frame_length(13) fullness 0x7FF (VBR)
    # number_of_raw_data_blocks_in_frame 0.
    channel = config.channel_config
    header = bytes(
        (
            0xFF,
            0xF1,
            (profile << 6) | (config.sample_rate_index << 2) | (channel >> 2),
            ((channel & 0x03) << 6) | (length >> 11),
            (length >> 3) & 0xFF,
            ((length & 0x07) << 5) | 0x1F,
            0xFC,
        )
    )
    return header + raw
