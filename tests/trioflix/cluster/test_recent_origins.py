"""The origin lookups of relayed LL-HLS requests, on a real redis-server: requests
within FOLLOW_POLL_S share one lease read, a takeover is seen once the lookup is that
old, an error answer from the origin forgets it at once, a failed read is not kept, and
the lookups kept are bounded."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from trioflix.cluster.host import Host
from trioflix.cluster.lease import OriginLeases
from trioflix.live.edge.recent_origins import RecentOrigins
from trioflix.live.edge.relays import FOLLOW_POLL_S

if TYPE_CHECKING:
    import coredis
    import trio.testing

    from trioflix.cluster.lease import Origin

pytestmark = pytest.mark.slow

A = Host(id="host-a", advertise_url="http://127.0.0.1:8001")
B = Host(id="host-b", advertise_url="http://127.0.0.1:8002")
TTL_S = 60.0
REQUESTS = 40  # five LL-HLS players' requests within one lookup's life


class CountedLeases:
    """The real lease reads, counted."""

    def __init__(self, leases: OriginLeases) -> None:
        self.leases = leases
        self.reads = 0

    async def current(self, channel: str) -> Origin | None:
        self.reads += 1
        return await self.leases.current(channel)


async def test_requests_within_the_window_share_one_lease_read(
    redis: coredis.Redis[bytes], mock_clock: trio.testing.MockClock
) -> None:
    leases = OriginLeases(redis)
    counted = CountedLeases(leases)
    recent = RecentOrigins()
    on_a = await leases.acquire("chan", A, TTL_S)
    for _ in range(REQUESTS):  # Trio's clock moves only as the test says
        assert await recent.get("chan", counted.current) == on_a.origin
        mock_clock.jump(FOLLOW_POLL_S / (2 * REQUESTS))
    assert counted.reads == 1
    assert await recent.get("other", counted.current) is None  # channels apart
    assert counted.reads == 2

    # A takeover: followed once the lookup is FOLLOW_POLL_S old, not before.
    on_b = await leases.take_over("chan", B, TTL_S)
    assert await recent.get("chan", counted.current) == on_a.origin
    mock_clock.jump(FOLLOW_POLL_S)
    assert await recent.get("chan", counted.current) == on_b.origin
    assert counted.reads == 3

    # An error answer from the origin: the next request reads the lease again.
    recent.forget("chan")
    assert await recent.get("chan", counted.current) == on_b.origin
    assert counted.reads == 4


async def test_a_failed_read_is_not_kept(redis: coredis.Redis[bytes]) -> None:
    leases = OriginLeases(redis)
    lease = await leases.acquire("chan", A, TTL_S)
    recent = RecentOrigins()

    async def failing(channel: str) -> Origin | None:
        raise ConnectionError(channel)

    with pytest.raises(ConnectionError):
        await recent.get("chan", failing)
    assert await recent.get("chan", leases.current) == lease.origin


async def test_the_lookups_kept_are_bounded(redis: coredis.Redis[bytes]) -> None:
    counted = CountedLeases(OriginLeases(redis))
    recent = RecentOrigins(limit=3)
    for channel in ("c1", "c2", "c3", "c4"):
        await recent.get(channel, counted.current)
    await recent.get("c4", counted.current)  # kept
    assert counted.reads == 4
    await recent.get("c1", counted.current)  # the oldest went first
    assert counted.reads == 5
