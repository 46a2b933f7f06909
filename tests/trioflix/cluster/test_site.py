"""A host's place in the site: start-up checks against a real redis-server, its record,
and the refusals as ``trioflix serve`` and plain hypercorn meet them in process."""

from __future__ import annotations

import gc
from functools import partial
from typing import TYPE_CHECKING

import hypercorn.trio
import pytest
import trio
from hypercorn.utils import LifespanFailureError

from trioflix.app import create_app
from trioflix.cluster.checks import ClusterConfigError, Mode
from trioflix.cluster.host import Host
from trioflix.cluster.keys import secret_fingerprint
from trioflix.cluster.lease import OriginLeases
from trioflix.cluster.members import Membership
from trioflix.cluster.shared_storage import STORAGE_ID_FILE, storage_id
from trioflix.cluster.site import MEMBER_TTL_S, ORIGIN_TTL_S, SiteUnavailable, join_site
from trioflix.config import Settings
from trioflix.server import hypercorn_config, serve_app

from .helpers import REDIS_STOPS, RedisLink, wait_until
from .test_members import member

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    import coredis

    from tests.conftest import RedisServer
    from trioflix.cluster.site import OriginClaim, Site

pytestmark = [pytest.mark.slow, REDIS_STOPS]

SECRET = "cluster-secret-" + "s" * 32
POSTGRES = "postgresql://trioflix:pw@127.0.0.1:1/trioflix"  # never opened: checks come first
SERVING = {"alice": {"hls": 3, "rtmp": 0}}
SLACK_S = 5.0  # scheduling on a busy two-core machine


def cluster_settings(data_dir: Path, redis_url: str, **changes: object) -> Settings:
    settings = Settings(
        data_dir=data_dir,
        database_url=POSTGRES,
        jwt_secret=SECRET,
        redis_url=redis_url,
        advertise_url="http://127.0.0.1:8101/",
        http="127.0.0.1:0",
        rtmp="127.0.0.1:0",
    )
    return settings.replace(**changes)


async def test_a_single_host_lists_itself_and_writes_nothing(tmp_path: Path) -> None:
    site = await join_site(Settings(data_dir=tmp_path / "data"), lambda: SERVING)
    assert site.mode is Mode.SINGLE_HOST
    (only,) = await site.members()
    assert only.host == site.host.id
    assert only.channels == ("alice",)
    assert only.load.viewers_by_protocol == {"hls": 3, "rtmp": 0}
    assert not (tmp_path / "data").exists()


async def test_a_cluster_host_announces_what_it_serves(
    tmp_path: Path, redis_server: RedisServer, redis: coredis.Redis[bytes], nursery: trio.Nursery
) -> None:
    site = await join_site(cluster_settings(tmp_path, redis_server.url), lambda: SERVING)
    assert site.mode is Mode.CLUSTER
    with pytest.raises(SiteUnavailable, match="heartbeat is not running"):
        await site.members()
    await nursery.start(site.run)
    (listed,) = await Membership(redis).members()
    assert listed.host == site.host.id
    assert listed.advertise_url == "http://127.0.0.1:8101"  # without the trailing slash
    assert listed.secret_fingerprint == secret_fingerprint(SECRET)
    assert listed.storage == storage_id(tmp_path)
    assert (listed.channels, listed.load.publishers, listed.load.viewers) == (("alice",), 1, 3)
    assert listed.viewers == {"alice": {"hls": 3}}  # what nobody watches is left out
    assert await site.members() == [listed]
    assert MEMBER_TTL_S <= 5  # a killed host is gone within seconds
    nursery.cancel_scope.cancel()


async def test_viewers_are_summed_over_the_hosts_by_protocol(
    tmp_path: Path, redis_server: RedisServer, nursery: trio.Nursery
) -> None:
    serving: dict[str, dict[str, dict[str, int]]] = {
        "a": {"alice": {"hls": 3, "http-flv": 1}},
        "b": {"alice": {"http-flv": 2, "rtmp": 0}, "bob": {}},
    }
    sites = {}
    for name, port in (("a", 8101), ("b", 8102)):
        settings = cluster_settings(tmp_path, redis_server.url, advertise_url=f"http://h:{port}")
        sites[name] = site = await join_site(settings, partial(serving.__getitem__, name))
        await nursery.start(site.run)
    a, b = sites["a"], sites["b"]

    async def both_see_each_other() -> bool:
        return a.viewers("bob", None) is not None and b.viewers("alice", None) is not None

    with trio.fail_after(MEMBER_TTL_S):
        await wait_until(both_see_each_other)
    site_wide = {"hls": 3, "http-flv": 3}
    assert a.viewers("alice", serving["a"]["alice"]) == site_wide
    assert b.viewers("alice", serving["b"]["alice"]) == site_wide | {"rtmp": 0}
    assert a.viewers("bob", None) == {}  # live on b, watched by nobody
    assert a.viewers("carol", None) is None  # live nowhere
    nursery.cancel_scope.cancel()


async def test_a_host_learns_which_origins_serve_ll_hls(
    tmp_path: Path, redis_server: RedisServer, nursery: trio.Nursery
) -> None:
    serving: dict[str, dict[str, dict[str, int]]] = {"a": {"alice": {}}, "b": {"bob": {}}, "c": {}}
    sites = {}
    for name, port, part_ms in (("a", 8101, 300), ("b", 8102, None), ("c", 8103, 300)):
        settings = cluster_settings(
            tmp_path, redis_server.url, advertise_url=f"http://h:{port}", hls_part=part_ms
        )
        sites[name] = await join_site(settings, partial(serving.__getitem__, name))
    b, c = sites["b"], sites["c"]
    # No record read yet: each host assumes the origin is set up as it is.
    assert c.origin_serves_ll_hls("bob")
    assert not b.origin_serves_ll_hls("alice")
    for site in sites.values():
        await nursery.start(site.run)

    async def both_see_each_other() -> bool:
        return all(h.viewers(o, None) is not None for h, o in ((c, "bob"), (b, "alice")))

    with trio.fail_after(MEMBER_TTL_S + SLACK_S):
        await wait_until(both_see_each_other)
    assert c.origin_serves_ll_hls("alice")
    assert not c.origin_serves_ll_hls("bob")  # its origin has LL-HLS off
    assert b.origin_serves_ll_hls("alice")  # its origin has LL-HLS on, b has not
    assert c.origin_serves_ll_hls("carol")  # live nowhere: as c is
    nursery.cancel_scope.cancel()


async def test_a_host_with_another_secret_is_refused(
    tmp_path: Path, redis_server: RedisServer, redis: coredis.Redis[bytes]
) -> None:
    up = member("up", storage=storage_id(tmp_path), secret_fingerprint=secret_fingerprint(SECRET))
    await Membership(redis).announce(up, 30)
    settings = cluster_settings(tmp_path, redis_server.url)
    assert (await join_site(settings, lambda: SERVING)).mode is Mode.CLUSTER  # same secret
    other = settings.replace(jwt_secret="another-secret-" + "o" * 32)
    with pytest.raises(ClusterConfigError, match=r"JWT_SECRET differs .* http://up:8000"):
        await join_site(other, lambda: SERVING)


async def test_a_host_on_other_storage_is_refused(
    tmp_path: Path, redis_server: RedisServer, redis: coredis.Redis[bytes]
) -> None:
    shared = storage_id(tmp_path / "shared")
    up = member("up", storage=shared, secret_fingerprint=secret_fingerprint(SECRET))
    await Membership(redis).announce(up, 30)
    settings = cluster_settings(tmp_path / "local", redis_server.url)
    with pytest.raises(ClusterConfigError, match="TRIOFLIX_DATA_DIR is not the directory"):
        await join_site(settings, lambda: SERVING)
    assert (tmp_path / "local" / STORAGE_ID_FILE).exists()  # its own id, unlike the others'


async def test_a_host_that_cannot_reach_redis_is_refused(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    redis_server.stop()
    with pytest.raises(SiteUnavailable, match=r"cannot reach Redis \(REDIS_URL\)"):
        await join_site(cluster_settings(tmp_path, redis_server.url), lambda: SERVING)
    gc.collect()  # the failed connection's streams, while REDIS_STOPS applies (helpers.py)


def split_settings(tmp_path: Path, redis_server: RedisServer) -> Settings:
    """Redis with SQLite: the refusal every entry point must report."""
    return cluster_settings(tmp_path / "data", redis_server.url, database_url=None)


async def test_serve_app_raises_the_refusal(tmp_path: Path, redis_server: RedisServer) -> None:
    settings = split_settings(tmp_path, redis_server)
    with trio.fail_after(20), pytest.raises(ClusterConfigError, match="DATABASE_URL is not set"):
        await serve_app(settings, shutdown_trigger=trio.sleep_forever)
    assert not (tmp_path / "data").exists()  # refused before the database was opened


async def test_plain_hypercorn_fails_its_lifespan_with_the_refusal(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    settings = split_settings(tmp_path, redis_server)
    app = create_app(settings)
    # What hypercorn reports (and prints) is the refusal's text, with what to set.
    failure = pytest.RaisesExc(LifespanFailureError, match="DATABASE_URL is not set")
    with trio.fail_after(20), pytest.RaisesGroup(failure, flatten_subgroups=True):
        await hypercorn.trio.serve(
            app, hypercorn_config(settings), shutdown_trigger=trio.sleep_forever
        )
    assert isinstance(app.startup_error, ClusterConfigError)


async def _never_asked() -> bool:
    raise AssertionError("the channel was free: the stream key is not asked for")


async def _cut_until_expired(
    site: Site,
    link: RedisLink,
    redis: coredis.Redis[bytes],
    resume: Callable[[int], Awaitable[bool]],
) -> tuple[OriginClaim, list[bool]]:
    """``site`` claims alice, then loses Redis until its lease has expired, there too."""
    superseded: list[bool] = []
    claim = await site.claim_origin("alice", _never_asked, lambda: superseded.append(True), resume)
    assert claim.held
    link.cut()

    async def lapsed() -> bool:
        return not claim.held

    async def gone_from_redis() -> bool:
        return await OriginLeases(redis).current("alice") is None

    with trio.fail_after(ORIGIN_TTL_S + SLACK_S):
        await wait_until(lapsed)
        await wait_until(gone_from_redis)
    assert superseded == []  # an outage is not a takeover
    return claim, superseded


async def test_an_origin_cut_off_from_redis_is_granted_its_channel_again(
    tmp_path: Path, redis_server: RedisServer, redis: coredis.Redis[bytes], nursery: trio.Nursery
) -> None:
    link = RedisLink(redis_server)
    await nursery.start(link.run)
    site = await join_site(cluster_settings(tmp_path, link.url), lambda: SERVING)
    await nursery.start(site.run)
    resumed: list[int] = []

    async def resume(epoch: int) -> bool:
        resumed.append(epoch)
        return True

    claim, superseded = await _cut_until_expired(site, link, redis, resume)
    lapsed_epoch = claim.epoch
    link.restore()

    async def held() -> bool:
        return claim.held

    with trio.fail_after(SLACK_S):
        await wait_until(held)
    assert claim.epoch > lapsed_epoch
    assert resumed == [claim.epoch]
    assert await OriginLeases(redis).current("alice") == claim.lease.origin
    assert superseded == []
    claim.release()
    nursery.cancel_scope.cancel()


async def test_an_origin_cut_off_from_redis_lets_go_of_a_channel_taken_meanwhile(
    tmp_path: Path, redis_server: RedisServer, redis: coredis.Redis[bytes], nursery: trio.Nursery
) -> None:
    link = RedisLink(redis_server)
    await nursery.start(link.run)
    site = await join_site(cluster_settings(tmp_path, link.url), lambda: SERVING)
    await nursery.start(site.run)
    claim, superseded = await _cut_until_expired(site, link, redis, _never_resumed)
    other = Host(id="another-host", advertise_url="http://127.0.0.1:8102")
    taken = await OriginLeases(redis).acquire("alice", other, 60)
    link.restore()

    async def told() -> bool:
        return superseded == [True]

    with trio.fail_after(SLACK_S):
        await wait_until(told)
    assert not claim.held
    assert await OriginLeases(redis).current("alice") == taken.origin
    nursery.cancel_scope.cancel()


async def _never_resumed(epoch: int) -> bool:
    raise AssertionError("another host holds the lease: there is nothing to resume")


async def test_an_origin_cut_off_from_redis_lets_go_of_a_session_ended_meanwhile(
    tmp_path: Path, redis_server: RedisServer, redis: coredis.Redis[bytes], nursery: trio.Nursery
) -> None:
    link = RedisLink(redis_server)
    await nursery.start(link.run)
    site = await join_site(cluster_settings(tmp_path, link.url), lambda: SERVING)
    await nursery.start(site.run)

    async def ended_meanwhile(epoch: int) -> bool:
        return False  # another host ended the session, seeing no origin

    claim, superseded = await _cut_until_expired(site, link, redis, ended_meanwhile)
    link.restore()

    async def told() -> bool:
        return superseded == [True]

    with trio.fail_after(SLACK_S):
        await wait_until(told)
    assert not claim.held
    assert await OriginLeases(redis).current("alice") is None  # granted, then given up
    nursery.cancel_scope.cancel()
