"""Which host is a channel's origin, as lately read: for the relayed LL-HLS requests.

A player at low latency asks about eight times a second (a blocking playlist reload and
a part per part target); each relayed request would read the channel's lease in Redis.
A lookup is kept :data:`~trioflix.live.edge.relays.FOLLOW_POLL_S` instead, the
staleness the relays already allow: a takeover is followed that much later at most,
and an error answer from the origin (:meth:`RecentOrigins.forget`) makes the next
request read the lease again. A failed read (Redis out of reach) is not kept. At most
:data:`MAX_CHANNELS` lookups are kept, the oldest going first.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Final

import trio

from trioflix.live.edge.relays import FOLLOW_POLL_S

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from trioflix.cluster.lease import Origin

__all__ = ["MAX_CHANNELS", "RecentOrigins"]

# Far more channels than one host relays at once at LL-HLS rates, yet a bound.
MAX_CHANNELS: Final = 4096


class RecentOrigins:
    """Each channel's remote origin (or ``None``: none) for ``keep_s`` after it was read."""

    def __init__(self, keep_s: float = FOLLOW_POLL_S, limit: int = MAX_CHANNELS) -> None:
        self.keep_s = keep_s
        self.limit = limit
        self._known: OrderedDict[str, tuple[float, Origin | None]] = OrderedDict()

    async def get(
        self, channel: str, read: Callable[[str], Awaitable[Origin | None]]
    ) -> Origin | None:
        """``channel``'s origin as read within ``keep_s``, else as ``read`` says now
        (what it raises goes through)."""
        now = trio.current_time()
        known = self._known.get(channel)
        if known is not None and now < known[0]:
            return known[1]
        origin = await read(channel)
        self._known.pop(channel, None)
        self._known[channel] = (trio.current_time() + self.keep_s, origin)
        while len(self._known) > self.limit:
            self._known.popitem(last=False)
        return origin

    def forget(self, channel: str) -> None:
        """The origin answered with an error: read the lease again next time."""
        self._known.pop(channel, None)
