"""Host membership on a real redis-server: heartbeats appear, silent hosts go within the TTL."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import trio

from trioflix.cluster.members import Load, Member, Membership, heartbeat

from .helpers import REDIS_STOPS, wait_until

if TYPE_CHECKING:
    import coredis

    from tests.conftest import RedisServer

pytestmark = [pytest.mark.slow, REDIS_STOPS]

TTL_S = 1.0
SLACK_S = 0.75  # scheduling on a loaded two-core machine, on top of the bound under test


def member(host: str, **changes: object) -> Member:
    fields: dict[str, object] = {
        "host": host,
        "advertise_url": f"http://{host}:8000",
        "started_at": 1_700_000_000.0,
        "secret_fingerprint": "f" * 32,
        "storage": "data-dir:shared",
    }
    fields.update(changes)
    return Member(**fields)  # type: ignore[arg-type]


async def hosts(membership: Membership) -> list[str]:
    return [m.host for m in await membership.members()]


async def test_a_heartbeating_host_is_listed_with_its_record_and_stays(
    redis: coredis.Redis[bytes], nursery: trio.Nursery
) -> None:
    membership = Membership(redis)
    record = member(
        "a",
        channels=("alice",),
        load=Load(publishers=1, viewers=7, viewers_by_protocol={"hls": 7}, cpu=0.25),
    )
    current = [record]
    await nursery.start(heartbeat, membership, lambda: current[0], TTL_S)
    assert await membership.members() == [record]
    current[0] = member("a", channels=("alice", "bob"))

    async def updated() -> bool:
        return await membership.members() == [current[0]]

    with trio.fail_after(TTL_S / 3 + SLACK_S):  # the next heartbeat carries the new record
        await wait_until(updated)
    listed_until = trio.current_time() + 3 * TTL_S  # three TTLs: only heartbeats keep it
    while trio.current_time() < listed_until:
        assert await hosts(membership) == ["a"]
        await trio.sleep(0.1)


async def test_a_silent_host_drops_out_within_the_ttl(redis: coredis.Redis[bytes]) -> None:
    membership = Membership(redis)
    await membership.announce(member("b"), TTL_S)
    await membership.announce(member("a"), 10 * TTL_S)
    announced = trio.current_time()
    assert await hosts(membership) == ["a", "b"]

    async def b_gone() -> bool:
        return await hosts(membership) == ["a"]

    with trio.fail_after(TTL_S + SLACK_S):
        await wait_until(b_gone)
    assert trio.current_time() - announced >= TTL_S * 0.9  # not before its TTL (clock grain)
    assert set(await redis.hkeys("trioflix:cluster:members")) == {b"a"}  # the record went too


async def test_a_host_that_stops_leaves_at_once(
    redis: coredis.Redis[bytes], nursery: trio.Nursery
) -> None:
    membership = Membership(redis)
    scope = trio.CancelScope()

    async def run(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with scope:
            await heartbeat(membership, lambda: member("a"), 60.0, task_status=task_status)

    await nursery.start(run)
    assert await hosts(membership) == ["a"]
    scope.cancel()

    async def gone() -> bool:
        return await hosts(membership) == []

    with trio.fail_after(1):  # removed on the way out, not after its 60 s TTL
        await wait_until(gone)


async def test_heartbeats_go_on_through_a_redis_outage(
    redis: coredis.Redis[bytes],
    redis_server: RedisServer,
    nursery: trio.Nursery,
    caplog: pytest.LogCaptureFixture,
) -> None:
    membership = Membership(redis)
    await nursery.start(heartbeat, membership, lambda: member("a"), TTL_S)
    await trio.to_thread.run_sync(redis_server.stop)

    async def failed() -> bool:
        await trio.lowlevel.checkpoint()
        return "cluster heartbeat failed" in caplog.text

    with trio.fail_after(TTL_S / 3 + SLACK_S):
        await wait_until(failed)
    await trio.to_thread.run_sync(redis_server.start)  # empty: the record is gone

    async def back() -> bool:
        return await hosts(membership) == ["a"]

    with trio.fail_after(TTL_S / 3 + SLACK_S):
        await wait_until(back)


async def test_a_record_that_does_not_parse_is_skipped(redis: coredis.Redis[bytes]) -> None:
    membership = Membership(redis)
    await membership.announce(member("a"), TTL_S * 10)
    await redis.hset("trioflix:cluster:members", {"z": b'{"host": "z"}'})
    assert await hosts(membership) == ["a"]


async def test_ttl_must_be_positive(redis: coredis.Redis[bytes]) -> None:
    with pytest.raises(ValueError, match="positive TTL"):
        await Membership(redis).announce(member("a"), 0)
