"""A play with a duration: the player asked for that much of the live stream, then the end.

RTMP's ``play`` carries a duration (RTMP 7.2.2.1): -1 (or nothing) plays a live
stream until it ends; a positive one plays it for that long. Every client in use
sends it in milliseconds (Flash Player, librtmp, whose ``rtmpdump --stop N``
sends N seconds as N x 1000, and ffmpeg), though the specification's text says
seconds. librtmp leaves the stopping to the server for a live stream: without
it, ``rtmpdump --stop`` never stops. The length is counted on the stream's own
timestamps from the first frame sent, as the player counts it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trioflix.live.channel.packets import Kind

if TYPE_CHECKING:
    from trioflix.live.channel.packets import Packet

__all__ = ["PlayDuration"]


class PlayDuration:
    """What of each batch a play with a duration of ``duration_ms`` may still send."""

    def __init__(self, duration_ms: float) -> None:
        self.duration_ms = duration_ms
        self._first_ms: int | None = None

    def take(self, batch: list[Packet]) -> tuple[list[Packet], bool]:
        """The packets of ``batch`` within the duration, and whether it is over (the
        rest, and everything after, is not to be sent).

        Sequence headers and metadata pass (they take no time); the first frame sets
        the start.
        """
        for index, packet in enumerate(batch):
            if packet.config or packet.kind is Kind.SCRIPT:
                continue
            if self._first_ms is None:
                self._first_ms = packet.timestamp
            elif packet.timestamp - self._first_ms >= self.duration_ms:
                return batch[:index], True
        return batch, False
