"""HLS viewer counting: a viewer is a playback session that keeps reloading its playlist.

HTTP-FLV, WS-FLV and RTMP viewers hold a connection and are counted by the
fan-out. HLS players do not: they fetch a media playlist about once per target
duration. The master playlist hands each player a session token (``vs``) that
its media-playlist URIs carry; a token counts as one viewer while it was seen
within :data:`ALIVE_TARGETS` target durations (plus :data:`ALIVE_SLACK_S` for
network jitter). Switching renditions keeps the token, so an ABR player is one
viewer, not one per rung. A player that stops (the web player switching to
HTTP-FLV, say) ends its session (:meth:`HLSViewers.left`), so that it is not
counted beside the viewer it has become until its reloads are missed.

Counts go to the :class:`~trioflix.live.channel.stream.LiveStream` as ``hls`` viewers,
so the status API, ``/api/channels``, the session's peak and ``/metrics`` all
include them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from trioflix.live.channel.fanout import VIEWER_PROTOCOLS

if TYPE_CHECKING:
    from collections.abc import Mapping

    from trioflix.live.channel.stream import LiveStream

__all__ = [
    "ALIVE_SLACK_S",
    "ALIVE_TARGETS",
    "MAX_SESSIONS_PER_STREAM",
    "PROTOCOL",
    "HLSViewers",
    "live_viewer_counts",
]

ALIVE_TARGETS: Final = 2  # players reload every target duration; one missed reload is fine
ALIVE_SLACK_S: Final = 1.0
# Bounds memory against a client minting tokens in a loop: ~100 bytes each.
MAX_SESSIONS_PER_STREAM: Final = 100_000
PROTOCOL: Final = "hls"


class _Sessions:
    __slots__ = ("last_seen", "stream", "window_s")

    def __init__(self, stream: LiveStream, window_s: float) -> None:
        self.stream = stream
        self.window_s = window_s
        self.last_seen: dict[str, float] = {}


class HLSViewers:
    """Playback sessions per live session. All methods are synchronous (Trio thread)."""

    def __init__(self) -> None:
        self._streams: dict[int, _Sessions] = {}

    def seen(self, stream: LiveStream, key: str, now: float, target_duration_s: int) -> None:
        """A player fetched a media playlist of ``stream``."""
        sessions = self._streams.get(stream.session_id)
        if sessions is None or sessions.stream is not stream:
            window = ALIVE_TARGETS * target_duration_s + ALIVE_SLACK_S
            sessions = self._streams[stream.session_id] = _Sessions(stream, window)
        if key not in sessions.last_seen and len(sessions.last_seen) >= MAX_SESSIONS_PER_STREAM:
            return
        new = key not in sessions.last_seen
        sessions.last_seen[key] = now
        if new:
            stream.set_external_viewers(PROTOCOL, len(sessions.last_seen))

    def left(self, stream: LiveStream, key: str) -> None:
        """A player of ``stream`` ended its playback session: it counts no more."""
        sessions = self._streams.get(stream.session_id)
        if sessions is None or sessions.stream is not stream:
            return
        if sessions.last_seen.pop(key, None) is not None:
            stream.set_external_viewers(PROTOCOL, len(sessions.last_seen))

    def count(self, stream: LiveStream) -> int:
        sessions = self._streams.get(stream.session_id)
        return len(sessions.last_seen) if sessions is not None else 0

    def tick(self, now: float) -> None:
        """Expire sessions that stopped reloading; publish the counts to their streams."""
        for session_id, sessions in list(self._streams.items()):
            cutoff = now - sessions.window_s
            expired = [k for k, seen in sessions.last_seen.items() if seen < cutoff]
            for key in expired:
                del sessions.last_seen[key]
            sessions.stream.set_external_viewers(PROTOCOL, len(sessions.last_seen))
            if not sessions.last_seen:
                del self._streams[session_id]


def live_viewer_counts(counts: Mapping[str, int] | None) -> dict[str, int] | None:
    """A live channel's viewers by protocol (``None``: not live), with HLS and a total.

    Returns:
        ``{"total": n, "rtmp": ..., "http-flv": ..., "ws-flv": ..., "hls": ...}``, the
        shape of the status API's ``viewers``; the chat hub pushes it to the room.
    """
    if counts is None:
        return None
    # Every protocol, 0 included: the shape is the same on every host of a site,
    # whichever protocols its own viewers use, and before the first HLS player.
    shaped = dict.fromkeys((*VIEWER_PROTOCOLS, PROTOCOL), 0)
    shaped.update(counts)
    return {"total": sum(shaped.values()), **shaped}
