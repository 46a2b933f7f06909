"""Where a channel's feed task sends one viewer's media of one kind: its RTP stream.

A WHEP viewer's media used to wait in a queue of its own, which the viewer's own
asyncio task (aiortc's sender loop) emptied: per viewer, per video frame and per
Opus packet, a future set from Trio, a task woken on the asyncio loop and a pause
to let the others run, some 80 wake-ups a second, which cost about as much as the
frame's SRTP (docs/benchmarks.md, "where a viewer's CPU goes"). Now nobody waits:
a channel's feed task (:class:`~trioflix.live.webrtc.video_feed.VideoFeed` per
rendition, :class:`~trioflix.live.webrtc.opus.OpusFeed` for the audio) walks its
viewers' outlets for each frame and sends into each with a plain call, and the
viewer's :class:`~trioflix.live.webrtc.rtp_sender.RtpStream` makes the packets
and hands them to the socket there and then. Both sides run on the one thread of
the trio-asyncio loop.

An outlet is :attr:`Outlet.ready` once aiortc has started the track's sender (ICE
and DTLS connected) and while the viewer's socket has no more than
``SOCKET_BACKLOG_BYTES`` waiting: the feed gives a viewer that is not ready
nothing, and its video stays in its subscriber to the channel, whose rules skip
or drop a viewer that lags (:mod:`trioflix.live.channel.fanout`); its audio is
dropped (stale audio is worth nothing). So no viewer holds up the others, and
nothing queues but in the subscriber's bounded queue.

Imported with the first session, but loads only the standard library.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

__all__ = ["SOCKET_BACKLOG_BYTES", "Frame", "Outlet", "Stream"]

Frame = tuple[list[bytes], int]  # a frame's RTP payloads, and its time on the track's RTP clock

# Datagrams the viewer's socket did not take yet (its send buffer full: asyncio's
# transport holds them until it can write): a keyframe's worth at 3 Mbit/s. More,
# and the viewer is given nothing until they have gone.
SOCKET_BACKLOG_BYTES = 64 * 1024


class Stream(Protocol):
    """A viewer's RTP stream of one track (:class:`~trioflix.live.webrtc.rtp_sender.RtpStream`)."""

    @property
    def backlog(self) -> int:
        """Bytes waiting for the viewer's socket."""
        ...

    def send(self, frames: list[Frame]) -> None:
        """Send frames (each its payloads, the marker bit on its last), in one go.

        Raises:
            ConnectionError: The viewer's connection is gone.
        """
        ...


class Outlet:
    """One viewer's media of one kind, from a feed's Trio task to the viewer's RTP stream."""

    def __init__(self) -> None:
        self._stream: Stream | None = None
        self._done: asyncio.Future[None] | None = None
        self.closed = False

    @property
    def ready(self) -> bool:
        """Whether :meth:`send` sends now (see the module's docstring)."""
        return self._stream is not None and self._stream.backlog <= SOCKET_BACKLOG_BYTES

    def send(self, frames: list[Frame]) -> bool:
        """Send ``frames`` if aiortc has started the sender; whether it did. The
        feeds ask :attr:`ready` before they take a viewer's batch, and then send it
        all (a frame left out would break the picture until the next keyframe).

        A connection found gone ends the stream (:meth:`serve` returns).
        """
        stream = self._stream
        if stream is None:
            return False
        try:
            stream.send(frames)
        except ConnectionError:
            self._finish()
            return False
        return True

    def close(self) -> None:
        """No more media: the stream's :meth:`serve` returns, and it will not be sent to again."""
        self.closed = True
        self._finish()

    async def serve(self, stream: Stream) -> None:
        """Send into ``stream`` until the outlet closes or the connection is found gone
        (on the asyncio loop: aiortc's sender task, in place of its sending loop)."""
        if self.closed:
            return
        self._stream = stream
        self._done = asyncio.get_running_loop().create_future()
        try:
            await self._done
        finally:
            self._stream = self._done = None

    def _finish(self) -> None:
        self._stream = None
        if self._done is not None and not self._done.done():
            self._done.set_result(None)
