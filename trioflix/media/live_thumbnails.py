"""Live thumbnails: a recent picture of a live stream, for ``GET /live/{channel}/thumbnail.jpg``.

The picture is the keyframe that opens the channel's current GOP
(:meth:`LiveStream.latest_keyframe`), decoded with the stream's sequence header by
PyAV in a worker thread, scaled to :data:`THUMBNAIL_WIDTH` and encoded as a JPEG.
Each channel's picture is cached for :data:`CACHE_S`, and requests that find it
stale wait on one decode (a lock per channel): however many home pages ask, a
channel costs at most one decode per :data:`CACHE_S`, and none while its GOP has
not changed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

import trio

from protocols import flv

if TYPE_CHECKING:
    from trioflix.live.channel.packets import Packet

__all__ = [
    "CACHE_S",
    "THUMBNAIL_WIDTH",
    "ThumbnailCache",
    "ThumbnailError",
    "render_thumbnail",
]

logger = logging.getLogger(__name__)

THUMBNAIL_WIDTH: Final = 320  # a home-page card is at most ~320 CSS px wide
# The home page refreshes every 15 s; 5 s keeps a picture recent while a crowd of
# viewers reloading it still costs one decode.
CACHE_S: Final = 5.0
FORGET_S: Final = 120.0  # entries of channels nobody asked about for this long are dropped
# Decodes at once across all channels: a thumbnail is a nicety, never a CPU hog.
DECODE_THREADS: Final = 2
# Decoders for the FourCCs that RTMP carries (legacy AVC/HEVC tags report avc1/hvc1).
_DECODERS: Final = {"avc1": "h264", "hvc1": "hevc", "av01": "libdav1d", "vp09": "vp9"}


class ThumbnailError(ValueError):
    """The stream's keyframe could not be turned into a picture."""


def render_thumbnail(config: bytes, keyframe: bytes, width: int = THUMBNAIL_WIDTH) -> bytes:
    """A JPEG of ``keyframe`` at most ``width`` wide (aspect kept).

    Blocking (decodes and encodes): call through ``trio.to_thread``.

    Args:
        config: The video sequence header's FLV tag body (AVC/HEVC configuration record).
        keyframe: A keyframe's FLV tag body.
        width: The widest the picture may be.

    Raises:
        ThumbnailError: Unparseable tags, an unsupported codec, or undecodable data.
    """
    try:
        header = flv.parse_video_tag(config)
        frame_tag = flv.parse_video_tag(keyframe)
    except flv.FLVError as exc:
        raise ThumbnailError(f"bad video tag: {exc}") from exc
    codec = _DECODERS.get(header.fourcc or "")
    if codec is None:
        raise ThumbnailError(f"no decoder for {header.fourcc!r}")
    # PyAV (17 MiB of resident libraries) loads with the first thumbnail, not
    # with the server: a host nobody publishes to never needs it.
    import av

    from trioflix.media.images import encode_jpeg, fit_width

    try:
        context = av.CodecContext.create(codec, "r")
        assert isinstance(context, av.VideoCodecContext)
        context.extradata = header.data
        context.thread_type = "SLICE"  # frame threads would hold the one picture back
        frames = [*context.decode(av.Packet(frame_tag.data)), *context.decode(None)]
    except (av.FFmpegError, ValueError) as exc:  # ValueError: codec not built in
        raise ThumbnailError(f"cannot decode the keyframe: {exc}") from exc
    if not frames:
        raise ThumbnailError("the decoder returned no picture")
    frame = frames[0]
    return encode_jpeg(frame, *fit_width(frame.width, frame.height, width))


@dataclass
class _Entry:
    source: tuple[int, int, int]  # (session, publisher generation, keyframe timestamp)
    jpeg: bytes  # empty: the keyframe did not decode (not retried until the entry is stale)
    made_at: float

    def serves(self, source: tuple[int, int, int], now: float) -> bool:
        """Same keyframe (still the newest picture), or same session and recent enough."""
        return self.source == source or (
            self.source[0] == source[0] and now - self.made_at < CACHE_S
        )


@dataclass
class ThumbnailCache:
    """Each live channel's latest thumbnail, and the decodes that made them.

    Attributes:
        decodes: Keyframes decoded so far (for tests and curiosity).
    """

    decodes: int = 0
    _entries: dict[str, _Entry] = field(default_factory=dict)
    _locks: dict[str, trio.Lock] = field(default_factory=dict)
    _limiter: trio.CapacityLimiter = field(
        default_factory=lambda: trio.CapacityLimiter(DECODE_THREADS)
    )

    async def get(self, channel: str, session_id: int, config: Packet, keyframe: Packet) -> bytes:
        """The JPEG for ``keyframe``: cached if it serves, else decoded once for every waiter.

        Raises:
            ThumbnailError: The keyframe does not decode.
        """
        source = (session_id, keyframe.generation, keyframe.timestamp)
        entry = self._entries.get(channel)
        if entry is None or not entry.serves(source, trio.current_time()):
            async with self._locks.setdefault(channel, trio.Lock()):
                entry = self._entries.get(channel)  # a request we waited for may have made it
                if entry is None or not entry.serves(source, trio.current_time()):
                    entry = await self._make(channel, source, config, keyframe)
        if not entry.jpeg:
            raise ThumbnailError("the current keyframe does not decode")
        return entry.jpeg

    async def _make(
        self, channel: str, source: tuple[int, int, int], config: Packet, keyframe: Packet
    ) -> _Entry:
        self.decodes += 1
        try:
            jpeg = await trio.to_thread.run_sync(
                render_thumbnail, config.payload, keyframe.payload, limiter=self._limiter
            )
        except ThumbnailError as exc:
            logger.info("%s: no live thumbnail: %s", channel, exc)
            jpeg = b""
        now = trio.current_time()
        entry = self._entries[channel] = _Entry(source, jpeg, now)
        self._forget_old(now)
        return entry

    def forget(self, channel: str) -> None:
        """The channel is offline: its picture must not outlive the stream."""
        self._entries.pop(channel, None)

    def _forget_old(self, now: float) -> None:
        for name in [n for n, e in self._entries.items() if now - e.made_at > FORGET_S]:
            del self._entries[name]
            lock = self._locks.get(name)
            if lock is not None and not lock.locked():
                del self._locks[name]
