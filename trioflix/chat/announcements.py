"""Room events the server itself posts: a scheduled stream starting.

An announcement is a numbered room event like a message (in the history, the
same order for every member), but nobody sends it: ``target`` 0, no author.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from trioflix.chat.protocol import event_parts

if TYPE_CHECKING:
    from trioflix.chat.hub import ChatHub

__all__ = ["announce_scheduled_start"]


async def announce_scheduled_start(hub: ChatHub, channel: str, entry: dict[str, Any]) -> int:
    """Tell ``channel``'s room that the scheduled stream ``entry`` (as the API shows
    it) is live now; returns the event id."""
    fields = {
        "ts": time.time(),
        "kind": "scheduled_start",
        "text": f"The scheduled stream “{entry['title']}” is live now.",
        "schedule": entry,
    }
    return await hub.bus.publish(
        channel, "announcement", event_parts("announcement", fields), 0, fields
    )
