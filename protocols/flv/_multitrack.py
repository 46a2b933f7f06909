"""Enhanced RTMP v2 multitrack audio and video tag bodies.

Rules (enhanced RTMP v2, "Multitrack"), in our own words
--------------------------------------------------------
A multitrack video body starts like any enhanced video body: bit 7 of byte 0 is IsExHeader,
bits 6-4 the FrameType, bits 3-0 the VideoPacketType, here ``Multitrack`` (6). A multitrack
audio body starts with SoundFormat 9 (ExHeader) in the upper nibble and AudioPacketType
``Multitrack`` (5) in the lower one. The next byte holds the AvMultitrackType in its upper
nibble and the real packet type of every track in its lower one (which is never Multitrack
again). Then:

- ``OneTrack`` (0): FourCC, track id (UI8), and the rest of the body is that track's packet.
- ``ManyTracks`` (1): FourCC shared by all tracks, then repeated until the body ends: track id
  (UI8), size (UI24) and that many bytes of the track's packet.
- ``ManyTracksManyCodecs`` (2): as ManyTracks, but each track starts with its own FourCC.

A track's packet is what a single-track enhanced body carries after its FourCC: for video
``CodedFrames`` of ``avc1``/``hvc1`` an SI24 composition time, then the payload. Track 0 is
the default track. The FrameType of a multitrack video body applies to every track in it.

:func:`single_track_video` and :func:`single_track_audio` turn one track back into the plain
body every other reader understands: legacy AVC/AAC where the codec has a legacy form, else a
single-track enhanced body.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from ._errors import FLVError
from ._tags import (
    AACPacketType,
    AudioTag,
    AVCPacketType,
    ExVideoTag,
    SoundFormat,
    VideoCodecId,
    VideoPacketType,
    VideoTag,
    encode_audio_tag,
    encode_video_tag,
)

__all__ = [
    "AudioPacketType",
    "AvMultitrackType",
    "MultitrackAudioTag",
    "MultitrackVideoTag",
    "TrackPacket",
    "encode_multitrack_audio",
    "encode_multitrack_video",
    "is_multitrack_audio",
    "is_multitrack_video",
    "parse_multitrack_audio",
    "parse_multitrack_video",
    "single_track_audio",
    "single_track_video",
]


class AvMultitrackType(enum.IntEnum):
    """How a multitrack body lays out its tracks."""

    ONE_TRACK = 0
    MANY_TRACKS = 1
    MANY_TRACKS_MANY_CODECS = 2


class AudioPacketType(enum.IntEnum):
    """Enhanced RTMP AudioPacketType (SoundFormat 9)."""

    SEQUENCE_START = 0
    CODED_FRAMES = 1
    SEQUENCE_END = 2
    MULTICHANNEL_CONFIG = 4
    MULTITRACK = 5
    MOD_EX = 7


_CTS_CODECS: Final = frozenset({"avc1", "hvc1"})
_MAX_TRACK_SIZE: Final = (1 << 24) - 1  # the UI24 size field of ManyTracks
# avc1 maps onto legacy AVC tags (CodecID 7), which every FLV reader decodes.
_LEGACY_AVC_TYPES: Final = {
    VideoPacketType.SEQUENCE_START: AVCPacketType.SEQUENCE_HEADER,
    VideoPacketType.CODED_FRAMES: AVCPacketType.NALU,
    VideoPacketType.CODED_FRAMES_X: AVCPacketType.NALU,
    VideoPacketType.SEQUENCE_END: AVCPacketType.END_OF_SEQUENCE,
}
# mp4a maps onto legacy AAC tags; the legacy form has nothing for the other packet types.
_LEGACY_AAC_TYPES: Final = {
    AudioPacketType.SEQUENCE_START: AACPacketType.SEQUENCE_HEADER,
    AudioPacketType.CODED_FRAMES: AACPacketType.RAW,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class TrackPacket:
    """One track's packet inside a multitrack body.

    Attributes:
        track_id: Track id, 0-255; 0 is the default track.
        fourcc: Codec FourCC, e.g. ``"avc1"``, ``"hvc1"``, ``"mp4a"``, ``"Opus"``.
        composition_time_ms: Signed PTS - DTS in ms (video ``CodedFrames`` of avc1/hvc1).
        data: The payload: configuration record, coded frames, or the codec's bytes.
    """

    track_id: int
    fourcc: str
    composition_time_ms: int = 0
    data: bytes = b""

    def __post_init__(self) -> None:
        if not 0 <= self.track_id <= 255:
            raise ValueError(f"track id {self.track_id} does not fit in a UI8")
        if len(self.fourcc.encode("latin-1")) != 4:
            raise ValueError(f"FourCC {self.fourcc!r} is not 4 bytes")


def _check_tracks(multitrack_type: int, tracks: tuple[TrackPacket, ...]) -> None:
    if multitrack_type not in tuple(AvMultitrackType):
        raise ValueError(f"unknown AvMultitrackType {multitrack_type}")
    if not tracks:
        raise ValueError("a multitrack body carries at least one track")
    if multitrack_type == AvMultitrackType.ONE_TRACK and len(tracks) != 1:
        raise ValueError("OneTrack carries exactly one track")
    if multitrack_type != AvMultitrackType.MANY_TRACKS_MANY_CODECS and (
        len({track.fourcc for track in tracks}) != 1
    ):
        raise ValueError("only ManyTracksManyCodecs mixes FourCCs")


@dataclass(frozen=True, slots=True, kw_only=True)
class MultitrackVideoTag:
    """A multitrack enhanced video body.

    Attributes:
        frame_type: FrameType of every track's packet (1 key, 2 inter, ...).
        multitrack_type: :class:`AvMultitrackType`.
        packet_type: VideoPacketType of every track's packet (never Multitrack).
        tracks: The tracks' packets, in body order.
    """

    frame_type: int
    multitrack_type: int
    packet_type: int
    tracks: tuple[TrackPacket, ...]

    def __post_init__(self) -> None:
        if self.packet_type == VideoPacketType.MULTITRACK:
            raise ValueError("a multitrack body cannot nest Multitrack")
        _check_tracks(self.multitrack_type, self.tracks)

    def track(self, track_id: int) -> TrackPacket | None:
        """The packet of ``track_id``, or ``None`` if this body does not carry it."""
        return next((t for t in self.tracks if t.track_id == track_id), None)


@dataclass(frozen=True, slots=True, kw_only=True)
class MultitrackAudioTag:
    """A multitrack enhanced audio body (SoundFormat 9, AudioPacketType Multitrack).

    Attributes:
        multitrack_type: :class:`AvMultitrackType`.
        packet_type: AudioPacketType of every track's packet (never Multitrack).
        tracks: The tracks' packets, in body order (composition time always 0).
    """

    multitrack_type: int
    packet_type: int
    tracks: tuple[TrackPacket, ...]

    def __post_init__(self) -> None:
        if self.packet_type == AudioPacketType.MULTITRACK:
            raise ValueError("a multitrack body cannot nest Multitrack")
        _check_tracks(self.multitrack_type, self.tracks)

    def track(self, track_id: int) -> TrackPacket | None:
        """The packet of ``track_id``, or ``None`` if this body does not carry it."""
        return next((t for t in self.tracks if t.track_id == track_id), None)


def is_multitrack_video(body: bytes) -> bool:
    """Whether a video body is enhanced Multitrack, from its first byte alone."""
    return bool(body) and body[0] & 0x8F == 0x80 | VideoPacketType.MULTITRACK


def is_multitrack_audio(body: bytes) -> bool:
    """Whether an audio body is enhanced Multitrack, from its first byte alone."""
    return bool(body) and body[0] == SoundFormat.EX_HEADER << 4 | AudioPacketType.MULTITRACK


def _si24(data: bytes) -> int:
    value = int.from_bytes(data, "big")
    return value - (1 << 24) if value & 0x800000 else value


def _parse_tracks(body: bytes, video: bool) -> tuple[int, int, tuple[TrackPacket, ...]]:
    """Parse from the AvMultitrackType byte (``body[1]``) to the end."""
    if len(body) < 2:
        raise FLVError("multitrack body without its AvMultitrackType byte")
    multitrack_type, packet_type = body[1] >> 4, body[1] & 0x0F
    if multitrack_type > AvMultitrackType.MANY_TRACKS_MANY_CODECS:
        raise FLVError(f"reserved AvMultitrackType {multitrack_type}")
    if packet_type == (VideoPacketType.MULTITRACK if video else AudioPacketType.MULTITRACK):
        raise FLVError("multitrack body nests Multitrack")
    many_codecs = multitrack_type == AvMultitrackType.MANY_TRACKS_MANY_CODECS
    offset = 2
    fourcc = ""
    if not many_codecs:
        if len(body) < offset + 4:
            raise FLVError("multitrack body is shorter than its FourCC")
        fourcc = body[offset : offset + 4].decode("latin-1")
        offset += 4
    tracks: list[TrackPacket] = []
    while offset < len(body) or not tracks:
        if many_codecs:
            if len(body) < offset + 4:
                raise FLVError("multitrack track is shorter than its FourCC")
            fourcc = body[offset : offset + 4].decode("latin-1")
            offset += 4
        if len(body) < offset + 1:
            raise FLVError("multitrack track without its track id")
        track_id = body[offset]
        offset += 1
        if multitrack_type == AvMultitrackType.ONE_TRACK:
            end = len(body)
        else:
            if len(body) < offset + 3:
                raise FLVError("multitrack track without its size")
            end = offset + 3 + int.from_bytes(body[offset : offset + 3], "big")
            offset += 3
            if end > len(body):
                raise FLVError(f"multitrack track of {end - offset} bytes overruns the body")
        cts = 0
        if video and packet_type == VideoPacketType.CODED_FRAMES and fourcc in _CTS_CODECS:
            if end < offset + 3:
                raise FLVError("multitrack CodedFrames track is missing its composition time")
            cts = _si24(body[offset : offset + 3])
            offset += 3
        tracks.append(
            TrackPacket(
                track_id=track_id,
                fourcc=fourcc,
                composition_time_ms=cts,
                data=body[offset:end],
            )
        )
        offset = end
    return multitrack_type, packet_type, tuple(tracks)


def parse_multitrack_video(body: bytes) -> MultitrackVideoTag:
    """Parse a multitrack enhanced video body into its tracks.

    Raises:
        FLVError: Not a multitrack video body, or truncated, or a reserved/nested type.
    """
    if not is_multitrack_video(body):
        raise FLVError("not a multitrack enhanced video body")
    multitrack_type, packet_type, tracks = _parse_tracks(body, video=True)
    return MultitrackVideoTag(
        frame_type=(body[0] >> 4) & 0x07,
        multitrack_type=multitrack_type,
        packet_type=packet_type,
        tracks=tracks,
    )


def parse_multitrack_audio(body: bytes) -> MultitrackAudioTag:
    """Parse a multitrack enhanced audio body into its tracks.

    Raises:
        FLVError: Not a multitrack audio body, or truncated, or a reserved/nested type.
    """
    if not is_multitrack_audio(body):
        raise FLVError("not a multitrack enhanced audio body")
    multitrack_type, packet_type, tracks = _parse_tracks(body, video=False)
    return MultitrackAudioTag(
        multitrack_type=multitrack_type, packet_type=packet_type, tracks=tracks
    )


def _encode_tracks(
    multitrack_type: int, packet_type: int, tracks: tuple[TrackPacket, ...], video: bool
) -> bytes:
    out = bytearray((multitrack_type << 4 | packet_type,))
    many_codecs = multitrack_type == AvMultitrackType.MANY_TRACKS_MANY_CODECS
    if not many_codecs:
        out += tracks[0].fourcc.encode("latin-1")
    for track in tracks:
        packet = track.data
        if video and packet_type == VideoPacketType.CODED_FRAMES and track.fourcc in _CTS_CODECS:
            packet = (track.composition_time_ms & 0xFFFFFF).to_bytes(3, "big") + packet
        if many_codecs:
            out += track.fourcc.encode("latin-1")
        out.append(track.track_id)
        if multitrack_type != AvMultitrackType.ONE_TRACK:
            if len(packet) > _MAX_TRACK_SIZE:
                raise ValueError(f"track packet of {len(packet)} bytes overflows its UI24 size")
            out += len(packet).to_bytes(3, "big")
        out += packet
    return bytes(out)


def encode_multitrack_video(tag: MultitrackVideoTag) -> bytes:
    """Serialise a multitrack video body; the inverse of :func:`parse_multitrack_video`."""
    first = 0x80 | (tag.frame_type & 0x07) << 4 | VideoPacketType.MULTITRACK
    return bytes((first,)) + _encode_tracks(
        tag.multitrack_type, tag.packet_type, tag.tracks, video=True
    )


def encode_multitrack_audio(tag: MultitrackAudioTag) -> bytes:
    """Serialise a multitrack audio body; the inverse of :func:`parse_multitrack_audio`."""
    first = SoundFormat.EX_HEADER << 4 | AudioPacketType.MULTITRACK
    return bytes((first,)) + _encode_tracks(
        tag.multitrack_type, tag.packet_type, tag.tracks, video=False
    )


def single_track_video(tag: MultitrackVideoTag, track_id: int) -> bytes | None:
    """The body of one track as a plain video body, or ``None`` if ``tag`` lacks it.

    ``avc1`` becomes a legacy AVC body (what every FLV reader decodes), other codecs a
    single-track enhanced body with the same FourCC.
    """
    track = tag.track(track_id)
    if track is None:
        return None
    if track.fourcc == "avc1" and tag.packet_type in _LEGACY_AVC_TYPES:
        return encode_video_tag(
            VideoTag(
                frame_type=tag.frame_type,
                codec_id=VideoCodecId.AVC,
                packet_type=_LEGACY_AVC_TYPES[VideoPacketType(tag.packet_type)],
                composition_time_ms=track.composition_time_ms,
                data=track.data,
            )
        )
    return encode_video_tag(
        ExVideoTag(
            frame_type=tag.frame_type,
            packet_type=tag.packet_type,
            fourcc=track.fourcc,
            composition_time_ms=track.composition_time_ms,
            data=track.data,
        )
    )


def single_track_audio(tag: MultitrackAudioTag, track_id: int) -> bytes | None:
    """The body of one track as a plain audio body, or ``None`` if there is none.

    ``mp4a`` sequence starts and coded frames become legacy AAC bodies; its other packet
    types (MultichannelConfig, SequenceEnd) have no legacy form and give ``None``. Other
    codecs become a single-track enhanced body (SoundFormat 9, packet type, FourCC, data).
    """
    track = tag.track(track_id)
    if track is None:
        return None
    if track.fourcc == "mp4a":
        if tag.packet_type not in _LEGACY_AAC_TYPES:
            return None
        return encode_audio_tag(
            AudioTag(
                sound_format=SoundFormat.AAC,
                aac_packet_type=_LEGACY_AAC_TYPES[AudioPacketType(tag.packet_type)],
                data=track.data,
            )
        )
    first = SoundFormat.EX_HEADER << 4 | tag.packet_type
    return bytes((first,)) + track.fourcc.encode("latin-1") + track.data
