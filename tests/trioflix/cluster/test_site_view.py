"""One view of the site on the rig: every host lists a channel live on one of them with
the same viewers and picture, a stop sent to another host ends it on its origin, and each webhook
event reaches the receiver once, not once per host."""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import trio

from tests.ports import free_port
from tests.trioflix.chat.helpers import chat
from trioflix.cluster.site import MEMBER_TTL_S

from .conftest import running_rig
from .test_rig import SLACK_S, create_key, publish, sign_up, wait_origin

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.conftest import PostgresCluster
    from tests.interop.media import Sample

    from .rig import Rig, RigHost

pytestmark = pytest.mark.slow

WEBHOOK_SECRET = "webhook-secret-" + "w" * 32


class Receiver(ThreadingHTTPServer):
    """Counts the webhook POSTs it receives, by event, keeps their bodies, and accepts
    each one."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", free_port()), _Count)
        self.events: Counter[str] = Counter()
        self.bodies: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"

    def ends(self, session_id: int) -> list[dict[str, Any]]:
        """The ``publish.end`` events received for the session."""
        with self.lock:
            return [
                body
                for body in self.bodies
                if body["event"] == "publish.end" and body["session_id"] == session_id
            ]


class _Count(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.server.lock:
            self.server.events[body["event"]] += 1
            self.server.bodies.append(body)
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def site_rig(
    pg_cluster: PostgresCluster, tmp_path_factory: pytest.TempPathFactory, receiver: Receiver
) -> Iterator[Rig]:
    """The rig, every host telling ``receiver`` of live events."""
    with running_rig(
        pg_cluster,
        tmp_path_factory,
        TRIOFLIX_WEBHOOK_URLS=receiver.url,
        TRIOFLIX_WEBHOOK_SECRET=WEBHOOK_SECRET,
    ) as site:
        yield site


async def get(host: RigHost, path: str, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(f"{host.url}{path}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def thumbnail(host: RigHost) -> bytes:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(f"{host.url}/live/alice/thumbnail.jpg")
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "image/jpeg"
    return response.content


async def site_view(host: RigHost, token: str) -> tuple[Any, ...]:
    """What ``host`` says of alice's channel, less what depends on who asks or when."""
    listed = [
        (entry["name"], entry["title"], entry["started_at"], entry["viewers"])
        for entry in (await get(host, "/api/channels"))["channels"]
    ]
    channel = await get(host, "/api/channels/alice")
    status = await get(host, "/api/streaming/status", token)
    ingest = status["ingest"] or {}  # its counters move on: what the encoder sends
    return (
        listed,
        (channel["state"], channel["live"], channel["session"]["id"], channel["viewers"]),
        (status["state"], status["session"]["id"], status["viewers"]),
        (ingest.get("video_codec"), ingest.get("width"), ingest.get("height")),
    )


async def test_every_host_gives_one_view_and_a_stop_on_any_host_ends_it_on_the_origin(
    site_rig: Rig, receiver: Receiver, sample: Sample, nursery: trio.Nursery
) -> None:
    a, b, c = site_rig.hosts
    token = await sign_up(b, "alice")
    key = await create_key(c, token)
    encoder = await publish(nursery, a, key, sample)
    with trio.fail_after(30):
        await wait_origin(site_rig, "alice", a)

    # HTTP-FLV viewers until the stream ends, on the origin and on another host (which
    # relays the channel from the origin): every host counts both.
    async def watch(host: RigHost, task_status: trio.TaskStatus[None]) -> None:
        async with (
            httpx.AsyncClient(timeout=30) as client,
            client.stream("GET", f"{host.url}/live/alice.flv") as response,
        ):
            assert response.status_code == 200
            task_status.started()
            async for _ in response.aiter_bytes():
                pass

    async def agreed_views(http_flv: int) -> list[tuple[Any, ...]]:
        with trio.fail_after(MEMBER_TTL_S + SLACK_S + 10):
            while True:
                views = [await site_view(host, token) for host in (a, b, c)]
                if views[0][2][2]["http-flv"] == http_flv and views.count(views[0]) == 3:
                    return views
                await trio.sleep(0.1)

    await nursery.start(watch, a)
    await agreed_views(1)
    await nursery.start(watch, b)
    views = await agreed_views(2)
    listed, channel, status, ingest = views[0]
    assert [(name, viewers) for name, _, _, viewers in listed] == [("alice", 2)]
    assert channel[:2] == ("live", True)
    assert status[0] == "live"
    assert status[2]["total"] == 2
    assert ingest[1:] == (640, 360), ingest  # the sample's picture, told by every host
    # The same picture from every host: the origin's, which the others fetch. A new
    # keyframe may come between two fetches: then ask again.
    with trio.fail_after(30):
        while len(pictures := {await thumbnail(host) for host in (a, b, c)}) != 1:  # noqa: ASYNC110
            await trio.sleep(0.5)
    assert pictures.pop().startswith(b"\xff\xd8")  # a JPEG
    # The chat on another host pushes the same counts.
    async with chat(c.url, "alice") as (_, welcome):
        assert welcome["live_viewers"] == status[2]

    # A stop sent to a host that is not the origin ends the stream on the origin.
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            f"{b.url}/api/streaming/stop", headers={"Authorization": f"Bearer {token}"}
        )
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "offline"
    assert response.json()["session"]["state"] == "ended"
    with trio.fail_after(SLACK_S + 5):
        await encoder.wait()  # the origin dropped the encoder before the stop was answered
        await wait_origin(site_rig, "alice", None)
    for host in (a, b, c):
        assert (await get(host, "/api/channels"))["channels"] == []
        assert (await get(host, "/api/channels/alice"))["state"] == "ended"
        # Every host refuses the encoder now, whichever the balancer sends it to.
        stopped = (await get(host, "/api/streaming/status", token))["stopped"]
        assert stopped["reason"] == "stream ended by the streamer"

    # Each event once for the site: the origin's publish, the two viewers (the other
    # host's pull is not a viewer of the origin).
    expected = {"publish.start": 1, "play.start": 2, "play.end": 2, "publish.end": 1}
    with trio.fail_after(SLACK_S + 5):
        while dict(receiver.events) != expected:  # noqa: ASYNC110 (deliveries are queued)
            await trio.sleep(0.1)
    await trio.sleep(1)  # nothing more arrives from the other hosts
    assert dict(receiver.events) == expected


async def test_a_stop_token_is_needed_to_stop_a_channel_from_outside(site_rig: Rig) -> None:
    a = site_rig.hosts[0]
    async with httpx.AsyncClient(timeout=10) as client:
        forged = await client.post(
            f"{a.url}/internal/stop/alice", headers={"X-Trioflix-Site-Token": "x.1.y"}
        )
    assert forged.status_code == 403
    assert "pull token refused (malformed)" in forged.json()["error"]["message"]
