"""Chat metrics as an operator scrapes them: ``GET /metrics`` on a served instance."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families

from trioflix.chat import limits

from .helpers import auth, chat

if TYPE_CHECKING:
    from tests.conftest import Server

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(server: Server) -> Samples:
    """Every chat sample, keyed by (name, sorted labels)."""
    response = await server.client.get("/metrics")
    assert response.status_code == 200
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name.startswith("trioflix_chat_"):
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def channels(samples: Samples) -> set[str]:
    """The channels that have a per-room series."""
    return {
        dict(labels)["channel"]
        for name, labels in samples
        if name == "trioflix_chat_room_connections"
    }


async def test_rooms_connections_events_and_moderation(server: Server) -> None:
    alice, _ = await server.register("alice")
    await server.register("bob")
    before = await scrape(server)
    assert value(before, "trioflix_chat_rooms") == 0
    assert value(before, "trioflix_chat_connections") == 0
    assert channels(before) == set()
    assert value(before, "trioflix_chat_events_total", kind="message") == 0
    with trio.fail_after(20):
        async with (
            chat(server.url, "alice", alice) as (owner, _),
            chat(server.url, "alice") as (viewer, _),
        ):
            await owner.say("one")
            await owner.say("two")
            for _ in range(2):
                await viewer.until("message")
            ban = await owner.request({"type": "ban", "user": "bob", "reason": "spam"})
            assert ban["type"] == "ack"
            await viewer.until("ban")
            moderator = await server.client.put(
                "/api/chat/alice/moderators/bob", headers=auth(alice)
            )
            assert moderator.status_code == 200, moderator.text
            during = await scrape(server)
    assert value(during, "trioflix_chat_rooms") == 1
    assert value(during, "trioflix_chat_connections") == 2
    assert value(during, "trioflix_chat_room_connections", channel="alice") == 2
    assert value(during, "trioflix_chat_events_total", kind="message") == 2
    assert value(during, "trioflix_chat_events_total", kind="ban") == 1
    # Two members each got two messages and the ban; viewer counts may add more.
    assert value(during, "trioflix_chat_frames_out_total") >= 6
    assert value(during, "trioflix_chat_moderation_actions_total", action="ban") == 1
    assert value(during, "trioflix_chat_moderation_actions_total", action="moderator") == 1
    assert value(during, "trioflix_chat_moderation_actions_total", action="delete") == 0
    assert value(during, "trioflix_chat_dropped_connections_total", reason="too_slow") == 0

    # The server sees the closes a moment after the clients; only /metrics can tell when.
    with trio.fail_after(10):
        while value(after := await scrape(server), "trioflix_chat_rooms") != 0:  # noqa: ASYNC110
            await trio.sleep(0.01)
    assert value(after, "trioflix_chat_connections") == 0
    assert channels(after) == set()  # the closed room left no stale series
    assert value(after, "trioflix_chat_events_total", kind="message") == 2  # counters stay


@pytest.fixture
def tight_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """A short outgoing queue and no sender limit, so a slow reader overflows quickly.

    Requested before ``server``: the services read the limits when they start.
    """
    monkeypatch.setattr(
        limits,
        "DEFAULT_LIMITS",
        limits.ChatLimits(outgoing_queue=16, moderator_burst=10_000, frames_burst=10_000),
    )


async def test_slow_consumer_is_counted(tight_limits: None, server: Server) -> None:
    alice, _ = await server.register("alice")
    text = "x" * 450
    with trio.fail_after(60):
        async with (
            chat(server.url, "alice", alice) as (sender, _),
            chat(server.url, "alice", receive_buffer=4096, message_queue_size=1) as (slow, _),
        ):
            room = server.app.trioflix.chat.rooms["alice"]
            for _ in range(300):
                await sender.say(text)
                if len(room.members) == 1:
                    break
            assert len(room.members) == 1  # the slow reader was dropped
            assert await slow.closed() == 4408
            samples = await scrape(server)
    assert value(samples, "trioflix_chat_dropped_connections_total", reason="too_slow") == 1
    assert value(samples, "trioflix_chat_dropped_connections_total", reason="flooding") == 0
    assert value(samples, "trioflix_chat_connections") == 1
