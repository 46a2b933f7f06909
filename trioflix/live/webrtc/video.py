"""One WebRTC viewer's video: the channel's FLV video packets as H.264 access units.

Nothing is decoded: each frame's length-prefixed NAL units become an Annex B byte
stream (what aiortc's H.264 packetiser splits into RTP payloads), with the
sequence parameter sets in front of every IDR picture, so a browser can start at
any keyframe and recover after a skip. The RTP timestamp is the presentation time
on the channel's timeline, in milliseconds here (aiortc converts it to the
90 kHz clock).

WebRTC has no decode order: a browser renders each frame as it completes, so a
stream whose frames are reordered (B-frames: a frame's presentation time differs
from its decode time, FLV's composition time is not 0) cannot be passed through;
:class:`ReorderedFrames` says so. An encoder without B-frames sends every frame
with composition time 0 (x264, NVENC, QuickSync and AMF with B-frames off).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from protocols import flv, hls
from trioflix.live.channel.packets import Kind

if TYPE_CHECKING:
    from collections.abc import Iterable

    from trioflix.live.channel.packets import Packet

__all__ = [
    "AccessUnit",
    "ReorderedFrames",
    "UnsupportedVideo",
    "VideoConverter",
    "unsupported_reason",
]

B_FRAMES_HELP = (
    "the stream uses B-frames, which WebRTC cannot play in order; set the encoder to"
    " send none (OBS: Output, Streaming, x264 options 'bframes=0', or 'B-frames: 0' for"
    " hardware encoders; ffmpeg: -bf 0), or watch over HLS or HTTP-FLV"
)


class UnsupportedVideo(Exception):
    """The channel's video cannot be passed through to WebRTC; the message says why."""


class ReorderedFrames(UnsupportedVideo):
    """The stream has B-frames (frames out of presentation order)."""

    def __init__(self) -> None:
        super().__init__(B_FRAMES_HELP)


@dataclass(frozen=True, slots=True)
class AccessUnit:
    """One picture, ready for the packetiser; one object for every viewer of the
    rendition that is sent it (:class:`~trioflix.live.webrtc.video_feed.VideoFeed`).

    Attributes:
        data: Annex B byte stream (AUD, parameter sets before an IDR, the slices).
        pts_ms: Presentation (= decode) time on the channel's timeline, in ms.
        keyframe: An IDR picture: a decoder can start here.
        payloads: Its RTP payloads, made for the first viewer it is sent to
            (:func:`~trioflix.live.webrtc.tracks.h264_payloads`, by the rendition's
            :class:`~trioflix.live.webrtc.video_feed.VideoFeed`), then taken as
            they are for the others: a frame is packetised once.
    """

    data: bytes
    pts_ms: int
    keyframe: bool
    payloads: list[bytes] = field(default_factory=list, compare=False)


def unsupported_reason(config: Packet | None, frames: Iterable[Packet]) -> str | None:
    """Why a new viewer could not be served the channel's video now, or ``None``.

    Args:
        config: The channel's video sequence header, ``None`` before it came.
        frames: The current group of pictures (what a new viewer is sent first).
    """
    converter = VideoConverter()
    try:
        # No header yet (the stream is just starting): the viewer waits for it.
        for packet in (config, *frames) if config is not None else ():
            converter.convert(packet)
    except UnsupportedVideo as exc:
        return str(exc)
    return None


class VideoConverter:
    """FLV video packets in, :class:`AccessUnit` out, for one viewer."""

    def __init__(self) -> None:
        self._config: flv.AVCDecoderConfig | None = None

    def convert(self, packet: Packet) -> AccessUnit | None:
        """The access unit of a video frame; ``None`` for a sequence header or an
        unusable frame (malformed, or before the first sequence header).

        Raises:
            UnsupportedVideo: The codec is not H.264.
            ReorderedFrames: A frame's presentation time is not its decode time:
                the encoder reorders frames (B-frames).
        """
        if packet.kind is not Kind.VIDEO:
            return None
        try:
            tag = flv.parse_video_tag(packet.payload)
        except flv.FLVError:
            return None
        if tag.fourcc != "avc1":
            raise UnsupportedVideo(
                f"WebRTC plays H.264 video here; the channel sends {tag.fourcc or 'another codec'}"
            )
        if tag.is_sequence_header:
            try:
                self._config = flv.parse_avc_config(tag.data)
            except flv.FLVError:
                self._config = None
            return None
        if not tag.is_coded_frame or self._config is None:
            return None
        if tag.composition_time_ms:
            raise ReorderedFrames
        try:
            data, keyframe = hls.to_annex_b(tag.data, self._config)
        except hls.HLSError:
            return None
        return AccessUnit(data, packet.timestamp, keyframe)
