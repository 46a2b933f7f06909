"""Origin leases on a real redis-server: grants, refusals, takeovers, fencing epochs, holders."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import trio
import trio.testing

from trioflix.cluster.host import Host
from trioflix.cluster.lease import LeaseRefused, LossReason, OriginLeases, hold

from .helpers import REDIS_STOPS, restart, wait_until

if TYPE_CHECKING:
    import coredis

    from tests.conftest import RedisServer
    from trioflix.cluster.lease import Lease

pytestmark = [pytest.mark.slow, REDIS_STOPS]

A = Host(id="host-a", advertise_url="http://127.0.0.1:8001")
B = Host(id="host-b", advertise_url="http://127.0.0.1:8002")
TTL_S = 1.5
SLACK_S = 0.75  # scheduling on a loaded two-core machine, on top of the bound under test


class Losses:
    """Records ``on_lost`` calls, and when they came."""

    def __init__(self) -> None:
        self.reasons: list[LossReason] = []
        self.at: float | None = None
        self.event = trio.Event()

    def __call__(self, reason: LossReason) -> None:
        self.reasons.append(reason)
        self.at = trio.current_time()
        self.event.set()


async def test_acquire_then_refused_with_the_holder(redis: coredis.Redis[bytes]) -> None:
    leases = OriginLeases(redis)
    lease = await leases.acquire("chan", A, TTL_S)
    assert lease.origin.host == A.id and lease.origin.advertise_url == A.advertise_url
    assert await leases.current("chan") == lease.origin
    for host in (B, A):  # the holder itself is refused too: taking over is explicit
        with pytest.raises(LeaseRefused) as refused:
            await leases.acquire("chan", host, TTL_S)
        assert refused.value.holder == lease.origin
        assert A.advertise_url in str(refused.value)
    assert await leases.current("other") is None


async def test_take_over_raises_the_epoch_and_fences_the_old_holder(
    redis: coredis.Redis[bytes],
) -> None:
    leases = OriginLeases(redis)
    old = await leases.acquire("chan", A, TTL_S)
    new = await leases.take_over("chan", B, TTL_S)
    assert new.origin.epoch > old.origin.epoch
    assert await leases.current("chan") == new.origin
    assert not await leases.refresh(old)
    assert not await leases.release(old)  # compare-and-delete: the new holder keeps it
    assert await leases.current("chan") == new.origin
    assert await leases.refresh(new)
    again = await leases.take_over("chan", B, TTL_S)  # the same host, a later publish
    assert again.origin.epoch > new.origin.epoch
    assert not await leases.refresh(new)
    assert await leases.release(again)
    assert await leases.current("chan") is None


async def test_epochs_only_go_up_across_release_and_reacquire(
    redis: coredis.Redis[bytes],
) -> None:
    leases = OriginLeases(redis)
    epochs = []
    for host in (A, B, A, A, B):
        lease = await leases.acquire("chan", host, TTL_S)
        epochs.append(lease.origin.epoch)
        assert await leases.release(lease)
    for _ in range(20):  # faster than the clock's microseconds: the counter carries on
        epochs.append((await leases.take_over("chan", A, TTL_S)).origin.epoch)
    assert epochs == sorted(set(epochs))


async def test_a_released_lease_is_never_restored(redis: coredis.Redis[bytes]) -> None:
    leases = OriginLeases(redis)
    lease = await leases.acquire("chan", A, TTL_S)
    left = await leases.expires_in("chan")
    assert left is not None and 0 < left <= TTL_S
    assert await leases.release(lease)
    assert not await leases.refresh(lease)
    assert await leases.current("chan") is None
    assert await leases.expires_in("chan") is None


async def test_an_expired_lease_frees_the_channel_and_fences_its_holder(
    redis: coredis.Redis[bytes],
) -> None:
    leases = OriginLeases(redis)
    old = await leases.acquire("chan", A, 0.2)

    async def freed() -> bool:
        return await leases.current("chan") is None

    with trio.fail_after(2):
        await wait_until(freed)
    new = await leases.acquire("chan", B, TTL_S)
    assert new.origin.epoch > old.origin.epoch
    assert not await leases.refresh(old)
    assert await leases.current("chan") == new.origin


async def test_epochs_keep_going_up_across_a_redis_restart(
    redis: coredis.Redis[bytes], redis_server: RedisServer
) -> None:
    leases = OriginLeases(redis)
    seen = [(await leases.acquire("chan", A, TTL_S)).origin.epoch]
    for _ in range(20):
        seen.append((await leases.take_over("chan", B, TTL_S)).origin.epoch)
    await restart(redis_server)
    # Redis kept nothing: the counter that the epochs came from is gone.
    assert await redis.exists(["trioflix:cluster:epoch:chan"]) == 0
    assert await leases.current("chan") is None
    after = await leases.acquire("chan", A, TTL_S)
    assert after.origin.epoch > max(seen)


async def _hold(
    nursery: trio.Nursery, leases: OriginLeases, lease: Lease, losses: Losses
) -> trio.CancelScope:
    scope = trio.CancelScope()

    async def run(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with scope:
            await hold(leases, lease, losses, task_status=task_status)

    await nursery.start(run)
    return scope


async def test_holder_keeps_the_lease_past_its_ttl(
    redis: coredis.Redis[bytes], nursery: trio.Nursery
) -> None:
    leases = OriginLeases(redis)
    lease = await leases.acquire("chan", A, 0.5)
    losses = Losses()
    await _hold(nursery, leases, lease, losses)
    with trio.move_on_after(1.5):  # three TTLs: only refreshes keep it
        await losses.event.wait()
    assert losses.reasons == []
    assert await leases.current("chan") == lease.origin


async def test_holder_releases_the_lease_when_cancelled(
    redis: coredis.Redis[bytes], nursery: trio.Nursery
) -> None:
    leases = OriginLeases(redis)
    lease = await leases.acquire("chan", A, 30.0)
    losses = Losses()
    scope = await _hold(nursery, leases, lease, losses)
    scope.cancel()

    async def released() -> bool:
        return await leases.current("chan") is None

    with trio.fail_after(2):  # released on cancel, not left to expire after 30 s
        await wait_until(released)
    assert losses.reasons == []


async def test_holder_reports_a_takeover_within_a_refresh_interval(
    redis: coredis.Redis[bytes], nursery: trio.Nursery
) -> None:
    leases = OriginLeases(redis)
    lease = await leases.acquire("chan", A, TTL_S)
    losses = Losses()
    await _hold(nursery, leases, lease, losses)
    taken = trio.current_time()
    new = await leases.take_over("chan", B, TTL_S)
    with trio.fail_after(TTL_S / 3 + SLACK_S):
        await losses.event.wait()
    assert losses.reasons == [LossReason.SUPERSEDED]
    assert losses.at is not None and losses.at - taken <= TTL_S / 3 + SLACK_S
    await trio.testing.wait_all_tasks_blocked()
    assert await leases.current("chan") == new.origin  # the loser did not release it


async def test_holder_reports_expiry_within_the_ttl_when_redis_goes_away(
    redis: coredis.Redis[bytes], redis_server: RedisServer, nursery: trio.Nursery
) -> None:
    leases = OriginLeases(redis)
    lease = await leases.acquire("chan", A, TTL_S)
    losses = Losses()
    await _hold(nursery, leases, lease, losses)
    await trio.to_thread.run_sync(redis_server.stop)
    stopped = trio.current_time()
    with trio.fail_after(TTL_S + SLACK_S):
        await losses.event.wait()
    assert losses.reasons == [LossReason.EXPIRED]
    assert losses.at is not None and losses.at - stopped <= TTL_S + SLACK_S


async def test_holder_reports_expiry_when_redis_hangs(
    redis: coredis.Redis[bytes], redis_server: RedisServer, nursery: trio.Nursery
) -> None:
    leases = OriginLeases(redis)
    lease = await leases.acquire("chan", A, TTL_S)
    losses = Losses()
    await _hold(nursery, leases, lease, losses)
    assert redis_server.process is not None
    redis_server.process.send_signal(19)  # SIGSTOP: connections stay open, nothing answers
    try:
        stopped = trio.current_time()
        with trio.fail_after(TTL_S + SLACK_S):
            await losses.event.wait()
    finally:
        redis_server.process.send_signal(18)  # SIGCONT
    assert losses.reasons == [LossReason.EXPIRED]
    assert losses.at is not None and losses.at - stopped <= TTL_S + SLACK_S


async def test_holder_restores_its_lease_after_a_quick_redis_restart(
    redis: coredis.Redis[bytes], redis_server: RedisServer, nursery: trio.Nursery
) -> None:
    leases = OriginLeases(redis)
    lease = await leases.acquire("chan", A, 3.0)
    losses = Losses()
    await _hold(nursery, leases, lease, losses)
    await redis.set("marker", "kept?")
    await restart(redis_server)
    assert await redis.exists(["marker"]) == 0  # Redis came back empty

    async def restored() -> bool:
        return await leases.current("chan") == lease.origin

    with trio.fail_after(3.0):
        await wait_until(restored)
    assert losses.reasons == []
    # The counter came back with it: a takeover now still gets a larger epoch.
    assert (await leases.take_over("chan", B, TTL_S)).origin.epoch > lease.origin.epoch


async def test_ttl_must_be_positive(redis: coredis.Redis[bytes]) -> None:
    with pytest.raises(ValueError, match="positive TTL"):
        await OriginLeases(redis).acquire("chan", A, 0)
