"""Prometheus metrics of the chat, read from the hub at scrape time.

The hub keeps plain counters (:class:`ChatStats`); :class:`ChatCollector` turns
them and the hub's open rooms into metric families when ``/metrics`` is scraped.
Nothing is labelled by a room that is not open on this process right now, so a
room that closes leaves no stale series behind and cardinality is bounded by the
rooms actually open.

With ``REDIS_URL`` set, every process serving a room receives that room's events,
so each process counts them: sum ``trioflix_chat_events_total`` over instances
only for what each one fanned out, not for what was said.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import trio
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from trioflix.chat.protocol import CloseCode

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from prometheus_client import CollectorRegistry
    from prometheus_client.core import Metric

    from trioflix.chat.hub import ChatHub

__all__ = ["ChatCollector", "ChatStats", "expose"]

# Label values are fixed sets, so a client cannot mint new series.
EVENT_KINDS = ("message", "superchat", "delete", "ban", "timeout", "unban", "settings")
MODERATION_EVENTS = {
    "delete": "delete",
    "ban": "ban",
    "timeout": "timeout",
    "unban": "unban",
    "settings": "settings",
}
MODERATION_SIGNALS = {"moderators": "moderator", "terms": "blocked_terms"}
MODERATION_ACTIONS = (*MODERATION_EVENTS.values(), *MODERATION_SIGNALS.values())
DROP_REASONS = {
    CloseCode.TOO_SLOW: "too_slow",
    CloseCode.POLICY_VIOLATION: "flooding",
    CloseCode.MESSAGE_TOO_BIG: "frame_too_big",
    CloseCode.GOING_AWAY: "going_away",
    1011: "internal_error",  # session.INTERNAL_ERROR (a bug, logged)
}
OTHER = "other"


def _zeros(names: tuple[str, ...] | list[str]) -> dict[str, int]:
    return dict.fromkeys(names, 0)


@dataclass(slots=True)
class ChatStats:
    """Counters the hub bumps; plain ints, so counting costs nothing on the fan-out path."""

    events: dict[str, int] = field(default_factory=lambda: _zeros([*EVENT_KINDS, OTHER]))
    frames_out: int = 0
    moderation: dict[str, int] = field(default_factory=lambda: _zeros(MODERATION_ACTIONS))
    dropped: dict[str, int] = field(default_factory=lambda: _zeros([*DROP_REASONS.values(), OTHER]))

    def event(self, kind: str) -> None:
        """A sequenced room event arrived for fan-out on this process."""
        key = kind if kind in self.events else OTHER
        self.events[key] += 1
        action = MODERATION_EVENTS.get(kind)
        if action is not None:
            self.moderation[action] += 1

    def signal(self, kind: str) -> None:
        """A state signal (moderator list, blocked terms, emotes) arrived."""
        action = MODERATION_SIGNALS.get(kind)
        if action is not None:
            self.moderation[action] += 1

    def dropped_one(self, close_code: int) -> None:
        """The server dropped a member from its room with ``close_code``."""
        self.dropped[DROP_REASONS.get(close_code, OTHER)] += 1


class ChatCollector:
    """A custom collector over one hub (``prometheus_client``'s ``Collector`` protocol)."""

    def __init__(self, hub: ChatHub) -> None:
        self._hub = hub

    def describe(self) -> list[Metric]:
        # Describing would scrape; an empty description only skips the duplicate-name check.
        return []

    def collect(self) -> Iterator[Metric]:
        hub = self._hub
        stats = hub.stats
        rooms = list(hub.rooms.values())
        yield GaugeMetricFamily(
            "trioflix_chat_rooms", "Chat rooms open on this process.", value=len(rooms)
        )
        yield GaugeMetricFamily(
            "trioflix_chat_connections",
            "Chat websocket connections in a room on this process.",
            value=sum(len(room.members) for room in rooms),
        )
        per_room = GaugeMetricFamily(
            "trioflix_chat_room_connections",
            "Connections per open room on this process (closed rooms have no series).",
            labels=["channel"],
        )
        for room in rooms:
            per_room.add_metric([room.name], len(room.members))
        yield per_room
        yield _by_label(
            "trioflix_chat_events",
            "Room events (messages in) received by this process for fan-out, by kind.",
            "kind",
            stats.events,
        )
        yield CounterMetricFamily(
            "trioflix_chat_frames_out",
            "Room frames (messages out) queued for connections: one per member per event.",
            value=stats.frames_out,
        )
        yield _by_label(
            "trioflix_chat_dropped_connections",
            "Connections the server closed, by reason (too_slow: slow consumers, close 4408).",
            "reason",
            stats.dropped,
        )
        yield _by_label(
            "trioflix_chat_moderation_actions",
            "Moderation actions received by this process, by action.",
            "action",
            stats.moderation,
        )


def _by_label(name: str, documentation: str, label: str, counts: Mapping[str, int]) -> Metric:
    """A counter family with one series per key of ``counts``."""
    family = CounterMetricFamily(name, documentation, labels=[label])
    for value, count in counts.items():
        family.add_metric([value], count)
    return family


async def expose(
    registry: CollectorRegistry,
    hub: ChatHub,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``hub``'s metrics on ``registry`` until cancelled (a task of the service nursery).

    Resource handling:
        The collector is unregistered when the task ends, so a stopped hub is not scraped.
    """
    collector = ChatCollector(hub)
    registry.register(collector)
    try:
        task_status.started()
        await trio.sleep_forever()
    finally:
        registry.unregister(collector)
