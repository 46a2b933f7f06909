"""Bit-level reading for codec parameter sets (H.264 Rec. ITU-T H.264 7.2, 9.1)."""

from __future__ import annotations

from ._errors import FLVError

__all__ = ["BitReader", "unescape_rbsp"]


def unescape_rbsp(nal: bytes) -> bytes:
    """Remove emulation-prevention bytes: ``00 00 03`` becomes ``00 00`` (H.264 7.4.1)."""
    if b"\x00\x00\x03" not in nal:
        return nal
    out = bytearray()
    zeros = 0
    for byte in nal:
        if zeros >= 2 and byte == 3:
            zeros = 0
            continue
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


class BitReader:
    """MSB-first bit reader over an RBSP; running past the end raises :class:`FLVError`."""

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def u(self, n: int) -> int:
        """Read ``n`` bits as an unsigned integer (``u(n)`` in the H.264 syntax tables)."""
        if self._pos + n > len(self._data) * 8:
            raise FLVError("parameter set is truncated")
        value = 0
        for _ in range(n):
            byte = self._data[self._pos >> 3]
            value = (value << 1) | ((byte >> (7 - (self._pos & 7))) & 1)
            self._pos += 1
        return value

    def ue(self) -> int:
        """Read an unsigned Exp-Golomb code (``ue(v)``, H.264 9.1)."""
        leading_zeros = 0
        while self.u(1) == 0:
            leading_zeros += 1
            # 32 leading zeros would encode a value above 2**32 - 2, which no field allows.
            if leading_zeros > 31:
                raise FLVError("Exp-Golomb code is too long")
        return (1 << leading_zeros) - 1 + self.u(leading_zeros)

    def se(self) -> int:
        """Read a signed Exp-Golomb code (``se(v)``, H.264 9.1.1)."""
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)
