"""Initialization segments: ``ftyp`` + ``moov`` with one track per stream and ``mvex``.

What a player needs to decode the fragments that follow (ISO/IEC 14496-12 8.8.1: a
fragmented file's ``moov`` holds no samples, only the sample entries and ``trex``):

* video: ``avc1`` + ``avcC`` (ISO/IEC 14496-15 5.4.2) or ``hvc1`` + ``hvcC`` (14496-15
  8.4.1) in 90 kHz; ``hvc1`` rather than ``hev1`` because the parameter sets travel in the
  record (the FLV sequence header), and ``hvc1`` is the entry Apple's HLS players accept;
* audio: ``mp4a`` + ``esds`` (ISO/IEC 14496-14 5.6) with the AudioSpecificConfig as
  received, in ticks of the sample rate, so every AAC frame lasts 1024 ticks.

The decoder configuration records are rebuilt from :mod:`protocols.flv`'s parsed records.
What those keep is what decoders read: the profile, level and length-size fields and
every parameter set. An ``avcC`` is written without the optional high-profile extension
(chroma format and bit depths, which decoders take from the SPS), and the ``hvcC`` fields
the FLV record's parser does not keep are written as "unknown": no spatial segmentation
or parallelism signalled, average and constant frame rate 0, numTemporalLayers 0.
"""

from __future__ import annotations

from typing import Final

from protocols.flv import (
    AudioSpecificConfig,
    AVCDecoderConfig,
    FLVError,
    HEVCDecoderConfig,
    parse_h264_sps,
    parse_hevc_sps_size,
)

from ._boxes import encode_box, encode_full_box
from ._errors import FMP4Error

__all__ = [
    "AUDIO_TRACK_ID",
    "VIDEO_TIMESCALE",
    "VIDEO_TRACK_ID",
    "VideoConfig",
    "init_segment",
]

VideoConfig = AVCDecoderConfig | HEVCDecoderConfig

VIDEO_TRACK_ID: Final = 1
AUDIO_TRACK_ID: Final = 2
# 90 kHz: the MPEG clock, exact for every millisecond (90 ticks) and for 24/25/30/50/60 fps.
VIDEO_TIMESCALE: Final = 90_000
_MOVIE_TIMESCALE: Final = 1000  # mvhd's clock; only the (zero) movie duration uses it

# 14496-12 8.3.2: the unity transformation matrix of mvhd and tkhd, in 16.16 and 2.30.
_UNITY_MATRIX: Final = b"".join(
    v.to_bytes(4, "big") for v in (0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
)
_LANGUAGE_UND: Final = bytes.fromhex("55c4")  # ISO 639-2 "und", 5 bits per letter
_TRACK_ENABLED_IN_MOVIE: Final = 0x000003  # tkhd flags: track_enabled | track_in_movie
# ISO/IEC 14496-1 7.2.6.6, Table 5/6: objectTypeIndication 0x40 is MPEG-4 Audio; streamType
# 5 (AudioStream) << 2 | upStream 0 | reserved 1.
_MPEG4_AUDIO: Final = 0x40
_AUDIO_STREAM: Final = 0x15
# 14496-3 Table 1.19: channelConfiguration to channel count; 0 (layout in a program config
# element of the stream) is written as stereo, the count the sample entry cannot know.
_CHANNELS: Final = {0: 2, 7: 8, 11: 7, 12: 8, 13: 24, 14: 8}
_MAX_DIMENSION: Final = 0xFFFF  # VisualSampleEntry's width and height are 16-bit


def init_segment(
    *,
    video: VideoConfig | None = None,
    audio: AudioSpecificConfig | None = None,
    size: tuple[int, int] | None = None,
) -> bytes:
    """Build the initialization segment for a video and/or an audio track.

    Track :data:`VIDEO_TRACK_ID` is the video in :data:`VIDEO_TIMESCALE` ticks, track
    :data:`AUDIO_TRACK_ID` the AAC audio in ticks of its sample rate; either may be absent.

    Args:
        video: The AVC or HEVC decoder configuration record (the FLV sequence header).
        audio: The AAC AudioSpecificConfig, with its ``raw`` bytes.
        size: The picture's width and height for ``tkhd`` and the sample entry. By
            default, read from the record's first SPS (H.264 or HEVC); (0, 0) without
            one.

    Returns:
        ``ftyp`` + ``moov``.

    Raises:
        FMP4Error: Neither track; a record with more parameter sets than its sample entry
            can list; an unreadable SPS; a picture wider or taller than 65535; an
            AudioSpecificConfig without raw bytes.
    """
    if video is None and audio is None:
        raise FMP4Error("an initialization segment needs a video or an audio track")
    traks = []
    if video is not None:
        width, height = size if size is not None else _picture_size(video)
        if not (0 <= width <= _MAX_DIMENSION and 0 <= height <= _MAX_DIMENSION):
            # An SPS can describe up to 2^32 macroblocks a side; the sample entry has 16 bits.
            raise FMP4Error(f"a {width}x{height} picture does not fit a sample entry")
        traks.append(_video_trak(video, width, height))
    if audio is not None:
        traks.append(_audio_trak(audio))
    trexs = [
        # 14496-12 8.8.3: sample description 1, no default duration, size or flags; every
        # fragment's tfhd/trun says its own.
        encode_full_box(b"trex", 0, 0, _u32(track_id), _u32(1), _u32(0), _u32(0), _u32(0))
        for track_id, present in ((VIDEO_TRACK_ID, video), (AUDIO_TRACK_ID, audio))
        if present is not None
    ]
    return _ftyp() + encode_box(b"moov", _mvhd(), *traks, encode_box(b"mvex", *trexs))


def _u16(value: int) -> bytes:
    return value.to_bytes(2, "big")


def _u32(value: int) -> bytes:
    return value.to_bytes(4, "big")


def _ftyp() -> bytes:
    # iso5: default-base-is-moof offsets; iso6: tfdt. The file is not claimed as a CMAF
    # track ("cmfc"): CMAF allows one track per file, and these fragments mux audio+video.
    return encode_box(b"ftyp", b"iso5", _u32(0), b"iso5", b"iso6", b"mp41")


def _mvhd() -> bytes:
    return encode_full_box(
        b"mvhd",
        0,
        0,
        _u32(0),  # creation_time: unknown
        _u32(0),  # modification_time
        _u32(_MOVIE_TIMESCALE),
        _u32(0),  # duration: 0 for a fragmented movie (8.8.1), its length is in the fragments
        _u32(0x00010000),  # rate 1.0
        _u16(0x0100),  # volume 1.0
        bytes(10),  # reserved
        _UNITY_MATRIX,
        bytes(24),  # pre_defined
        _u32(AUDIO_TRACK_ID + 1),  # next_track_ID
    )


def _tkhd(track_id: int, *, volume: int, width: int, height: int) -> bytes:
    return encode_full_box(
        b"tkhd",
        0,
        _TRACK_ENABLED_IN_MOVIE,
        _u32(0),  # creation_time
        _u32(0),  # modification_time
        _u32(track_id),
        _u32(0),  # reserved
        _u32(0),  # duration
        bytes(8),  # reserved
        _u16(0),  # layer
        _u16(0),  # alternate_group
        _u16(volume),
        _u16(0),  # reserved
        _UNITY_MATRIX,
        _u32(width << 16),  # 16.16 fixed point
        _u32(height << 16),
    )


def _trak(timescale: int, handler: bytes, header: bytes, entry: bytes, tkhd: bytes) -> bytes:
    mdhd = encode_full_box(
        b"mdhd", 0, 0, _u32(0), _u32(0), _u32(timescale), _u32(0), _LANGUAGE_UND, _u16(0)
    )
    name = b"VideoHandler\x00" if handler == b"vide" else b"SoundHandler\x00"
    hdlr = encode_full_box(b"hdlr", 0, 0, _u32(0), handler, bytes(12), name)
    # 8.7.2: data in this file ("url " with flag 1, self-contained).
    dinf = encode_box(
        b"dinf", encode_full_box(b"dref", 0, 0, _u32(1), encode_full_box(b"url ", 0, 1))
    )
    stbl = encode_box(
        b"stbl",
        encode_full_box(b"stsd", 0, 0, _u32(1), entry),
        # No samples in moov: empty time-to-sample, sample-to-chunk, size and offset tables.
        encode_full_box(b"stts", 0, 0, _u32(0)),
        encode_full_box(b"stsc", 0, 0, _u32(0)),
        encode_full_box(b"stsz", 0, 0, _u32(0), _u32(0)),
        encode_full_box(b"stco", 0, 0, _u32(0)),
    )
    minf = encode_box(b"minf", header, dinf, stbl)
    return encode_box(b"trak", tkhd, encode_box(b"mdia", mdhd, hdlr, minf))


def _picture_size(config: VideoConfig) -> tuple[int, int]:
    if not config.sps:
        return 0, 0
    if isinstance(config, HEVCDecoderConfig):
        try:
            return parse_hevc_sps_size(config.sps[0])
        except FLVError as exc:
            raise FMP4Error(f"bad HEVC SPS in the hvcC record: {exc}") from exc
    try:
        sps = parse_h264_sps(config.sps[0])
    except FLVError as exc:
        raise FMP4Error(f"bad H.264 SPS in the avcC record: {exc}") from exc
    return sps.width, sps.height


def _video_trak(config: VideoConfig, width: int, height: int) -> bytes:
    if isinstance(config, AVCDecoderConfig):
        fourcc, record = b"avc1", encode_box(b"avcC", _avcc(config))
    else:
        fourcc, record = b"hvc1", encode_box(b"hvcC", _hvcc(config))
    # 14496-12 12.1.3 VisualSampleEntry.
    entry = encode_box(
        fourcc,
        bytes(6),  # reserved
        _u16(1),  # data_reference_index
        bytes(16),  # pre_defined, reserved
        _u16(width),
        _u16(height),
        _u32(0x00480000),  # horizresolution 72 dpi
        _u32(0x00480000),  # vertresolution
        _u32(0),  # reserved
        _u16(1),  # frame_count
        bytes(32),  # compressorname (empty)
        _u16(0x0018),  # depth: colour, no alpha
        b"\xff\xff",  # pre_defined -1
        record,
    )
    vmhd = encode_full_box(b"vmhd", 0, 1, bytes(8))  # graphicsmode copy, opcolor 0
    tkhd = _tkhd(VIDEO_TRACK_ID, volume=0, width=width, height=height)
    return _trak(VIDEO_TIMESCALE, b"vide", vmhd, entry, tkhd)


def _parameter_sets(units: tuple[bytes, ...], what: str) -> bytes:
    out = []
    for unit in units:
        if len(unit) > 0xFFFF:
            raise FMP4Error(f"{what} of {len(unit)} bytes does not fit its 16-bit length")
        out.append(_u16(len(unit)) + unit)
    return b"".join(out)


def _avcc(config: AVCDecoderConfig) -> bytes:
    # 14496-15 5.3.3.1: numOfSequenceParameterSets has 5 bits.
    if len(config.sps) > 31 or len(config.pps) > 255:
        raise FMP4Error("avcC holds at most 31 SPS and 255 PPS")
    return (
        bytes(
            (
                1,  # configurationVersion
                config.profile,
                config.compatibility,
                config.level,
                0xFC | (config.nal_length_size - 1),
                0xE0 | len(config.sps),
            )
        )
        + _parameter_sets(config.sps, "SPS")
        + bytes((len(config.pps),))
        + _parameter_sets(config.pps, "PPS")
    )


def _hvcc(config: HEVCDecoderConfig) -> bytes:
    if len(config.arrays) > 255 or any(len(a.units) > 0xFFFF for a in config.arrays):
        raise FMP4Error("hvcC holds at most 255 NAL unit arrays of 65535 units")
    arrays = b"".join(
        bytes(((0x80 if a.complete else 0) | a.nal_type,))
        + _u16(len(a.units))
        + _parameter_sets(a.units, "HEVC parameter set")
        for a in config.arrays
    )
    # 14496-15 8.3.3.1.2, field by field; reserved bits are 1.
    return (
        bytes(
            (
                1,  # configurationVersion
                config.profile_space << 6 | config.tier_flag << 5 | config.profile_idc,
            )
        )
        + _u32(config.compatibility_flags)
        + config.constraint_flags
        + bytes(
            (
                config.level_idc,
                0xF0,  # reserved, min_spatial_segmentation_idc 0 (not signalled)
                0x00,
                0xFC,  # reserved, parallelismType 0 (unknown)
                0xFC | config.chroma_format,
                0xF8 | (config.bit_depth_luma - 8),
                0xF8 | (config.bit_depth_chroma - 8),
                0x00,  # avgFrameRate 0: unspecified
                0x00,
                # constantFrameRate 0, numTemporalLayers 0 (unknown), temporalIdNested 0
                config.nal_length_size - 1,
                len(config.arrays),
            )
        )
        + arrays
    )


def _descriptor(tag: int, *body: bytes) -> bytes:
    # 14496-1 8.3.3: the expandable size, here always in four 7-bit groups (as FFmpeg
    # writes it), which covers any length below 2**28.
    payload = b"".join(body)
    n = len(payload)
    size = bytes((0x80 | (n >> 21) & 0x7F, 0x80 | (n >> 14) & 0x7F, 0x80 | (n >> 7) & 0x7F))
    return bytes((tag,)) + size + bytes((n & 0x7F,)) + payload


def _esds(config: AudioSpecificConfig) -> bytes:
    decoder_config = _descriptor(
        0x04,  # DecoderConfigDescrTag
        bytes((_MPEG4_AUDIO, _AUDIO_STREAM)),
        bytes(3),  # bufferSizeDB: unknown
        _u32(0),  # maxBitrate: unknown
        _u32(0),  # avgBitrate: unknown (variable)
        _descriptor(0x05, config.raw),  # DecSpecificInfoTag: the AudioSpecificConfig
    )
    sl_config = _descriptor(0x06, b"\x02")  # SLConfigDescrTag, predefined 2 (MP4 files)
    # ES_ID 0, no dependsOn / URL / OCR stream flags, stream priority 0.
    es = _descriptor(0x03, _u16(0), b"\x00", decoder_config, sl_config)
    return encode_full_box(b"esds", 0, 0, es)


def _audio_trak(config: AudioSpecificConfig) -> bytes:
    if not config.raw:
        raise FMP4Error("the AudioSpecificConfig has no raw bytes to put in esds")
    rate = config.sample_rate
    if rate <= 0:
        raise FMP4Error(f"AAC sample rate {rate} Hz cannot be a timescale")
    channels = _CHANNELS.get(config.channel_config, config.channel_config)
    # 14496-12 12.2.3 AudioSampleEntry; samplerate is 16.16, so rates above 65535 Hz
    # (88.2 and 96 kHz) are written as 0: decoders take the rate from the esds config.
    entry = encode_box(
        b"mp4a",
        bytes(6),  # reserved
        _u16(1),  # data_reference_index
        bytes(8),  # reserved
        _u16(channels),
        _u16(16),  # samplesize
        _u16(0),  # pre_defined
        _u16(0),  # reserved
        _u32(rate << 16 if rate <= 0xFFFF else 0),
        _esds(config),
    )
    smhd = encode_full_box(b"smhd", 0, 0, _u16(0), _u16(0))  # balance centre, reserved
    tkhd = _tkhd(AUDIO_TRACK_ID, volume=0x0100, width=0, height=0)
    return _trak(rate, b"soun", smhd, entry, tkhd)
