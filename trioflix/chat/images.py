"""Uploaded image checks (emotes, scheduled streams' covers): the type from the file's
signature (not the client's word) and its size.

Only the header is read (:mod:`protocols.image`): enough to know the format and the
dimensions, without decoding pixels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from protocols import image
from trioflix.chat.protocol import ChatError

if TYPE_CHECKING:
    from collections.abc import Collection

__all__ = ["EMOTE_FORMATS", "MAX_EMOTE_BYTES", "MAX_EMOTE_SIDE", "image_info"]

MAX_EMOTE_BYTES = 64 * 1024  # the API's body limit; 112x112 emotes are a few KiB
MAX_EMOTE_SIDE = 128  # Twitch's largest emote size is 112 px
# Emotes are drawn small with crisp edges or transparency: no JPEG.
EMOTE_FORMATS: tuple[str, ...] = ("png", "gif", "webp")
_NAMES = {"png": "PNG", "gif": "GIF", "webp": "WebP", "jpeg": "JPEG"}


def _listed(formats: Collection[str]) -> str:
    names = [_NAMES[name] for name in formats]
    return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]


def image_info(
    data: bytes,
    declared: str,
    *,
    max_bytes: int = MAX_EMOTE_BYTES,
    max_side: int = MAX_EMOTE_SIDE,
    formats: Collection[str] = EMOTE_FORMATS,
    what: str = "emotes",
) -> str:
    """The image's content type, after checking it against ``declared`` and the limits.

    Args:
        max_bytes: The most bytes it may have.
        max_side: The most pixels either side may have.
        formats: The formats accepted (of :data:`protocols.image.FORMATS`).
        what: What the images are, for the error text.

    Raises:
        ChatError: ``invalid_image`` (415) for a format not accepted, unknown or
            mislabelled, ``image_too_large`` (413/422) for too many bytes or pixels.
    """
    if len(data) > max_bytes:
        raise ChatError("image_too_large", f"at most {max_bytes} bytes", status=413)
    try:
        header = image.read_header(data)
    except image.ImageError:
        header = None
    if header is None or header.format not in formats:
        raise ChatError("invalid_image", f"the image must be {_listed(formats)}", status=415)
    if declared != header.content_type:
        raise ChatError(
            "invalid_image",
            f"the body is {header.content_type}, not {declared or 'untyped'}",
            status=415,
        )
    if not (1 <= header.width <= max_side and 1 <= header.height <= max_side):
        raise ChatError(
            "image_too_large",
            f"{header.width}x{header.height}: {what} are at most {max_side}x{max_side} pixels",
            status=422,
        )
    return header.content_type
