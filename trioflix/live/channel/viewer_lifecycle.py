"""One viewer's time on a channel: subscribe, tell the webhooks, and always clean up.

Shared by every FLV playout path (Quart's routes under plain hypercorn, and the
direct routes of :mod:`trioflix.direct`), so that a viewer is counted, announced
and removed the same way whichever path served it.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

    from trioflix.live.channel.fanout import Subscriber, Transport
    from trioflix.live.channel.stream import LiveStream
    from trioflix.live.channel.webhooks import Webhooks

__all__ = ["watching"]


@contextmanager
def watching(
    live: LiveStream, protocol: Transport, remote: str | None, webhooks: Webhooks | None
) -> Iterator[Subscriber]:
    """Subscribe a viewer to ``live`` for the duration of the ``with`` block.

    ``play.start`` and ``play.end`` go to the webhooks; the subscriber is removed
    however the block ends (the viewer left, the stream ended, cancellation).
    """
    subscriber = live.subscribe(protocol)
    event = {
        "channel": live.channel,
        "session_id": live.session_id,
        "protocol": protocol.value,
        "remote": remote,
    }
    if webhooks is not None:
        webhooks.notify("play.start", event)
    try:
        yield subscriber
    finally:
        live.unsubscribe(subscriber)
        if webhooks is not None:
            webhooks.notify("play.end", event)
