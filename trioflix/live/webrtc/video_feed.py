"""A channel's video for all its WHEP viewers, sent by one Trio task per rendition.

Every viewer keeps a subscriber of its own (:mod:`trioflix.live.channel.fanout`):
it is counted, primed with the current group of pictures, and skipped ahead or
dropped when it lags, as every viewer is. What changes is who empties it and who
sends: one task per rendition (:meth:`VideoFeed.run`) wakes once per batch of the
channel's packets, and for each viewer takes what its subscriber holds, converts
it to access units and sends each into the viewer's RTP stream through its
:class:`~trioflix.live.webrtc.outlet.Outlet` (header, SRTP, the system calls)
there and then: no task, queue or wake-up per viewer.

The viewers share the access units too: a frame converted for one viewer is
kept (:class:`SharedUnits`, the last ``SHARED_UNITS``) and given as the same
object to the others, with the RTP payloads the first one made
(:attr:`~trioflix.live.webrtc.video.AccessUnit.payloads`): a frame is converted
and packetised once per rendition, not per viewer. Each viewer still runs its own
converter on the sequence headers, and on a frame the others no longer hold.

A viewer whose outlet is not ready (aiortc has not started its sender yet: ICE
and DTLS are connecting; or its socket has a backlog) is given nothing: the
packets stay in its subscriber, whose rules decide what it skips, and the next
batch of the channel tries again.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

import trio

from trioflix.live.webrtc.outlet import Outlet
from trioflix.live.webrtc.video import UnsupportedVideo, VideoConverter

if TYPE_CHECKING:
    from trioflix.live.channel.fanout import Subscriber
    from trioflix.live.channel.packets import Packet
    from trioflix.live.channel.stream import LiveStream
    from trioflix.live.webrtc.video import AccessUnit

__all__ = ["SHARED_UNITS", "SharedUnits", "VideoFeed", "ViewerVideo"]

# Four seconds at 30 fps (some 1.5 MB at 3 Mbit/s): a primed GOP and a second of
# lag; a viewer further behind converts its own.
SHARED_UNITS = 120
VIDEO_CLOCK_PER_MS = 90  # RFC 6184 8.2.1: H.264's RTP clock is 90 kHz


def _payloads(unit: AccessUnit) -> list[bytes]:
    """The unit's RTP payloads, made for the first viewer it is sent to."""
    if not unit.payloads:
        # aiortc's packetiser: loaded with the first session, as aiortc is.
        from trioflix.live.webrtc.tracks import h264_payloads

        unit.payloads.extend(h264_payloads(unit.data))
    return unit.payloads


class SharedUnits:
    """A rendition's last access units by the packet they came from, for its viewers."""

    def __init__(self) -> None:
        self._units: OrderedDict[Packet, AccessUnit] = OrderedDict()

    def get(self, packet: Packet) -> AccessUnit | None:
        return self._units.get(packet)

    def add(self, packet: Packet, unit: AccessUnit) -> None:
        self._units[packet] = unit
        if len(self._units) > SHARED_UNITS:
            self._units.popitem(last=False)


class ViewerVideo:
    """One viewer's video: its subscriber's packets as access units, sent into :attr:`outlet`.

    Args:
        subscriber: The viewer's subscriber to the channel.
        ended: Set when the viewer's video ends (:attr:`end_reason` says why).
    """

    def __init__(self, subscriber: Subscriber, ended: trio.Event) -> None:
        self.subscriber = subscriber
        self.outlet = Outlet()
        self.end_reason: str | None = None
        self._converter = VideoConverter()
        self._ended = ended
        self.shared = SharedUnits()  # its feed's, once it joins one

    def pull(self) -> None:
        """Send what the subscriber holds if the outlet is ready; end the video once
        the subscriber is closed and drained (closed while the outlet is not ready:
        at once, as nothing can be sent)."""
        if self.outlet.closed:
            return
        if not self.outlet.ready:
            if self.subscriber.closed_reason is not None:
                self.end(self.subscriber.closed_reason)
            return
        try:
            batch = self.subscriber.batch_nowait()
        except trio.WouldBlock:
            return
        if not batch:
            self.end(self.subscriber.closed_reason)
            return
        frames = []
        unsupported = None
        try:
            for packet in batch:
                unit = self._convert(packet)
                if unit is not None:
                    frames.append((_payloads(unit), unit.pts_ms * VIDEO_CLOCK_PER_MS))
        except UnsupportedVideo as exc:
            unsupported = exc
        if frames:  # the batch's frames in one go: its runs of datagrams, one call each
            self.outlet.send(frames)
        if unsupported is not None:
            self.end(str(unsupported))

    def _convert(self, packet: Packet) -> AccessUnit | None:
        # Only frames are shared; a sequence header goes to this viewer's converter
        # (which it changes), as does a frame the others no longer hold.
        if (unit := self.shared.get(packet)) is not None:
            return unit
        unit = self._converter.convert(packet)
        if unit is not None:
            self.shared.add(packet, unit)
        return unit

    def end(self, reason: str | None) -> None:
        """No more video for the viewer: its sender stops; the session is told."""
        if not self.outlet.closed:
            self.end_reason = reason
            self.outlet.close()
        self._ended.set()


class VideoFeed:
    """The video of one rendition of a channel's session, for as long as a viewer is there.

    Create it with the first viewer (:meth:`join`) and run :meth:`run` in a
    nursery; it ends when the last viewer leaves or the session ends, and ends
    the video of every viewer left then.
    """

    def __init__(self, live: LiveStream) -> None:
        self.live = live
        self._viewers: set[ViewerVideo] = set()
        self._scope = trio.CancelScope()
        self._shared = SharedUnits()

    @property
    def running(self) -> bool:
        return not self._scope.cancel_called

    def join(self, viewer: ViewerVideo) -> None:
        """Serve ``viewer`` from now on, starting with what its subscriber holds once
        its outlet is ready."""
        if not self.running:
            viewer.end(viewer.subscriber.closed_reason or "the channel's video ended")
            return
        self._viewers.add(viewer)
        viewer.shared = self._shared
        viewer.pull()

    def leave(self, viewer: ViewerVideo) -> None:
        self._viewers.discard(viewer)
        if not self._viewers:
            self._scope.cancel()

    async def run(self) -> None:
        """Send every viewer's video on each batch of the channel's packets."""
        # Its own subscriber only tells it when the channel has new packets (each
        # viewer's holds the same objects, plus its own start and skips).
        wake = self.live.subscribe_session()
        try:
            with self._scope:
                while await wake.next_batch():
                    for viewer in tuple(self._viewers):
                        viewer.pull()
        finally:
            self._scope.cancel()
            self.live.unsubscribe(wake)
            for viewer in self._viewers:
                viewer.pull()  # what came before the end, to the viewers that can take it
                viewer.end(viewer.subscriber.closed_reason or "the channel's video ended")
            self._viewers.clear()
