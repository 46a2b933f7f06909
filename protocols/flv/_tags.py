"""Audio and video tag bodies (= RTMP audio/video message bodies).

Legacy video (FLV spec E.4.3): ``FrameType(4) CodecID(4)``; for AVC (7), and HEVC (12, as
some servers use), then ``AVCPacketType(8) CompositionTime(SI24)`` and the payload.

Enhanced RTMP video: bit 7 of the first byte is IsExHeader, bits 6-4 the FrameType and bits
3-0 a VideoPacketType; a FourCC follows. ``CodedFrames`` of ``avc1``/``hvc1`` carry an SI24
composition time, ``CodedFramesX`` means "composition time 0" and omits it; AV1 and VP9
frames carry none. A command frame (FrameType 5) outside Metadata carries one command byte
and no FourCC. Packet types this package does not decode (Multitrack, ModEx, reserved) are
returned with their raw remaining bytes.

Audio (FLV spec E.4.2): ``SoundFormat(4) SoundRate(2) SoundSize(1) SoundType(1)``; for AAC
(10) an ``AACPacketType`` byte follows (0 AudioSpecificConfig, 1 raw frame).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from ._errors import FLVError

__all__ = [
    "AACPacketType",
    "AVCPacketType",
    "AudioTag",
    "ExVideoTag",
    "FrameType",
    "SoundFormat",
    "VideoCodecId",
    "VideoPacketType",
    "VideoTag",
    "classify_audio_tag",
    "classify_video_tag",
    "encode_audio_tag",
    "encode_video_tag",
    "parse_audio_tag",
    "parse_video_tag",
]


class FrameType(enum.IntEnum):
    """Video FrameType (FLV spec E.4.3.1)."""

    KEY = 1
    INTER = 2
    DISPOSABLE_INTER = 3
    GENERATED_KEY = 4
    COMMAND = 5


class VideoCodecId(enum.IntEnum):
    """Legacy video CodecID values this package knows by name."""

    SORENSON_H263 = 2
    SCREEN = 3
    VP6 = 4
    VP6_ALPHA = 5
    SCREEN_V2 = 6
    AVC = 7
    HEVC = 12  # not in the Adobe spec; the value Chinese CDNs and many servers use


class AVCPacketType(enum.IntEnum):
    """AVCPacketType of legacy AVC/HEVC tags."""

    SEQUENCE_HEADER = 0
    NALU = 1
    END_OF_SEQUENCE = 2


class VideoPacketType(enum.IntEnum):
    """Enhanced RTMP VideoPacketType."""

    SEQUENCE_START = 0
    CODED_FRAMES = 1
    SEQUENCE_END = 2
    CODED_FRAMES_X = 3
    METADATA = 4
    MPEG2TS_SEQUENCE_START = 5
    MULTITRACK = 6
    MOD_EX = 7


class SoundFormat(enum.IntEnum):
    """Audio SoundFormat (FLV spec E.4.2.1)."""

    LINEAR_PCM_PLATFORM = 0
    ADPCM = 1
    MP3 = 2
    LINEAR_PCM_LE = 3
    NELLYMOSER_16K_MONO = 4
    NELLYMOSER_8K_MONO = 5
    NELLYMOSER = 6
    G711_A_LAW = 7
    G711_MU_LAW = 8
    EX_HEADER = 9  # enhanced RTMP v2 audio; passed through undecoded
    AAC = 10
    SPEEX = 11
    MP3_8K = 14
    DEVICE_SPECIFIC = 15


class AACPacketType(enum.IntEnum):
    """AACPacketType."""

    SEQUENCE_HEADER = 0
    RAW = 1


_CTS_CODECS: Final = frozenset({"avc1", "hvc1"})


def _si24(data: bytes) -> int:
    value = int.from_bytes(data, "big")
    return value - (1 << 24) if value & 0x800000 else value


@dataclass(frozen=True, slots=True, kw_only=True)
class VideoTag:
    """A legacy (non-enhanced) video tag body.

    Attributes:
        frame_type: FrameType, 1-5 (other values are passed through as ints).
        codec_id: Legacy CodecID (7 AVC, 12 HEVC, others passed through).
        packet_type: AVCPacketType for AVC/HEVC; ``None`` for other codecs.
        composition_time_ms: Signed PTS - DTS in ms (AVC/HEVC only, else 0).
        data: The payload: a decoder configuration record for a sequence header,
            length-prefixed NAL units for NALU packets, the codec's bytes otherwise.
    """

    frame_type: int
    codec_id: int
    packet_type: int | None = None
    composition_time_ms: int = 0
    data: bytes = b""

    @property
    def fourcc(self) -> str | None:
        """``"avc1"`` or ``"hvc1"`` for AVC/HEVC, else ``None``."""
        if self.codec_id == VideoCodecId.AVC:
            return "avc1"
        if self.codec_id == VideoCodecId.HEVC:
            return "hvc1"
        return None

    @property
    def is_sequence_header(self) -> bool:
        """A decoder configuration record (AVC/HEVC sequence header)."""
        return self.fourcc is not None and self.packet_type == AVCPacketType.SEQUENCE_HEADER

    @property
    def is_coded_frame(self) -> bool:
        """An AVC/HEVC access unit (length-prefixed NAL units)."""
        return self.fourcc is not None and self.packet_type == AVCPacketType.NALU

    @property
    def is_keyframe(self) -> bool:
        """FrameType is key (1) or generated key (4)."""
        return self.frame_type in (FrameType.KEY, FrameType.GENERATED_KEY)


@dataclass(frozen=True, slots=True, kw_only=True)
class ExVideoTag:
    """An enhanced-RTMP video tag body (IsExHeader set).

    Attributes:
        frame_type: FrameType (3 bits).
        packet_type: VideoPacketType (4 bits; unknown values passed through as ints).
        fourcc: Codec FourCC such as ``"hvc1"``, ``"av01"``, ``"vp09"``, ``"avc1"``;
            ``None`` for command frames and for packet types not decoded here.
        composition_time_ms: Signed PTS - DTS in ms; 0 where the packet carries none.
        command: The VideoCommand byte of a command frame, else ``None``.
        data: The payload (configuration record, coded frames, AMF metadata, or the
            undecoded rest of the body for Multitrack/ModEx/reserved packet types).
    """

    frame_type: int
    packet_type: int
    fourcc: str | None = None
    composition_time_ms: int = 0
    command: int | None = None
    data: bytes = b""

    @property
    def is_sequence_header(self) -> bool:
        """A SequenceStart packet (decoder configuration record)."""
        return self.fourcc is not None and self.packet_type == VideoPacketType.SEQUENCE_START

    @property
    def is_coded_frame(self) -> bool:
        """CodedFrames or CodedFramesX."""
        return self.fourcc is not None and self.packet_type in (
            VideoPacketType.CODED_FRAMES,
            VideoPacketType.CODED_FRAMES_X,
        )

    @property
    def is_keyframe(self) -> bool:
        """FrameType is key (1) or generated key (4)."""
        return self.frame_type in (FrameType.KEY, FrameType.GENERATED_KEY)


@dataclass(frozen=True, slots=True, kw_only=True)
class AudioTag:
    """An audio tag body.

    Attributes:
        sound_format: SoundFormat (10 AAC, 2 MP3, others passed through).
        sound_rate: SoundRate code 0-3 (5.5/11/22/44 kHz; AAC always says 3).
        sound_size: 0 for 8-bit, 1 for 16-bit samples.
        sound_type: 0 mono, 1 stereo.
        aac_packet_type: AACPacketType for AAC, else ``None``.
        data: AudioSpecificConfig, a raw AAC frame, or the codec's bytes.
    """

    sound_format: int
    sound_rate: int = 3
    sound_size: int = 1
    sound_type: int = 1
    aac_packet_type: int | None = None
    data: bytes = b""

    @property
    def is_sequence_header(self) -> bool:
        """An AAC AudioSpecificConfig."""
        return (
            self.sound_format == SoundFormat.AAC
            and self.aac_packet_type == AACPacketType.SEQUENCE_HEADER
        )

    @property
    def is_aac_frame(self) -> bool:
        """A raw AAC access unit."""
        return self.sound_format == SoundFormat.AAC and self.aac_packet_type == AACPacketType.RAW


def parse_video_tag(body: bytes) -> VideoTag | ExVideoTag:
    """Parse an FLV/RTMP video tag body.

    Raises:
        FLVError: The body is too short for the header its first byte announces.
    """
    if not body:
        raise FLVError("empty video tag")
    first = body[0]
    if first & 0x80:
        return _parse_ex_video(body)
    frame_type, codec_id = first >> 4, first & 0x0F
    if codec_id in (VideoCodecId.AVC, VideoCodecId.HEVC):
        if len(body) < 5:
            raise FLVError(f"AVC/HEVC video tag of {len(body)} bytes is shorter than 5")
        return VideoTag(
            frame_type=frame_type,
            codec_id=codec_id,
            packet_type=body[1],
            composition_time_ms=_si24(body[2:5]),
            data=body[5:],
        )
    return VideoTag(frame_type=frame_type, codec_id=codec_id, data=body[1:])


def _parse_ex_video(body: bytes) -> ExVideoTag:
    frame_type, packet_type = (body[0] >> 4) & 0x07, body[0] & 0x0F
    if frame_type == FrameType.COMMAND and packet_type != VideoPacketType.METADATA:
        if len(body) < 2:
            raise FLVError("enhanced video command frame without a command byte")
        return ExVideoTag(
            frame_type=frame_type, packet_type=packet_type, command=body[1], data=body[2:]
        )
    if packet_type > VideoPacketType.MPEG2TS_SEQUENCE_START:
        return ExVideoTag(frame_type=frame_type, packet_type=packet_type, data=body[1:])
    if len(body) < 5:
        raise FLVError("enhanced video tag is shorter than its FourCC")
    fourcc = body[1:5].decode("latin-1")
    cts = 0
    offset = 5
    if packet_type == VideoPacketType.CODED_FRAMES and fourcc in _CTS_CODECS:
        if len(body) < 8:
            raise FLVError("enhanced CodedFrames tag is missing its composition time")
        cts = _si24(body[5:8])
        offset = 8
    return ExVideoTag(
        frame_type=frame_type,
        packet_type=packet_type,
        fourcc=fourcc,
        composition_time_ms=cts,
        data=body[offset:],
    )


def parse_audio_tag(body: bytes) -> AudioTag:
    """Parse an FLV/RTMP audio tag body.

    Raises:
        FLVError: Empty body, or an AAC body without its AACPacketType.
    """
    if not body:
        raise FLVError("empty audio tag")
    first = body[0]
    fields = {
        "sound_format": first >> 4,
        "sound_rate": (first >> 2) & 3,
        "sound_size": (first >> 1) & 1,
        "sound_type": first & 1,
    }
    if fields["sound_format"] == SoundFormat.AAC:
        if len(body) < 2:
            raise FLVError("AAC audio tag without an AACPacketType")
        return AudioTag(**fields, aac_packet_type=body[1], data=body[2:])
    return AudioTag(**fields, data=body[1:])


# Plain ints for the per-packet classifiers: enum member lookups cost more than the work.
_KEY, _GENERATED_KEY, _COMMAND = int(FrameType.KEY), int(FrameType.GENERATED_KEY), 5
_AVC, _HEVC, _AAC = int(VideoCodecId.AVC), int(VideoCodecId.HEVC), int(SoundFormat.AAC)
_CTS_FOURCCS: Final = frozenset({b"avc1", b"hvc1"})


def classify_video_tag(body: bytes) -> tuple[bool, bool] | None:
    """``(is_keyframe, is_sequence_header)`` of a video tag body, or ``None`` if malformed.

    The same answer as the properties of ``parse_video_tag(body)`` (``None`` where it
    raises :class:`FLVError`), from the header bytes alone: the payload is not copied.
    """
    if not body:
        return None
    first = body[0]
    if first & 0x80:  # enhanced RTMP: same checks as _parse_ex_video
        frame_type, packet_type = (first >> 4) & 0x07, first & 0x0F
        if frame_type == _COMMAND and packet_type != VideoPacketType.METADATA:
            return None if len(body) < 2 else (False, False)  # no FourCC: never a header
        keyframe = frame_type == _KEY or frame_type == _GENERATED_KEY
        if packet_type > VideoPacketType.MPEG2TS_SEQUENCE_START:
            return keyframe, False
        if len(body) < 5 or (
            len(body) < 8
            and packet_type == VideoPacketType.CODED_FRAMES
            and body[1:5] in _CTS_FOURCCS
        ):
            return None
        return keyframe, packet_type == VideoPacketType.SEQUENCE_START
    frame_type, codec_id = first >> 4, first & 0x0F
    keyframe = frame_type == _KEY or frame_type == _GENERATED_KEY
    if codec_id == _AVC or codec_id == _HEVC:
        if len(body) < 5:
            return None
        return keyframe, body[1] == AVCPacketType.SEQUENCE_HEADER
    return keyframe, False


def classify_audio_tag(body: bytes) -> bool | None:
    """``is_sequence_header`` of an audio tag body, or ``None`` if malformed.

    The same answer as ``parse_audio_tag(body).is_sequence_header`` (``None`` where it
    raises :class:`FLVError`), without copying the payload.
    """
    if not body:
        return None
    if body[0] >> 4 == _AAC:
        if len(body) < 2:
            return None
        return body[1] == AACPacketType.SEQUENCE_HEADER
    return False


def encode_video_tag(tag: VideoTag | ExVideoTag) -> bytes:
    """Serialise a video tag body; the inverse of :func:`parse_video_tag`."""
    cts = (tag.composition_time_ms & 0xFFFFFF).to_bytes(3, "big")
    if isinstance(tag, VideoTag):
        first = bytes(((tag.frame_type & 0x0F) << 4 | (tag.codec_id & 0x0F),))
        if tag.packet_type is None:
            return first + tag.data
        return first + bytes((tag.packet_type,)) + cts + tag.data
    first = bytes((0x80 | (tag.frame_type & 0x07) << 4 | (tag.packet_type & 0x0F),))
    if tag.command is not None:
        return first + bytes((tag.command,)) + tag.data
    if tag.fourcc is None:
        return first + tag.data
    out = first + tag.fourcc.encode("latin-1")
    if tag.packet_type == VideoPacketType.CODED_FRAMES and tag.fourcc in _CTS_CODECS:
        out += cts
    return out + tag.data


def encode_audio_tag(tag: AudioTag) -> bytes:
    """Serialise an audio tag body; the inverse of :func:`parse_audio_tag`."""
    first = (
        (tag.sound_format & 0x0F) << 4
        | (tag.sound_rate & 3) << 2
        | (tag.sound_size & 1) << 1
        | (tag.sound_type & 1)
    )
    if tag.aac_packet_type is None:
        return bytes((first,)) + tag.data
    return bytes((first, tag.aac_packet_type)) + tag.data
