"""Image headers: the format from the file signature, the size from fixed header fields.

Rules (the specifications they come from):

- PNG: the 8-byte signature, then the IHDR chunk first, whose data opens with the
  width and height as 4-byte big-endian integers (PNG 3rd ed. 5.2, 11.2.1).
- GIF: ``GIF87a`` or ``GIF89a``, then the logical screen width and height as
  2-byte little-endian integers (GIF89a 17, 18).
- WebP: a RIFF container of form ``WEBP`` whose first chunk is ``VP8 `` (lossy:
  the frame tag, the start code 9D 01 2A, then 14-bit width and height),
  ``VP8L`` (lossless: the signature byte 2F, then 14-bit width - 1 and height - 1)
  or ``VP8X`` (extended: 24-bit canvas width - 1 and height - 1) (RFC 9649 2.5,
  2.6, 2.7).
- JPEG: SOI, then marker segments up to the first frame header (SOF0-SOF15 but
  DHT, JPG and DAC, which share the range), whose fields give the number of lines
  and samples per line (ITU-T T.81 B.1.1.2, B.2.2). A marker may be preceded by
  fill bytes FF; RSTn and TEM stand alone, every other segment carries its own
  length (B.1.1.4). A scan before any frame header, or a frame of 0 lines (the
  height deferred to a DNL segment after the first scan, B.2.5), has no size here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["FORMATS", "ImageError", "ImageHeader", "read_header"]

Format = Literal["png", "gif", "webp", "jpeg"]
FORMATS: tuple[Format, ...] = ("png", "gif", "webp", "jpeg")

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_GIF_SIGNATURES = (b"GIF87a", b"GIF89a")
_VP8_START_CODE = b"\x9d\x01\x2a"
_VP8L_SIGNATURE = 0x2F
_SOI = b"\xff\xd8"
_MARKER = 0xFF
# T.81 Table B.1: SOFn is C0-CF except C4 (DHT), C8 (JPG) and CC (DAC).
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RST0-RST7: no length
_SOS, _EOI = 0xDA, 0xD9


class ImageError(ValueError):
    """The bytes are not a PNG, GIF, WebP or JPEG, or their header is cut short or broken."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageHeader:
    """What an image's header says.

    Attributes:
        format: ``png``, ``gif``, ``webp`` or ``jpeg``.
        width: Pixels per row (0 if the header says so; the caller judges).
        height: Rows.
    """

    format: Format
    width: int
    height: int

    @property
    def content_type(self) -> str:
        """The media type, e.g. ``image/jpeg``."""
        return f"image/{self.format}"


def _uint(data: bytes, start: int, size: int, order: Literal["big", "little"]) -> int:
    if len(data) < start + size:
        raise ImageError("the image header is cut short")
    return int.from_bytes(data[start : start + size], order)


def _png(data: bytes) -> ImageHeader:
    if data[12:16] != b"IHDR":
        raise ImageError("a PNG must start with its IHDR chunk")
    return ImageHeader(
        format="png", width=_uint(data, 16, 4, "big"), height=_uint(data, 20, 4, "big")
    )


def _gif(data: bytes) -> ImageHeader:
    return ImageHeader(
        format="gif", width=_uint(data, 6, 2, "little"), height=_uint(data, 8, 2, "little")
    )


def _webp(data: bytes) -> ImageHeader:
    chunk = data[12:16]
    if chunk == b"VP8 ":
        if data[23:26] != _VP8_START_CODE:
            raise ImageError("a lossy WebP frame without its start code")
        width, height = _uint(data, 26, 2, "little"), _uint(data, 28, 2, "little")
        return ImageHeader(format="webp", width=width & 0x3FFF, height=height & 0x3FFF)
    if chunk == b"VP8L":
        if _uint(data, 20, 1, "little") != _VP8L_SIGNATURE:
            raise ImageError("a lossless WebP frame without its signature")
        bits = _uint(data, 21, 4, "little")
        return ImageHeader(
            format="webp", width=(bits & 0x3FFF) + 1, height=((bits >> 14) & 0x3FFF) + 1
        )
    if chunk == b"VP8X":
        return ImageHeader(
            format="webp",
            width=_uint(data, 24, 3, "little") + 1,
            height=_uint(data, 27, 3, "little") + 1,
        )
    raise ImageError(f"a WebP whose first chunk is {chunk!r}, not VP8, VP8L or VP8X")


def _jpeg(data: bytes) -> ImageHeader:
    offset = len(_SOI)
    while True:
        if _uint(data, offset, 1, "big") != _MARKER:
            raise ImageError(f"JPEG: no marker at byte {offset}")
        while (marker := _uint(data, offset + 1, 1, "big")) == _MARKER:
            offset += 1  # a fill byte
        offset += 2
        if marker in _STANDALONE:
            continue
        if marker in (_SOS, _EOI):
            raise ImageError("JPEG: no frame header before the first scan")
        length = _uint(data, offset, 2, "big")
        if length < 2:
            raise ImageError(f"JPEG: a segment length of {length}")
        if marker in _SOF:
            # Lf (2), P (1), Y (2), X (2)
            height, width = _uint(data, offset + 3, 2, "big"), _uint(data, offset + 5, 2, "big")
            if height == 0:
                raise ImageError("JPEG: the height is deferred to a DNL segment")
            return ImageHeader(format="jpeg", width=width, height=height)
        offset += length


def read_header(data: bytes) -> ImageHeader:
    """The format and size of the image ``data`` begins with.

    Only the header needs to be there: ``data`` may be the first bytes of the file.

    Raises:
        ImageError: Not one of :data:`FORMATS`, or its header is cut short or broken.
    """
    if data.startswith(_PNG_SIGNATURE):
        return _png(data)
    if data[:6] in _GIF_SIGNATURES:
        return _gif(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp(data)
    if data.startswith(_SOI):
        return _jpeg(data)
    raise ImageError("not a PNG, GIF, WebP or JPEG image")
