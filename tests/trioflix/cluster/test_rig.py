"""Three ``trioflix serve`` hosts of one site: they see each other, notice one gone
within the heartbeat TTL, refuse a newcomer whose settings would split the site, and
let one host at a time serve a channel (ffmpeg publishing to two of them)."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

import coredis
import httpx
import pytest
import trio

from tests.interop.media import FFMPEG, require
from trioflix.cluster.lease import OriginLeases
from trioflix.cluster.site import MEMBER_TTL_S, ORIGIN_TTL_S
from trioflix.config import Settings

if TYPE_CHECKING:
    from tests.interop.media import Sample
    from trioflix.cluster.lease import Origin

    from .rig import Rig, RigHost

pytestmark = pytest.mark.slow

SLACK_S = 3.0  # scheduling of five processes on a busy two-core machine


async def cluster(host: RigHost, token: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(
            f"{host.url}/api/cluster", headers={"Authorization": f"Bearer {token}"}
        )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def listed(host: RigHost, token: str) -> list[str]:
    return sorted(member["advertise_url"] for member in (await cluster(host, token))["hosts"])


async def wait_listed(hosts: list[RigHost], token: str, expected: list[RigHost]) -> float:
    """Seconds until every host in ``hosts`` lists exactly ``expected``."""
    start = trio.current_time()
    urls = sorted(host.url for host in expected)
    for host in hosts:
        while await listed(host, token) != urls:  # noqa: ASYNC110 (Redis says nothing: poll)
            await trio.sleep(0.05)
    return trio.current_time() - start


async def sign_up(host: RigHost, name: str) -> str:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(
            f"{host.url}/api/auth/register", json={"username": name, "password": "correct horse"}
        )
    assert response.status_code == 201, response.text
    return str(response.json()["token"])


async def test_every_host_lists_all_three(rig: Rig) -> None:
    token = await sign_up(rig.hosts[0], "operator")  # one database and secret: valid everywhere
    with trio.fail_after(MEMBER_TTL_S + SLACK_S):
        await wait_listed(rig.hosts, token, rig.hosts)
    ids = set()
    for host in rig.hosts:
        body = await cluster(host, token)
        assert body["mode"] == "cluster"
        ids.add(body["this_host"])
        for member in body["hosts"]:
            assert member["channels"] == []
            assert member["load"]["publishers"] == 0
    assert len(ids) == 3
    # One shared data directory; what each host clears at start is its own.
    for host in rig.hosts:
        settings = Settings(data_dir=rig.data_dir, advertise_url=host.url)
        assert (settings.host_dir / "live").is_dir()
    assert len(list((rig.data_dir / "hosts").iterdir())) == 3


async def create_key(host: RigHost, token: str) -> str:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(
            f"{host.url}/api/streaming/keys", headers={"Authorization": f"Bearer {token}"}
        )
    assert response.status_code == 201, response.text
    return str(response.json()["key"]["key"])


async def publish(nursery: trio.Nursery, host: RigHost, key: str, sample: Sample) -> trio.Process:
    """ffmpeg pushes the sample to ``host`` in real time, over and over, as OBS would."""
    cmd = [require(FFMPEG, "ffmpeg"), "-hide_banner", "-loglevel", "error", "-re"]
    cmd += ["-stream_loop", "-1", "-i", str(sample.path), "-c", "copy", "-f", "flv"]
    cmd.append(f"rtmp://127.0.0.1:{host.rtmp_port}/live/{key}")
    process: trio.Process = await nursery.start(
        partial(trio.run_process, cmd, check=False, stdin=b"")
    )
    return process


async def channels(host: RigHost, token: str) -> dict[str, list[str]]:
    """The channels each host serves, as ``host`` lists them (hosts serving none left out)."""
    hosts = (await cluster(host, token))["hosts"]
    return {member["advertise_url"]: member["channels"] for member in hosts if member["channels"]}


async def origin_of(rig: Rig, channel: str) -> Origin | None:
    async with coredis.Redis.from_url(rig.redis_url, decode_responses=False) as client:
        return await OriginLeases(client).current(channel)


async def wait_origin(rig: Rig, channel: str, host: RigHost | None) -> None:
    """Until the channel's lease names ``host`` (``None``: no host)."""
    url = host.url if host is not None else None
    while True:
        origin = await origin_of(rig, channel)
        if (origin.advertise_url if origin is not None else None) == url:
            return
        await trio.sleep(0.05)


async def test_one_host_serves_a_channel_and_the_same_key_moves_it(
    rig: Rig, sample: Sample, nursery: trio.Nursery
) -> None:
    a, b, _ = rig.hosts
    token = await sign_up(a, "alice")
    key, other_key = await create_key(a, token), await create_key(a, token)
    on_a = await publish(nursery, a, key, sample)
    with trio.fail_after(30):
        await wait_origin(rig, "alice", a)
        while (session := await live_session(a, token)) is None:  # noqa: ASYNC110 (poll)
            await trio.sleep(0.05)

    # Another key on another host is refused; the publisher on A goes on.
    refused = await publish(nursery, b, other_key, sample)
    with trio.fail_after(30):
        await refused.wait()
    assert refused.returncode != 0
    assert on_a.returncode is None
    assert (await origin_of(rig, "alice")) is not None

    # The same key on B takes the channel over; A learns it from its lease and drops
    # its encoder within a refresh interval.
    on_b = await publish(nursery, b, key, sample)
    with trio.fail_after(30):
        await wait_origin(rig, "alice", b)
    taken_over = trio.current_time()
    with trio.fail_after(ORIGIN_TTL_S / 3 + SLACK_S):
        await on_a.wait()
    dropped_after = trio.current_time() - taken_over
    assert dropped_after <= ORIGIN_TTL_S / 3 + SLACK_S
    assert on_b.returncode is None
    with trio.fail_after(MEMBER_TTL_S + SLACK_S):
        while await channels(b, token) != {b.url: ["alice"]}:  # noqa: ASYNC110 (poll)
            await trio.sleep(0.1)
    # The same live session goes on from B, as every host tells.
    for host in rig.hosts:
        assert await live_session(host, token) == session

    # The session ends when the encoder stops: the lease is released, not left to expire.
    on_b.terminate()
    with trio.fail_after(rig_grace_s() + SLACK_S):
        await wait_origin(rig, "alice", None)


async def live_session(host: RigHost, token: str) -> int | None:
    """The id of the streamer's live session, as ``host`` tells it (``None``: not live)."""
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(
            f"{host.url}/api/streaming/status", headers={"Authorization": f"Bearer {token}"}
        )
    assert response.status_code == 200, response.text
    body = response.json()
    return int(body["session"]["id"]) if body["state"] == "live" else None


def rig_grace_s() -> float:
    """A dropped encoder's grace window, during which its host keeps the channel."""
    return Settings().reconnect_grace


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"JWT_SECRET": "another-secret-" + "o" * 32},
            "JWT_SECRET differs from the one used by the hosts at http://127.0.0.1:",
        ),
        (
            {"TRIOFLIX_DATA_DIR": "elsewhere"},
            "TRIOFLIX_DATA_DIR is not the directory the hosts at http://127.0.0.1:",
        ),
        ({"DATABASE_URL": ""}, "DATABASE_URL is not set, so this host would keep its own SQLite"),
    ],
    ids=["another-secret", "another-data-dir", "sqlite"],
)
def test_a_host_that_would_split_the_site_is_refused(
    rig: Rig, changes: dict[str, str], message: str
) -> None:
    if "TRIOFLIX_DATA_DIR" in changes:
        changes = {"TRIOFLIX_DATA_DIR": str(rig.workdir / changes["TRIOFLIX_DATA_DIR"])}
    code, stderr = rig.refused(**changes)
    assert code == 2, stderr
    printed = stderr[stderr.index("\ntrioflix: ") :]
    assert message in printed
    if "JWT_SECRET" in changes or "TRIOFLIX_DATA_DIR" in changes:
        for host in rig.hosts:  # it names every host it disagrees with
            assert host.url in printed


async def test_a_killed_host_drops_out_within_the_ttl_and_a_stopped_one_at_once(
    rig: Rig,
) -> None:
    token = await sign_up(rig.hosts[1], "watcher")
    a, b, c = rig.hosts
    with trio.fail_after(MEMBER_TTL_S + SLACK_S):
        await wait_listed([a, b], token, [a, b, c])
    await trio.to_thread.run_sync(c.kill)
    with trio.fail_after(MEMBER_TTL_S + SLACK_S):
        gone_after = await wait_listed([a, b], token, [a, b])
    assert gone_after <= MEMBER_TTL_S + SLACK_S

    await trio.to_thread.run_sync(b.stop)  # SIGTERM: it removes its record as it stops
    with trio.fail_after(SLACK_S):
        await wait_listed([a], token, [a])
