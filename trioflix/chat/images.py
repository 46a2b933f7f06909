"""Emote image checks: the type from the file's signature (not the client's word) and its size.

Only the fixed-position header fields are read: enough to know the format and
the dimensions, without decoding pixels.
"""

from __future__ import annotations

import struct

from trioflix.chat.protocol import ChatError

__all__ = ["MAX_EMOTE_BYTES", "MAX_EMOTE_SIDE", "image_info"]

MAX_EMOTE_BYTES = 64 * 1024  # the API's body limit; 112x112 emotes are a few KiB
MAX_EMOTE_SIDE = 128  # Twitch's largest emote size is 112 px


def _sniff(data: bytes) -> tuple[str, int, int]:
    if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return "image/png", width, height
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return "image/gif", width, height
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
        chunk = data[12:16]
        if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
            width, height = struct.unpack("<HH", data[26:30])
            return "image/webp", width & 0x3FFF, height & 0x3FFF
        if chunk == b"VP8L" and data[20] == 0x2F:
            bits = int.from_bytes(data[21:25], "little")
            return "image/webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        if chunk == b"VP8X":
            width = int.from_bytes(data[24:27], "little") + 1
            height = int.from_bytes(data[27:30], "little") + 1
            return "image/webp", width, height
    raise ChatError("invalid_image", "the image must be PNG, GIF or WebP", status=415)


def image_info(
    data: bytes,
    declared: str,
    *,
    max_side: int = MAX_EMOTE_SIDE,
    what: str = "emotes",
) -> str:
    """The image's content type, after checking it against ``declared`` and the size limits.

    Args:
        max_side: The most pixels either side may have (emotes by default; a
            scheduled stream's cover passes its own).
        what: What the images are, for the error text.

    Raises:
        ChatError: ``invalid_image`` (415) for an unknown or mislabelled format,
            ``image_too_large`` (413/422) for too many bytes or pixels.
    """
    if len(data) > MAX_EMOTE_BYTES:
        raise ChatError("image_too_large", f"at most {MAX_EMOTE_BYTES} bytes", status=413)
    content_type, width, height = _sniff(data)
    if declared != content_type:
        raise ChatError(
            "invalid_image", f"the body is {content_type}, not {declared or 'untyped'}", status=415
        )
    if not (1 <= width <= max_side and 1 <= height <= max_side):
        raise ChatError(
            "image_too_large",
            f"{width}x{height}: {what} are at most {max_side}x{max_side} pixels",
            status=422,
        )
    return content_type
