"""The chat bus's link to a real redis-server closing under a command (Redis
restarting): one more failure of the outage, never a bug in the chat connection
that sent the command (trioflix.chat.redis_bus).

A soak found it: a message sent as Redis restarted reached coredis after the link's
client had closed, and coredis' ``RuntimeError`` ("Connection pool is not
initialized or has exited") closed the sender's chat connection as a bug.
"""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING, Any

import pytest
import trio

from tests.trioflix.cluster.helpers import REDIS_STOPS, wait_until
from trioflix.chat import redis_bus
from trioflix.chat.limits import ChatLimits
from trioflix.chat.redis_bus import LinkClosed, RedisBus
from trioflix.chat.room import LogEntry, RoomLog

if TYPE_CHECKING:
    from tests.conftest import RedisServer

pytestmark = pytest.mark.slow


class Hub:
    """What the bus delivers into (:class:`~trioflix.chat.bus.Delivery`): the logs."""

    def __init__(self) -> None:
        self.logs: dict[str, RoomLog] = {}

    def deliver(
        self, channel: str, seq: int, kind: str, target: int, frame: str, event: dict[str, Any]
    ) -> None:
        self.log_for(channel).append(LogEntry(seq, kind, target, frame))

    def signal_received(self, channel: str, kind: str, event: dict[str, Any]) -> None:
        pass

    def log_for(self, channel: str) -> RoomLog:
        return self.logs.setdefault(channel, RoomLog(10))


async def _linked(bus: RedisBus, up: bool = True) -> None:
    async def linked() -> bool:
        return (bus._client is not None) is up

    with trio.fail_after(10):
        await wait_until(linked)


async def _sent_as_redis_stops(bus: RedisBus, redis_server: RedisServer) -> None:
    """A command taken on the link, sent once the link has closed (Redis stopped)."""
    with bus._command() as client:
        assert await client.ping() == b"PONG"
        await trio.to_thread.run_sync(redis_server.stop)  # the link fails, its client closes
        await _linked(bus, up=False)
        await client.get("trioflix:x")  # coredis: RuntimeError, its pool has exited


@REDIS_STOPS
async def test_a_command_whose_link_closes_under_it_fails_as_the_outage(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The command below spans Redis stopping: a slow machine must not make it time out.
    monkeypatch.setattr(redis_bus, "REDIS_TIMEOUT_S", 60)
    hub = Hub()
    bus = RedisBus(hub, redis_server.url, ChatLimits())
    async with trio.open_nursery() as nursery:
        await nursery.start(bus.run)
        await _linked(bus)
        with pytest.raises(LinkClosed):
            await _sent_as_redis_stops(bus, redis_server)
        # Meanwhile a message is this host's alone, numbered after what it had seen.
        seq = await bus.publish("alice", "message", ('{"id":', "}"), 0, {})
        assert hub.log_for("alice").last_seq == seq
        await trio.to_thread.run_sync(redis_server.start)
        await _linked(bus)
        nursery.cancel_scope.cancel()
    gc.collect()  # the failed connections' streams, while REDIS_STOPS applies


async def test_a_runtime_error_on_a_link_that_is_up_is_a_bug(redis_server: RedisServer) -> None:
    bus = RedisBus(Hub(), redis_server.url, ChatLimits())
    async with trio.open_nursery() as nursery:
        await nursery.start(bus.run)
        await _linked(bus)
        with pytest.raises(RuntimeError, match="ours"), bus._command():
            raise RuntimeError("ours")
        nursery.cancel_scope.cancel()
