"""Length-prefixed (AVCC/HVCC) access units to Annex B byte streams for MPEG-TS.

ISO/IEC 13818-1 2.14 / 2.17 carry H.264/HEVC as Annex B byte streams where every access
unit starts with an access unit delimiter, and a decoder that joins at a random access point
needs the parameter sets in-band, so they are inserted before every IDR/IRAP picture that
does not already carry its own.
"""

from __future__ import annotations

from typing import Final

from protocols.flv import AVCDecoderConfig, HEVCDecoderConfig

from ._errors import HLSError

__all__ = ["to_annex_b"]

START_CODE: Final = b"\x00\x00\x00\x01"
# H.264 7.3.2.4: AUD with primary_pic_type 7 (any slice type), then the RBSP stop bit.
H264_AUD: Final = b"\x09\xf0"
# H.265 7.3.2.5: NAL header type 35, layer 0, TemporalId+1 = 1; pic_type 2 (I, P, B) + stop bit.
HEVC_AUD: Final = b"\x46\x01\x50"

_H264_IDR: Final = 5
_H264_SPS: Final = 7
_H264_AUD: Final = 9
_HEVC_IRAP: Final = range(16, 24)  # BLA, IDR, CRA and the reserved IRAP types
_HEVC_VPS: Final = 32
_HEVC_AUD: Final = 35


def _split(data: bytes, length_size: int) -> list[memoryview]:
    # Views, not copies: the one copy of a frame's NAL units is to_annex_b's join.
    view = memoryview(data)
    nals = []
    pos = 0
    while pos < len(data):
        if pos + length_size > len(data):
            raise HLSError("NAL unit length prefix is truncated")
        size = int.from_bytes(data[pos : pos + length_size], "big")
        pos += length_size
        if size == 0 or pos + size > len(data):
            raise HLSError(f"NAL unit length {size} does not fit the access unit")
        nals.append(view[pos : pos + size])
        pos += size
    return nals


def to_annex_b(data: bytes, config: AVCDecoderConfig | HEVCDecoderConfig) -> tuple[bytes, bool]:
    """Convert one length-prefixed access unit to Annex B.

    Returns:
        The Annex B bytes (AUD first, parameter sets before a random access picture) and
        whether the access unit contains an IDR (H.264) or IRAP (HEVC) picture.

    Raises:
        HLSError: A length prefix runs past the end of the access unit.
    """
    nals = _split(data, config.nal_length_size)
    if isinstance(config, AVCDecoderConfig):
        types = [n[0] & 0x1F for n in nals]
        aud, aud_type, ps_type = H264_AUD, _H264_AUD, _H264_SPS
        random_access = _H264_IDR in types
        params = (*config.sps, *config.pps)
    else:
        types = [(n[0] >> 1) & 0x3F for n in nals]
        aud, aud_type, ps_type = HEVC_AUD, _HEVC_AUD, _HEVC_VPS
        random_access = any(t in _HEVC_IRAP for t in types)
        params = (*config.vps, *config.sps, *config.pps)
    out: list[bytes | memoryview] = [START_CODE, aud]
    if random_access and ps_type not in types:
        for p in params:
            out += (START_CODE, p)
    for n, t in zip(nals, types, strict=True):
        if t != aud_type:
            out += (START_CODE, n)
    return b"".join(out), random_access
