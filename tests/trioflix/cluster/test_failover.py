"""Failures on the rig behind nginx: Redis out of reach for longer than an origin lease
while a channel is watched on every host, then the origin host SIGKILLed while an
encoder publishes through the balancer and reconnects as OBS does.

The module's tests run in order on the same hosts: the one that kills a host comes
last.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import coredis
import pytest
import trio

from tests.interop.media import FFMPEG, decoded_frames, require
from trioflix.cluster.lease import OriginLeases
from trioflix.cluster.site import MEMBER_TTL_S, ORIGIN_TTL_S
from trioflix.live.channel.orphans import ORPHAN_REASON, SWEEP_INTERVAL_S

from .conftest import running_rig
from .helpers import REDIS_STOPS
from .test_balancer import balancer, nginx  # noqa: F401 (fixtures)
from .test_edge import (
    PLAY_S,
    WATCH_INTERVAL_S,
    Viewer,
    record,
    wait_pulls_open,
    wait_watchable,
)
from .test_rig import (
    SLACK_S,
    channels,
    create_key,
    origin_of,
    publish,
    rig_grace_s,
    sign_up,
    wait_origin,
)
from .test_site_view import WEBHOOK_SECRET, Receiver, get, receiver  # noqa: F401 (fixture)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.conftest import PostgresCluster
    from tests.interop.media import Sample

    from .balancer import Balancer
    from .rig import Rig, RigHost

pytestmark = [pytest.mark.slow, REDIS_STOPS]

# Longer than an origin lease: every origin sees its lease expire.
REDIS_OUTAGE_S = ORIGIN_TTL_S + 2
RECOVERY_S = 5.0  # edges serve the channel again within this of Redis returning
RECONNECT_DELAY_S = 0.5  # how long the encoder waits before publishing again


@pytest.fixture(scope="module")
def rig(
    pg_cluster: PostgresCluster,
    tmp_path_factory: pytest.TempPathFactory,
    nginx: Balancer,  # noqa: F811 (the fixture imported above)
    receiver: Receiver,  # noqa: F811
) -> Iterator[Rig]:
    """The rig, its hosts handing out the balancer's RTMP port and telling ``receiver``
    of live events."""
    with running_rig(
        pg_cluster,
        tmp_path_factory,
        TRIOFLIX_PUBLIC_RTMP_PORT=str(nginx.rtmp_port),
        TRIOFLIX_WEBHOOK_URLS=receiver.url,
        TRIOFLIX_WEBHOOK_SECRET=WEBHOOK_SECRET,
    ) as site:
        yield site


async def test_a_redis_outage_longer_than_a_lease_under_load(
    rig: Rig, sample: Sample, nursery: trio.Nursery
) -> None:
    a, b, c = rig.hosts
    token = await sign_up(a, "carol")
    encoder = await publish(nursery, a, await create_key(a, token), sample)
    with trio.fail_after(30):
        await wait_origin(rig, "carol", a)
        await wait_watchable(a, "carol")  # the lease comes first, then the session
    on_a, on_b, on_c = Viewer(a, "carol"), Viewer(b, "carol"), Viewer(c, "carol")
    with trio.fail_after(30):
        for viewer in (on_a, on_b, on_c):
            await nursery.start(viewer.run)
            await viewer.grows(50_000)
        await wait_pulls_open(a, 2)

    await trio.to_thread.run_sync(rig.redis_server.stop)
    stopped = trio.current_time()
    with trio.fail_after(REDIS_OUTAGE_S + SLACK_S):
        # The origin's lease expires: it stops serving the site (its edges' pulls
        # end), and goes on serving its own viewer, whose bytes never stop.
        while trio.current_time() - stopped < REDIS_OUTAGE_S:
            with trio.fail_after(WATCH_INTERVAL_S):
                await on_a.grows(1)
        # Waited for, within the same bound: the edges' pulls end as each edge sees
        # its connection close, which a busy machine may deliver a little late.
        await wait_pulls_open(a, 0)
    assert not on_a.ended.is_set()
    await trio.to_thread.run_sync(rig.redis_server.start)
    back = trio.current_time()

    # The origin takes its lease again: new viewers on the edges get the channel,
    # and the site lists it on its origin again.
    with trio.fail_after(RECOVERY_S + SLACK_S):
        await wait_watchable(b, "carol")
        await wait_watchable(c, "carol")
        while await channels(b, token) != {a.url: ["carol"]}:  # noqa: ASYNC110 (poll)
            await trio.sleep(0.1)
    recovered_after = trio.current_time() - back
    assert recovered_after <= RECOVERY_S, recovered_after
    with trio.fail_after(WATCH_INTERVAL_S):
        await on_a.grows(1)
    assert not on_a.ended.is_set()
    assert encoder.returncode is None
    origin = await origin_of(rig, "carol")
    assert origin is not None and origin.advertise_url == a.url
    status = await get(a, "/api/streaming/status", token)
    assert status["state"] == "live"
    encoder.terminate()


async def reconnecting_encoder(
    url: str, sample: Sample, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    """ffmpeg publishing the sample to ``url`` in real time, started again whenever it
    exits (its connection broke, or a publish was refused), as OBS reconnects."""
    cmd = [require(FFMPEG, "ffmpeg"), "-hide_banner", "-loglevel", "error", "-re"]
    cmd += ["-stream_loop", "-1", "-i", str(sample.path), "-c", "copy", "-f", "flv", url]
    task_status.started()
    while True:
        await trio.run_process(cmd, check=False, stdin=b"")
        await trio.sleep(RECONNECT_DELAY_S)


def host_at(rig: Rig, url: str) -> RigHost:
    (host,) = [host for host in rig.hosts if host.url == url]
    return host


async def test_the_origin_killed_under_an_encoder_publishing_through_the_balancer(
    rig: Rig,
    balancer: Balancer,  # noqa: F811 (the fixture imported above)
    receiver: Receiver,  # noqa: F811
    sample: Sample,
    nursery: trio.Nursery,
    tmp_path: Path,
) -> None:
    token = await sign_up(rig.hosts[1], "dave")
    key = await create_key(rig.hosts[1], token)
    nursery.start_soon(
        partial(reconnecting_encoder, f"rtmp://127.0.0.1:{balancer.rtmp_port}/live/{key}", sample)
    )
    with trio.fail_after(30):
        while (first := await origin_of(rig, "dave")) is None:  # noqa: ASYNC110 (poll)
            await trio.sleep(0.05)
    dying = host_at(rig, first.advertise_url)
    with trio.fail_after(30):
        await wait_watchable(dying, "dave")
    session_id = (await get(dying, "/api/streaming/status", token))["session"]["id"]
    # Another channel on the same host, from an encoder that will not come back.
    erin = await sign_up(dying, "erin")
    await publish(nursery, dying, await create_key(dying, erin), sample)
    with trio.fail_after(30):
        await wait_origin(rig, "erin", dying)
        await wait_watchable(dying, "erin")
    erin_session = (await get(dying, "/api/streaming/status", erin))["session"]["id"]

    await trio.to_thread.run_sync(dying.kill)
    killed = trio.current_time()
    async with coredis.Redis.from_url(rig.redis_url, decode_responses=False) as client:
        left = await OriginLeases(client).expires_in("dave")
    assert left is not None
    lease_ends = trio.current_time() + left  # unless someone takes it over first
    survivors = [host for host in rig.hosts if host is not dying]

    # The encoder reconnects through the balancer to a survivor, which continues the
    # same session.
    with trio.fail_after(rig_grace_s() + 5 + SLACK_S):
        while True:
            origin = await origin_of(rig, "dave")
            if origin is not None and origin.advertise_url != dying.url:
                break
            await trio.sleep(0.05)
    back = trio.current_time()
    back_after = back - killed
    assert origin is not None
    assert back_after <= rig_grace_s() + 5, back_after
    # The same key took the dead host's lease over: it did not wait for it to expire.
    assert back < lease_ends, (back_after, left)
    new_origin = host_at(rig, origin.advertise_url)
    (edge,) = [host for host in survivors if host is not new_origin]
    for host in survivors:
        status = await get(host, "/api/streaming/status", token)
        assert (status["state"], status["session"]["id"]) == ("live", session_id)
        channel = await get(host, "/api/channels/dave")
        assert channel["session"]["id"] == session_id

    # A viewer on the other survivor gets the channel again, from its new origin.
    with trio.fail_after(30):
        await wait_watchable(edge, "dave")
        out = tmp_path / "after-failover.flv"
        cmd = [require(FFMPEG, "ffmpeg"), "-hide_banner", "-loglevel", "error"]
        cmd += ["-i", f"{edge.url}/live/dave.flv", "-c", "copy", str(out)]
        await record(cmd, out, PLAY_S)
    frames = decoded_frames(out)
    assert frames.get("video", 0) > 10, frames
    assert frames.get("audio", 0) > 10, frames

    # erin's encoder died with the host: a survivor ends the session after the
    # lease's TTL and the grace, once for the site.
    with trio.fail_after(ORIGIN_TTL_S + rig_grace_s() + MEMBER_TTL_S + SLACK_S):
        while (await get(edge, "/api/channels/erin"))["live"]:  # noqa: ASYNC110 (poll)
            await trio.sleep(0.2)
        while not receiver.ends(erin_session):  # noqa: ASYNC110 (delivery: poll)
            await trio.sleep(0.1)
    await trio.sleep(3 * SWEEP_INTERVAL_S)  # every survivor swept again since
    (ended,) = receiver.ends(erin_session)
    assert ended["reason"] == ORPHAN_REASON
    # dave's session went on: nobody sent its end.
    assert receiver.ends(session_id) == []
    status = await get(new_origin, "/api/streaming/status", token)
    assert (status["state"], status["session"]["id"]) == ("live", session_id)
