"""CRC-32/MPEG-2 for PSI sections (ISO/IEC 13818-1 Annex A)."""

from __future__ import annotations

from typing import Final

__all__ = ["crc32_mpeg2"]

_POLY: Final = 0x04C11DB7


def _table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ _POLY if crc & 0x80000000 else crc << 1) & 0xFFFFFFFF
        table.append(crc)
    return tuple(table)


_TABLE: Final = _table()


def crc32_mpeg2(data: bytes) -> int:
    """MSB-first CRC-32 with polynomial 0x04C11DB7, initial value all ones, no final XOR."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _TABLE[(crc >> 24) ^ byte]
    return crc
