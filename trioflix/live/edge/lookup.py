"""Where a viewer on this host finds a live channel: here, or relayed from its origin.

Every playback path (HTTP-FLV, WS-FLV, RTMP play) looks a channel up through
:class:`LiveChannels`, so each one works the same on the channel's origin and on
an edge.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trioflix.live.channel.registry import StreamRegistry
    from trioflix.live.channel.stream import LiveStream
    from trioflix.live.edge.relays import EdgeRelays

__all__ = ["LiveChannels"]


class LiveChannels:
    """The live channels viewers can watch on this host.

    Args:
        registry: The channels published to this host.
        relays: The channels relayed from other hosts (``None`` on a single host).
    """

    def __init__(self, registry: StreamRegistry, relays: EdgeRelays | None) -> None:
        self._registry = registry
        self._relays = relays

    def get_nowait(self, channel: str) -> LiveStream | None:
        """The channel's stream if it is live here or already relayed, without waiting."""
        live = self._registry.get(channel)
        if live is None and self._relays is not None:
            live = self._relays.get_nowait(channel)
        return live

    def relayed(self) -> list[LiveStream]:
        """The channels relayed here from their origin now."""
        return self._relays.relayed() if self._relays is not None else []

    def viewers_here(self, channel: str) -> dict[str, int] | None:
        """The channel's viewers on this host by protocol, of its stream published here
        and of its relay from another host (what this host's heartbeat tells the
        others); ``None`` if it has neither."""
        streams = [self._registry.get(channel)]
        if self._relays is not None:
            streams.append(self._relays.get_nowait(channel))
        counts: dict[str, int] | None = None
        for stream in streams:
            if stream is not None:
                counts = counts if counts is not None else {}
                for protocol, count in stream.viewers_by_protocol().items():
                    counts[protocol] = counts.get(protocol, 0) + count
        return counts

    async def find(self, channel: str) -> LiveStream | None:
        """The channel's stream, relaying it from its origin if that is another host;
        ``None`` if no host serves it now."""
        live = self.get_nowait(channel)
        # A channel waiting here for its encoder to reconnect is not pulled from elsewhere.
        if live is None and self._relays is not None and self._registry.state_of(channel) is None:
            live = await self._relays.open(channel)
        return live
