"""The origin's side of the internal pull, on a cluster of one (real PostgreSQL and
redis-server), served both ways: by ``trioflix serve``, which answers a pull on the
socket itself, and by plain hypercorn, through Quart. Both refuse a bad token with
the same 403, serve only while this host holds the channel's origin lease, and
count the same ``trioflix_internal_pulls``."""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import h11
import httpx
import pytest
import trio

from tests.trioflix.cluster.helpers import REDIS_STOPS
from tests.trioflix.live.test_rtmp_robustness import KEYFRAME, publishing_client
from tests.waiting import wait_until
from trioflix.cluster.pull_auth import PullTokens
from trioflix.cluster.site import ORIGIN_TTL_S
from trioflix.live.edge.pull import PULL_TOKEN_HEADER, pull_url

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.conftest import RedisServer, Server
    from tests.trioflix.live.rtmp_client import RTMPTestClient
    from trioflix.config import Settings

pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize("server", ["direct", "asgi"], indirect=True),
    REDIS_STOPS,
]

FRAME_S = 0.04
# The lease is lost ORIGIN_TTL_S after its last refresh; then the next batch ends the
# pull. Generous: a loaded two-core machine.
LEASE_LOSS_LIMIT_S = ORIGIN_TTL_S + 30


# A cluster of one: Redis (for the lease) needs PostgreSQL.
@pytest.fixture
def backend() -> str:
    return "postgresql"


@pytest.fixture(autouse=True)
def collect_after(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Collects, while REDIS_STOPS applies, the Redis connections that failed while
    Redis was stopped or the host was stopping (helpers.py), rather than at a later
    test's expense. The test's log records hold the errors they report, and through
    their tracebacks the connections: they are dropped first (the report keeps the
    captured log's text)."""
    yield
    for when in ("setup", "call"):
        caplog.get_records(when).clear()
    gc.collect()


@pytest.fixture
def settings(settings: Settings, redis_server: RedisServer) -> Settings:
    return settings.replace(redis_url=redis_server.url, advertise_url="http://127.0.0.1:8000")


async def send_frames(publisher: RTMPTestClient, stream_id: int) -> None:
    """Media from the publisher until cancelled, so that a pull gets batches; then
    the publisher leaves."""
    timestamp = 0
    try:
        while True:
            timestamp += 40
            await publisher.send_video(stream_id, timestamp, KEYFRAME)
            await trio.sleep(FRAME_S)
    finally:
        await publisher.aclose()


async def live_channel(server: Server, nursery: trio.Nursery, channel: str) -> None:
    """``channel`` publishes to ``server``, which holds its origin lease."""
    publisher, stream_id = await publishing_client(server, channel)
    nursery.start_soon(send_frames, publisher, stream_id)
    registry = server.app.trioflix.registry
    await wait_until(lambda: registry.origin_epoch(channel) is not None)


def token_header(server: Server, channel: str, now: float | None = None) -> dict[str, str]:
    """A pull token for ``channel``, as the site's hosts make them."""
    secret = server.settings.jwt_secret
    assert secret is not None
    return {PULL_TOKEN_HEADER: PullTokens(secret).issue(channel, now or time.time())}


@dataclass
class Pull:
    """An edge's pull as the edge sees it: the HTTP response, parsed with h11 (the
    direct route ends the body by closing, hypercorn with its last chunk)."""

    stream: trio.SocketStream
    conn: h11.Connection
    response: h11.Response

    async def body(self) -> bytes:
        """The next bytes of the body; ``b""`` once it ended."""
        while True:
            event = self.conn.next_event()
            if isinstance(event, h11.Data):
                return bytes(event.data)
            if isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                return b""
            self.conn.receive_data(await self.stream.receive_some(65536))


async def open_pull(server: Server, channel: str) -> Pull:
    """An edge's pull of ``channel`` with a valid token, on a connection of its own as
    an edge opens it (a kept-alive connection that carried other requests is
    hypercorn's for good), once the response head arrived."""
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    stream = await trio.open_tcp_stream(host, int(port))
    conn = h11.Connection(h11.CLIENT)
    request = h11.Request(
        method="GET",
        target=pull_url(server.url, channel).removeprefix(server.url),
        headers=[("host", "origin"), *token_header(server, channel).items()],
    )
    try:
        await stream.send_all(conn.send(request) + conn.send(h11.EndOfMessage()))
        while (event := conn.next_event()) is h11.NEED_DATA:
            conn.receive_data(await stream.receive_some(65536))
    except BaseException:
        await stream.aclose()
        raise
    assert isinstance(event, h11.Response), event
    return Pull(stream, conn, event)


async def first_request(server: Server, channel: str, headers: dict[str, str]) -> httpx.Response:
    """A pull of ``channel`` that is refused, on a new connection (its first request:
    one that ``trioflix serve`` looks at before hypercorn)."""
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.get(pull_url(server.url, channel), headers=headers)


def sample(server: Server, name: str) -> float:
    value = server.app.trioflix.metrics.registry.get_sample_value(name)
    return value or 0.0


async def test_a_pull_is_refused_without_a_valid_token_and_counted_with_one(
    server: Server, nursery: trio.Nursery, request: pytest.FixtureRequest
) -> None:
    await live_channel(server, nursery, "carol")
    now = time.time()
    refused = {
        "no token": {},
        "garbage": {PULL_TOKEN_HEADER: "not-a-token"},
        "another secret": {PULL_TOKEN_HEADER: PullTokens("x" * 40).issue("carol", now)},
        "another channel": token_header(server, "bob", now),
        "expired": token_header(server, "carol", now - 120),
    }
    for case, headers in refused.items():
        with trio.fail_after(10):  # a pull let through would stream forever
            response = await first_request(server, "carol", headers)
        assert response.status_code == 403, case
        assert response.json()["error"]["code"] == "pull_refused", case
    response = await first_request(server, "nobody", token_header(server, "nobody"))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_live"
    assert sample(server, "trioflix_internal_pulls_opened_total") == 0

    live = server.app.trioflix.registry.get("carol")
    assert live is not None
    pull = await open_pull(server, "carol")
    async with pull.stream:
        answered = dict(pull.response.headers)
        assert pull.response.status_code == 200
        assert answered[b"content-type"] == b"video/x-flv"
        assert answered[b"x-trioflix-session-id"] == str(live.session_id).encode()
        assert (await pull.body()).startswith(b"FLV\x01")
        assert sample(server, "trioflix_internal_pulls") == 1
        # ``trioflix serve`` holds the pull on the socket itself: hypercorn never saw it.
        expected_direct = 1 if request.node.callspec.params["server"] == "direct" else 0
        assert server.app.trioflix.direct_connections == expected_direct
        assert await pull.body()  # media flows
    await wait_until(lambda: sample(server, "trioflix_internal_pulls") == 0)
    assert sample(server, "trioflix_internal_pulls_opened_total") == 1


async def test_a_pull_ends_when_the_origin_lease_is_lost(
    server: Server, nursery: trio.Nursery, redis_server: RedisServer
) -> None:
    await live_channel(server, nursery, "dave")
    pull = await open_pull(server, "dave")
    async with pull.stream:
        assert pull.response.status_code == 200
        await trio.to_thread.run_sync(redis_server.stop)  # no lease refresh gets through
        with trio.fail_after(LEASE_LOSS_LIMIT_S):
            while await pull.body():
                pass
    registry = server.app.trioflix.registry
    assert registry.origin_epoch("dave") is None
    assert registry.get("dave") is not None  # still live here, for this host's viewers
    response = await first_request(server, "dave", token_header(server, "dave"))
    assert response.status_code == 404
    await wait_until(lambda: sample(server, "trioflix_internal_pulls") == 0)
