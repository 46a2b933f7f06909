"""Fencing and orphans on the stored sessions: a write from a host whose origin epoch
was overtaken is refused, and a session whose origin died is ended by exactly one of
the surviving hosts, with one ``publish.end``, after the grace (real database, real
redis-server, real webhook receiver)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
import trio

from tests.ports import free_port
from tests.trioflix.live.test_webhooks_metrics import start_receiver
from trioflix.cluster.host import Host
from trioflix.cluster.lease import OriginLeases
from trioflix.live.channel.orphans import ORPHAN_REASON, OrphanSweeper
from trioflix.live.channel.webhooks import Webhooks
from trioflix.store import live_sessions, open_database
from trioflix.store.stream_keys import create_key
from trioflix.store.users import create_user

if TYPE_CHECKING:
    import coredis

    from trioflix.config import Settings
    from trioflix.store import Database

GRACE_S = 1.0
SLACK_S = 5.0  # scheduling on a busy two-core machine
A = Host(id="host-a", advertise_url="http://127.0.0.1:8001")
B = Host(id="host-b", advertise_url="http://127.0.0.1:8002")


async def publisher(db: Database, name: str) -> tuple[int, int]:
    """A user with a stream key: their ids."""
    user = await create_user(db, name=name, display_name=name, password_hash="h")
    key, _ = await create_key(db, user_id=user.id, name="obs")
    return user.id, key.id


async def test_a_write_with_an_overtaken_epoch_is_refused(settings: Settings) -> None:
    async with open_database(settings) as db:
        user_id, key_id = await publisher(db, "alice")
        first = await live_sessions.begin_publishing(
            db, user_id, key_id, "a", default_title="t", epoch=10
        )
        assert first is not None and first.origin_epoch == 10
        # The encoder reconnects to another host, which continues the same session.
        moved = await live_sessions.begin_publishing(
            db, user_id, key_id, "b", default_title="t", epoch=20
        )
        assert moved is not None and (moved.id, moved.origin_epoch) == (first.id, 20)
        # The host it left writes before it learns of the move: refused.
        assert not await live_sessions.set_state(db, first.id, "reconnecting", epoch=10)
        assert not await live_sessions.end_session(db, first.id, "publisher gone", epoch=10)
        assert (
            await live_sessions.begin_publishing(
                db, user_id, key_id, "a", default_title="t", epoch=10
            )
            is None
        )
        current = await live_sessions.active_session(db, user_id)
        assert current is not None and (current.state, current.node) == ("live", "b")
        # A host granted its lease again after a Redis outage serves it from then on
        # under its new epoch, unless a larger one serves it already.
        assert not await live_sessions.serve_under(db, user_id, 15)
        assert await live_sessions.serve_under(db, user_id, 20)
        # The host serving it now writes, once.
        assert await live_sessions.set_state(db, first.id, "reconnecting", epoch=20)
        assert await live_sessions.end_session(db, first.id, "publisher gone", epoch=20)
        assert not await live_sessions.end_session(db, first.id, "publisher gone", epoch=20)
        assert await live_sessions.active_session(db, user_id) is None
        assert not await live_sessions.serve_under(db, user_id, 30)  # ended: nothing to serve


@pytest.mark.backends("postgresql", reason="a cluster's hosts share PostgreSQL")
async def test_an_orphan_is_ended_once_by_one_of_the_survivors(
    settings: Settings, redis: coredis.Redis[bytes], nursery: trio.Nursery
) -> None:
    leases = OriginLeases(redis)
    hook_port = free_port()
    receiver = await start_receiver(nursery, hook_port)
    webhooks = Webhooks([f"http://127.0.0.1:{hook_port}/hook"], None)
    await nursery.start(webhooks.run)
    async with open_database(settings) as db:
        sessions = {}
        for name in ("orphan", "served", "here"):
            user_id, key_id = await publisher(db, name)
            lease = await leases.acquire(name, A, 60)
            session = await live_sessions.begin_publishing(
                db, user_id, key_id, "a", default_title=name, epoch=lease.origin.epoch
            )
            assert session is not None
            sessions[name] = session
        # The origin of "orphan" dies: its lease goes (as after its TTL). "served"
        # keeps its lease; "here" is in the sweeping host's own grace window.
        orphan = sessions["orphan"]
        await redis.delete([f"trioflix:cluster:origin:{name}" for name in ("orphan", "here")])
        handed_off: list[int] = []

        async def hand_off(session_id: int) -> None:
            handed_off.append(session_id)

        sweepers = [
            OrphanSweeper(
                db,
                origin_of=leases.current,
                here=lambda channel: channel == "here",
                grace_s=GRACE_S,
                webhooks=webhooks,
                hand_off=hand_off,
            )
            for _ in range(3)
        ]
        ended: list[list[int]] = []

        async def sweep(sweeper: OrphanSweeper) -> None:
            ended.append(await sweeper.sweep())

        # The first sweep sees the orphan unserved; none ends it before the grace.
        async with trio.open_nursery() as hosts:
            for sweeper in sweepers:
                hosts.start_soon(sweep, sweeper)
        assert ended == [[], [], []]
        await trio.sleep(GRACE_S)
        ended.clear()
        async with trio.open_nursery() as hosts:  # all three at once
            for sweeper in sweepers:
                hosts.start_soon(sweep, sweeper)
        assert sorted(ended) == [[], [], [orphan.id]]
        assert handed_off == [orphan.id]
        with trio.fail_after(SLACK_S):
            while "publish.end" not in receiver.events():  # noqa: ASYNC110 (delivery: poll)
                await trio.sleep(0.05)
        (end,) = [json.loads(body) for _, body in receiver.calls]
        assert end["event"] == "publish.end"
        assert end["session_id"] == orphan.id
        assert end["reason"] == ORPHAN_REASON
        rows = {s.id: s for s, _ in await live_sessions.on_air(db)}
        assert orphan.id not in rows
        assert {sessions["served"].id, sessions["here"].id} <= set(rows)


@pytest.mark.backends("postgresql", reason="a cluster's hosts share PostgreSQL")
async def test_an_encoder_back_within_the_grace_keeps_its_session(
    settings: Settings, redis: coredis.Redis[bytes]
) -> None:
    leases = OriginLeases(redis)
    async with open_database(settings) as db:
        user_id, key_id = await publisher(db, "alice")
        lease = await leases.acquire("alice", A, 60)
        session = await live_sessions.begin_publishing(
            db, user_id, key_id, "a", default_title="t", epoch=lease.origin.epoch
        )
        assert session is not None
        await redis.delete(["trioflix:cluster:origin:alice"])  # A died

        async def hand_off(session_id: int) -> None:
            raise AssertionError(f"session {session_id} handed off")

        sweeper = OrphanSweeper(
            db,
            origin_of=leases.current,
            here=lambda channel: False,
            grace_s=GRACE_S,
            webhooks=Webhooks([], None),
            hand_off=hand_off,
        )
        assert await sweeper.sweep() == []
        # The encoder reconnects to B, which takes the channel and continues the
        # session; then the lease is lost again (B died too) just as the sweep
        # that saw the first absence would end it.
        taken = await leases.take_over("alice", B, 60)
        moved = await live_sessions.begin_publishing(
            db, user_id, key_id, "b", default_title="t", epoch=taken.origin.epoch
        )
        assert moved is not None and moved.id == session.id
        await redis.delete(["trioflix:cluster:origin:alice"])
        await trio.sleep(GRACE_S)
        # A new epoch is a new absence: its grace starts now.
        assert await sweeper.sweep() == []
        current = await live_sessions.active_session(db, user_id)
        assert current is not None and current.state == "live"
