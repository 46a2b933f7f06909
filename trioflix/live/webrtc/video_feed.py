"""A channel's video for all its WHEP viewers, moved by one Trio task.

Every viewer keeps a subscriber of its own (:mod:`trioflix.live.channel.fanout`):
it is counted, primed with the current group of pictures, and skipped ahead or
dropped when it lags, as every viewer is. What changes is who empties it. A task
per viewer, woken for each packet and handing it to aiortc through a call into
Trio from the asyncio side, cost a task switch and a crossing per viewer per
packet. Here one task per channel (:meth:`VideoFeed.run`) wakes once per batch of
the channel's packets, and for each viewer takes what its subscriber holds,
converts it to access units and puts them on the viewer's :class:`Handoff` to
its track, without waiting.

The viewers share the access units too: a frame converted for one viewer is
kept (:class:`SharedUnits`, the last ``SHARED_UNITS``) and given as the same
object to the others, whose tracks then take the RTP payloads the first one made
(:attr:`~trioflix.live.webrtc.video.AccessUnit.payloads`): a frame is converted
and packetised once per rendition, not per viewer. Each viewer still runs its own
converter on the sequence headers, and on a frame the others no longer hold.

A viewer whose track is behind (its aiortc sender has not taken
``TRACK_UNITS`` access units yet: the server is short of CPU) is not given more:
the packets stay in its subscriber, whose rules decide what it skips, and the
next batch of the channel tries again.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

import trio

from trioflix.live.webrtc.handoff import Handoff
from trioflix.live.webrtc.video import UnsupportedVideo, VideoConverter

if TYPE_CHECKING:
    from trioflix.live.channel.fanout import Subscriber
    from trioflix.live.channel.packets import Packet
    from trioflix.live.channel.stream import LiveStream
    from trioflix.live.webrtc.video import AccessUnit

__all__ = ["SHARED_UNITS", "TRACK_UNITS", "SharedUnits", "VideoFeed", "ViewerVideo"]

# A second at 30 fps ahead of the sender: more only delays the skip that the
# subscriber makes for a viewer that lags; a whole primed GOP is put at once anyway.
TRACK_UNITS = 30
# Four seconds at 30 fps (some 1.5 MB at 3 Mbit/s): a primed GOP and a second of
# lag; a viewer further behind converts its own.
SHARED_UNITS = 120


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
    """One viewer's video: its subscriber's packets as access units on :attr:`units`.

    Args:
        subscriber: The viewer's subscriber to the channel.
        ended: Set when the viewer's video ends (:attr:`end_reason` says why).
    """

    def __init__(self, subscriber: Subscriber, ended: trio.Event) -> None:
        self.subscriber = subscriber
        self.units: Handoff[AccessUnit] = Handoff()
        self.end_reason: str | None = None
        self._converter = VideoConverter()
        self._ended = ended
        self.shared = SharedUnits()  # its feed's, once it joins one

    def pull(self, *, bounded: bool = True) -> None:
        """Move what the subscriber holds to the track, unless the track is behind
        (``bounded``); end the video if the subscriber is closed and drained."""
        if self.units.closed or (bounded and self.units.size >= TRACK_UNITS):
            return
        try:
            batch = self.subscriber.batch_nowait()
        except trio.WouldBlock:
            return
        if not batch:
            self.end(self.subscriber.closed_reason)
            return
        try:
            for packet in batch:
                unit = self._convert(packet)
                if unit is not None:
                    self.units.put(unit)
        except UnsupportedVideo as exc:
            self.end(str(exc))

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
        """The track gets what is queued, then its end; the session is told."""
        if not self.units.closed:
            self.end_reason = reason
            self.units.close()
        self._ended.set()


class VideoFeed:
    """The video of one channel's session, for as long as a viewer is there.

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
        """Serve ``viewer`` from now on, starting with what its subscriber holds."""
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
        """Move every viewer's video on each batch of the channel's packets."""
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
                viewer.pull(bounded=False)
                viewer.end(viewer.subscriber.closed_reason or "the channel's video ended")
            self._viewers.clear()
