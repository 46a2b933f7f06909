"""A channel's audio as Opus, transcoded once and shared by all its WebRTC viewers.

WebRTC browsers play Opus, not AAC, so the channel's AAC is decoded and encoded
again: once per channel, whatever the number of viewers, while at least one
watches. The PyAV work runs in a worker thread, a batch of frames at a time; the
Trio task then sends each packet into every listener's RTP stream, through its
:class:`~trioflix.live.webrtc.outlet.Outlet` (no queue, task or wake-up per
listener). A listener whose outlet is not ready (connecting, or its socket
backed up) loses those packets, never holds up the others, and its video's queue
decides whether it is too slow to keep.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import trio

from protocols import flv
from trioflix.live.channel.packets import Kind
from trioflix.live.webrtc.outlet import Outlet

if TYPE_CHECKING:
    from trioflix.live.channel.stream import LiveStream

__all__ = ["OPUS_RATE", "OpusFeed", "OpusPacket", "OpusTranscoder"]

logger = logging.getLogger(__name__)

OPUS_RATE = 48_000  # RFC 7587 4.1: the RTP clock of Opus is always 48 kHz
OPUS_FRAME = 960  # 20 ms: what browsers send and expect
OPUS_BITRATE = 96_000  # stereo music at transparent quality
# A jump in the channel's timeline (a reconnect) moves the audio clock with it.
RESYNC_SAMPLES = OPUS_RATE // 5

OpusPacket = tuple[bytes, int]  # an Opus packet and its time on the 48 kHz clock


class OpusTranscoder:
    """AAC frames (FLV audio tag bodies) in, Opus packets out. Synchronous: PyAV, run
    in a worker thread."""

    def __init__(self) -> None:
        import av  # loaded with the first WebRTC viewer, not with the server

        self._av = av
        self._decoder: Any = None
        self._encoder = av.CodecContext.create("libopus", "w")
        self._encoder.sample_rate = OPUS_RATE
        self._encoder.layout = "stereo"
        self._encoder.format = "s16"
        self._encoder.bit_rate = OPUS_BITRATE
        # Constant bitrate: every packet of one size (240 bytes), so the packets a
        # listener is sent together leave in one system call (UDP GSO needs
        # datagrams of one size; 1.8 came together on average in the WebRTC benchmark).
        self._encoder.options = {"vbr": "off"}
        self._encoder.time_base = Fraction(1, OPUS_RATE)
        self._resampler = av.AudioResampler(
            format="s16", layout="stereo", rate=OPUS_RATE, frame_size=OPUS_FRAME
        )
        self._next_pts: int | None = None

    def transcode(self, frames: list[tuple[bytes, int]]) -> list[OpusPacket]:
        """Opus packets (bytes, pts at 48 kHz) for FLV audio bodies with their times (ms).

        A sequence header (AudioSpecificConfig) opens a new decoder; frames before
        the first one, and frames that do not decode, are skipped.
        """
        out: list[OpusPacket] = []
        for payload, timestamp_ms in frames:
            try:
                tag = flv.parse_audio_tag(payload)
            except flv.FLVError:
                continue
            if tag.is_sequence_header:
                self._decoder = self._av.CodecContext.create("aac", "r")
                self._decoder.extradata = tag.data
                continue
            if not tag.is_aac_frame or self._decoder is None:
                continue
            expected = timestamp_ms * OPUS_RATE // 1000
            if self._next_pts is None or abs(self._next_pts - expected) > RESYNC_SAMPLES:
                self._next_pts = expected
            try:
                decoded = self._decoder.decode(self._av.Packet(tag.data))
            except self._av.FFmpegError:
                continue
            for frame in decoded:
                frame.pts = None
                for resampled in self._resampler.resample(frame):
                    for packet in self._encoder.encode(resampled):
                        out.append((bytes(packet), self._next_pts))
                        self._next_pts += OPUS_FRAME
        return out


class OpusFeed:
    """The Opus of one channel's session, for as long as a listener is there.

    Create it with the first listener (:meth:`listen`) and run :meth:`run` in a
    nursery; it ends when the last listener leaves or the session ends, and
    closes every listener then.
    """

    def __init__(self, live: LiveStream) -> None:
        self.live = live
        self._listeners: set[Outlet] = set()
        self._scope = trio.CancelScope()
        self.frames_in = 0  # AAC frames transcoded (for tests and metrics)

    def listen(self) -> Outlet:
        """A new listener's outlet: the channel's Opus packets from now on."""
        listener = Outlet()
        if self._scope.cancel_called:
            listener.close()
        else:
            self._listeners.add(listener)
        return listener

    def leave(self, listener: Outlet) -> None:
        self._listeners.discard(listener)
        listener.close()
        if not self._listeners:
            self._scope.cancel()

    @property
    def running(self) -> bool:
        return not self._scope.cancel_called

    async def run(self) -> None:
        """Transcode until the last listener leaves or the session ends."""
        subscriber = self.live.subscribe_session()
        try:
            with self._scope:
                transcoder = await trio.to_thread.run_sync(OpusTranscoder)
                while batch := await subscriber.next_batch():
                    frames = [(p.payload, p.timestamp) for p in batch if p.kind is Kind.AUDIO]
                    if not frames:
                        continue
                    self.frames_in += len(frames)
                    packets = await trio.to_thread.run_sync(transcoder.transcode, frames)
                    # Each packet a frame of its own; pts already on the 48 kHz RTP clock.
                    rtp_frames = [([data], pts) for data, pts in packets]
                    for listener in tuple(self._listeners):
                        if rtp_frames and listener.ready:
                            listener.send(rtp_frames)
        finally:
            self._scope.cancel()
            self.live.unsubscribe(subscriber)
            for listener in self._listeners:
                listener.close()
            self._listeners.clear()
