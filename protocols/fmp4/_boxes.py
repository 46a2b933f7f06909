"""ISO base media file format boxes (ISO/IEC 14496-12 4.2): the framing every box shares."""

from __future__ import annotations

from typing import Final

from ._errors import FMP4Error

__all__ = ["BOX_HEADER_BYTES", "box_header", "encode_box", "encode_full_box"]

BOX_HEADER_BYTES: Final = 8  # 32-bit size + four-character type


def box_header(box_type: bytes, body_size: int) -> bytes:
    """The header of a box whose body of ``body_size`` bytes the caller writes itself
    (an ``mdat`` put together with its samples in one copy).

    Raises:
        FMP4Error: A type that is not four bytes.
    """
    if len(box_type) != 4:
        raise FMP4Error(f"box type {box_type!r} is not four bytes")
    return (BOX_HEADER_BYTES + body_size).to_bytes(4, "big") + box_type


def encode_box(box_type: bytes, *payload: bytes) -> bytes:
    """One box: its 32-bit size (header included), its type, then the payload parts.

    Args:
        box_type: The four-character code, e.g. ``b"moof"``.
        payload: The body, in parts (child boxes or fields), concatenated in order.

    Only the 32-bit size is written: the 64-bit ``largesize`` (14496-12 4.2, size 1) is
    never needed, as a fragment is bounded far below 4 GiB (``max_fragment_bytes`` of
    :class:`~protocols.fmp4.Fragmenter`); a 4 GiB body raises :class:`OverflowError`.

    Raises:
        FMP4Error: A type that is not four bytes.
    """
    body = b"".join(payload)
    return box_header(box_type, len(body)) + body


def encode_full_box(box_type: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    """A FullBox (14496-12 4.2.2): a box whose body starts with an 8-bit version and
    24-bit flags.

    Raises:
        FMP4Error: As :func:`encode_box`, or a version or flags out of range.
    """
    if not 0 <= version <= 0xFF or not 0 <= flags <= 0xFFFFFF:
        raise FMP4Error(f"{box_type!r}: version {version} or flags {flags:#x} out of range")
    return encode_box(box_type, bytes((version,)), flags.to_bytes(3, "big"), *payload)
