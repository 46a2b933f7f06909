"""What a media file really is, read with PyAV (never trusted from the client's metadata).

:func:`probe` opens the file, describes its container and first video and
audio streams, and decodes one video frame to prove the video is playable
(and to read its rotation, which lives in the frame's display matrix).
:func:`check_video` is the quick part of that: a video stream whose first
picture decodes, read from any seekable file object (an upload still in the
object store), so that a file that is no video is refused before any job runs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import IO, TYPE_CHECKING, Any

import av

if TYPE_CHECKING:
    import io
    from pathlib import Path

__all__ = ["AudioInfo", "MediaInfo", "NotPlayable", "VideoInfo", "check_video", "probe"]

PROBE_PACKET_LIMIT = 2000  # packets read looking for a first decodable frame


class NotPlayable(Exception):
    """The file is not a playable video; the message says why, for the uploader."""


@dataclass(frozen=True, slots=True, kw_only=True)
class VideoInfo:
    codec: str
    profile: str | None
    pix_fmt: str | None
    width: int
    height: int
    display_width: int  # after rotation
    display_height: int
    fps: float
    rotation: int  # degrees clockwise to turn the coded picture for display: 0, 90, 180, 270
    bitrate: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class AudioInfo:
    codec: str
    channels: int
    sample_rate: int
    bitrate: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaInfo:
    container: str
    duration: float
    bitrate: int | None
    size: int
    video: VideoInfo
    audio: AudioInfo | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _clockwise(rotation: float) -> int:
    # The display matrix angle is counter-clockwise; players turn the picture the
    # other way. Snap to the right angles that encoders write.
    return round(-rotation / 90.0) % 4 * 90


def _first_frame(container: av.container.InputContainer, stream: av.VideoStream) -> av.VideoFrame:
    for count, packet in enumerate(container.demux(stream)):
        if count >= PROBE_PACKET_LIMIT:
            break
        try:
            for frame in packet.decode():
                return frame
        except av.error.FFmpegError:
            continue
    raise NotPlayable("the video stream has no decodable picture")


def _duration(container: av.container.InputContainer, stream: av.VideoStream) -> float:
    if container.duration is not None and container.duration > 0:
        return float(container.duration / av.time_base)
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    # No duration in the headers (some raw streams): walk the packets, no decoding.
    container.seek(0)
    end = 0.0
    for packet in container.demux(stream):
        if packet.pts is not None and packet.time_base is not None:
            end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
    return end


def _still_picture(container: av.container.InputContainer) -> bool:
    # FFmpeg reads a lone PNG, JPEG, WebP... as a one-frame video through its
    # image demuxers (``png_pipe``, ``image2``); a real video never comes that way.
    name = container.format.name
    return name.endswith("_pipe") or name == "image2"


def check_video(source: IO[bytes] | io.RawIOBase) -> None:
    """Check that ``source`` holds a video stream whose first picture decodes.

    Blocking (it reads and decodes): call it in a worker thread. ``source`` must
    be readable and seekable.

    Raises:
        NotPlayable: It is not a media file, it is a still picture, it has no
            video stream, or its first picture cannot be decoded; the message is
            the reason in a few words, for the uploader.
    """
    try:
        container = av.open(source, "r")
    except av.error.FFmpegError:
        raise NotPlayable("it is not a media file we can read") from None
    with container:
        if _still_picture(container):
            raise NotPlayable("it is a still picture, not a video")
        # A cover picture (an MP3's album art) is a video stream of one frame.
        moving = [
            stream
            for stream in container.streams.video
            if av.stream.Disposition.attached_pic not in stream.disposition
        ]
        if not moving:
            raise NotPlayable("no video stream found")
        try:
            _first_frame(container, moving[0])
        except (NotPlayable, av.error.FFmpegError):
            raise NotPlayable("its pictures cannot be decoded") from None


def probe(path: Path) -> MediaInfo:
    """Describe the media file at ``path``.

    Raises:
        NotPlayable: It cannot be opened as media, has no video stream, or its
            video cannot be decoded.
    """
    try:
        container = av.open(str(path), "r")
    except av.error.FFmpegError as exc:
        # strerror only: the full message names the server's file path.
        raise NotPlayable(
            f"the file is not a media file that can be read ({exc.strerror})"
        ) from None
    with container:
        if not container.streams.video:
            raise NotPlayable("the file has no video stream")
        stream = container.streams.video[0]
        context = stream.codec_context
        try:
            frame = _first_frame(container, stream)
        except av.error.FFmpegError as exc:
            raise NotPlayable(f"the video stream cannot be decoded ({exc.strerror})") from None
        rotation = _clockwise(frame.rotation)
        width, height = frame.width, frame.height
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        video = VideoInfo(
            codec=context.name,
            profile=context.profile,
            pix_fmt=frame.format.name,
            width=width,
            height=height,
            display_width=height if rotation in (90, 270) else width,
            display_height=width if rotation in (90, 270) else height,
            fps=round(float(rate), 3) if rate else 0.0,
            rotation=rotation,
            bitrate=context.bit_rate or None,
        )
        audio = None
        if container.streams.audio:
            a = container.streams.audio[0].codec_context
            audio = AudioInfo(
                codec=a.name,
                channels=a.channels,
                sample_rate=a.sample_rate,
                bitrate=a.bit_rate or None,
            )
        duration = _duration(container, stream)
        if duration <= 0:
            raise NotPlayable("the video has no duration")
        return MediaInfo(
            container=container.format.name,
            duration=round(duration, 3),
            bitrate=container.bit_rate or None,
            size=path.stat().st_size,
            video=video,
            audio=audio,
        )
