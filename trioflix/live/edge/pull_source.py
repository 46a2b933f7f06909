"""The origin's side of the internal pull, shared by its two routes.

``trioflix serve`` answers an edge's pull on the socket itself
(:mod:`trioflix.direct.routes`); plain hypercorn, and a pull that arrives on a
kept-alive connection, through Quart (:mod:`trioflix.api.playback`). Both serve
the same channels, count the same metrics and end the same way.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Final

import trio

if TYPE_CHECKING:
    from collections.abc import Iterator

    from trioflix.live.channel.fanout import Subscriber
    from trioflix.live.channel.registry import StreamRegistry
    from trioflix.live.channel.stream import LiveStream
    from trioflix.metrics import Metrics

__all__ = ["PULL_CHECK_S", "end_when_not_pullable", "pullable", "serving_pull", "still_pullable"]

# How often a pull that its task does not see batch by batch (the publisher's task
# writes to it) looks whether it may go on: edges follow the lease within 2 s.
PULL_CHECK_S: Final = 0.5


def pullable(registry: StreamRegistry, channel: str) -> LiveStream | None:
    """``channel`` if an edge may pull it from this host now, else ``None``.

    Only a channel published here (never one relayed from elsewhere), and only while
    this host holds the channel's origin lease: a host that lost it serves its own
    viewers, not the site. A pull ends once :func:`still_pullable` is false, so that
    the edge follows the lease to the new origin.
    """
    live = registry.get(channel)
    if live is None or registry.origin_epoch(channel) is None:
        return None
    return live


@contextmanager
def serving_pull(live: LiveStream, metrics: Metrics) -> Iterator[Subscriber]:
    """An edge's pull of ``live`` for the duration of the ``with`` block.

    A consumer of the whole session, as the HLS writer is: not counted as a viewer
    here (the edge counts its own), and it rides out the encoder's reconnects.
    ``trioflix_internal_pulls`` counts it while the block runs.
    """
    subscriber = live.subscribe_session()
    metrics.internal_pulls.inc()
    metrics.internal_pulls_opened.inc()
    try:
        yield subscriber
    finally:
        live.unsubscribe(subscriber)
        metrics.internal_pulls.dec()


def still_pullable(registry: StreamRegistry, live: LiveStream) -> bool:
    """Whether a pull of ``live`` may go on: this host still holds the channel's origin
    lease, and ``live`` is still its session here (live, or in the grace window that
    waits for the encoder: the pull rides out a reconnect, as the session does)."""
    here = registry.get(live.channel)
    return registry.origin_epoch(live.channel) is not None and (here is None or here is live)


async def end_when_not_pullable(
    registry: StreamRegistry, live: LiveStream, scope: trio.CancelScope
) -> None:
    """Cancel ``scope`` (a pull's) once :func:`still_pullable` is false.

    A poll: the lease is lost in the cluster's refresh loop and the session moves in
    the registry, neither with an event to wait on; two checks a second per pull cost
    nothing beside the wake-up per read that the pull's task no longer has.
    """
    while still_pullable(registry, live):  # noqa: ASYNC110 (see above)
        await trio.sleep(PULL_CHECK_S)
    scope.cancel()
