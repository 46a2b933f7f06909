"""Wake-ups for live progress: "something about user U's uploads or videos changed".

Producers (a PATCH writing bytes, a processing job reporting percent) call
:meth:`ProgressHub.notify`; each server-sent-events stream waits with
:meth:`ProgressHub.wait_changed`, then re-reads the status it shows. Carrying
no payload keeps the hub bounded: one :class:`trio.Event` per user with at
least one waiting stream, dropped when it fires.
"""

from __future__ import annotations

import trio

__all__ = ["NOTIFY_INTERVAL_S", "ProgressHub"]

NOTIFY_INTERVAL_S = 0.25  # byte progress wakes viewers at most 4 times a second


class ProgressHub:
    def __init__(self) -> None:
        self._events: dict[int, trio.Event] = {}

    def notify(self, user_id: int) -> None:
        event = self._events.pop(user_id, None)
        if event is not None:
            event.set()

    async def wait_changed(self, user_id: int) -> None:
        """Return at the next :meth:`notify` for ``user_id``."""
        event = self._events.get(user_id)
        if event is None:
            event = self._events[user_id] = trio.Event()
        await event.wait()
