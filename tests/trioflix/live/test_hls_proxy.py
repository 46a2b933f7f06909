"""The edge's HLS proxy against a real HTTP origin on a socket: one upstream fetch for many
players at once, answers kept as long as asked and within the cache's bound, the
origin's headers passed on, players waiting on one channel bounded, and a dead, slow or
misbehaving origin refused fast."""

from __future__ import annotations

from functools import partial

import h11
import pytest
import trio

from tests.ports import free_port
from trioflix.live.edge.hls_proxy import MAX_OBJECT_BYTES, HLSProxy, OriginUnavailable

SEGMENT = b"\x47" * 188 * 50
HEADERS = [
    ("Content-Type", "video/mp2t"),
    ("Cache-Control", "public, max-age=3600, immutable"),
    ("Access-Control-Allow-Origin", "*"),
    ("X-Internal", "not passed on"),
]


class Origin:
    """An HTTP/1.1 server that counts requests by path; ``/slow`` never answers."""

    def __init__(self) -> None:
        self.requests: dict[str, int] = {}
        self.headers: list[dict[bytes, bytes]] = []
        self.gate = trio.Event()  # answers wait for it (set: at once)
        self.gate.set()

    async def handle(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await stream.receive_some(65536))
                continue
            break
        assert isinstance(event, h11.Request)
        path = event.target.decode()
        self.requests[path] = self.requests.get(path, 0) + 1
        self.headers.append(dict(event.headers))
        if path == "/slow":
            await trio.sleep_forever()
        await self.gate.wait()
        status, body, headers = 200, SEGMENT, HEADERS
        if path.startswith("/missing"):
            status, body = 404, b'{"error": "not_found"}'
            headers = [("Content-Type", "application/json")]
        elif path == "/huge":
            body = b"\0" * (MAX_OBJECT_BYTES + 1)
        elif path.startswith("/sized/"):
            body = b"\0" * int(path.rsplit("/", 1)[1])
        wire = conn.send(
            h11.Response(
                status_code=status,
                headers=[*headers, ("Content-Length", str(len(body))), ("Connection", "close")],
            )
        )
        assert wire is not None
        try:
            await stream.send_all(wire + body)
        except trio.BrokenResourceError:
            assert path == "/huge"  # refused from its length: the proxy hung up
        await stream.aclose()


@pytest.fixture
async def origin(nursery: trio.Nursery) -> tuple[Origin, str]:
    server = Origin()
    listeners = await nursery.start(partial(trio.serve_tcp, server.handle, 0, host="127.0.0.1"))
    port = listeners[0].socket.getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


async def start_proxy(nursery: trio.Nursery, **kwargs: int) -> HLSProxy:
    proxy = HLSProxy(**kwargs)
    await nursery.start(proxy.run)
    return proxy


async def get(proxy: HLSProxy, url: str, keep_s: float = 60.0, limit_s: float = 10.0) -> bytes:
    fetched = await proxy.get(
        url, channel="ch", keep_s=keep_s, limit_s=limit_s, headers={"X-Token": "t"}
    )
    return fetched.body


@pytest.mark.slow
async def test_fifty_players_at_once_cost_one_fetch(
    origin: tuple[Origin, str], nursery: trio.Nursery
) -> None:
    server, url = origin
    proxy = await start_proxy(nursery)
    server.gate = trio.Event()  # the origin answers once every player is waiting
    bodies: list[bytes] = []

    async def player() -> None:
        bodies.append(await get(proxy, f"{url}/seg-1.ts"))

    with trio.fail_after(20):
        async with trio.open_nursery() as players:
            for _ in range(50):
                players.start_soon(player)
            while server.requests.get("/seg-1.ts") is None:  # noqa: ASYNC110 (the origin's count)
                await trio.sleep(0.01)
            await trio.testing.wait_all_tasks_blocked()
            server.gate.set()
    assert bodies == [SEGMENT] * 50
    assert server.requests == {"/seg-1.ts": 1}
    assert server.headers[0][b"x-token"] == b"t"
    # Kept: later players are answered from the cache.
    assert await get(proxy, f"{url}/seg-1.ts") == SEGMENT
    assert server.requests == {"/seg-1.ts": 1}
    assert proxy.fetches == 1


@pytest.mark.slow
async def test_the_origins_answer_is_passed_on_and_kept_as_long_as_asked(
    origin: tuple[Origin, str], nursery: trio.Nursery
) -> None:
    server, url = origin
    proxy = await start_proxy(nursery)
    fetched = await proxy.get(f"{url}/index.m3u8", channel="ch", keep_s=0.2, limit_s=10, headers={})
    assert (fetched.status, fetched.body) == (200, SEGMENT)
    assert dict(fetched.headers) == {
        "content-type": "video/mp2t",
        "cache-control": "public, max-age=3600, immutable",
        "access-control-allow-origin": "*",
    }
    await get(proxy, f"{url}/index.m3u8", keep_s=0.2)
    assert server.requests["/index.m3u8"] == 1
    await trio.sleep(0.3)  # past what the caller asked to keep
    await get(proxy, f"{url}/index.m3u8", keep_s=0.2)
    assert server.requests["/index.m3u8"] == 2

    # The origin's 404 is passed on, not kept.
    for _ in range(2):
        missing = await proxy.get(
            f"{url}/missing.ts", channel="ch", keep_s=60, limit_s=10, headers={}
        )
        assert (missing.status, missing.body) == (404, b'{"error": "not_found"}')
        assert missing.headers == {"content-type": "application/json"}
    assert server.requests["/missing.ts"] == 2


@pytest.mark.slow
async def test_players_waiting_on_one_channel_are_bounded(
    origin: tuple[Origin, str], nursery: trio.Nursery
) -> None:
    server, url = origin
    proxy = await start_proxy(nursery, max_waiters=3)
    server.gate = trio.Event()  # blocking requests: the origin holds them
    bodies: list[bytes] = []

    async def player(path: str, channel: str) -> None:
        fetched = await proxy.get(f"{url}{path}", channel=channel, keep_s=0, limit_s=10, headers={})
        bodies.append(fetched.body)

    with trio.fail_after(20):
        async with trio.open_nursery() as players:
            # Three of one channel wait, on two fetches; a fourth is refused at once,
            # another channel's is not.
            for path in ("/ll.m3u8?_HLS_msn=5", "/ll.m3u8?_HLS_msn=5", "/part.m4s"):
                players.start_soon(player, path, "ch")
            await trio.testing.wait_all_tasks_blocked()
            with pytest.raises(OriginUnavailable) as refused:
                await proxy.get(f"{url}/part.m4s", channel="ch", keep_s=0, limit_s=10, headers={})
            assert (refused.value.status, refused.value.code) == (503, "too_many_waiters")
            players.start_soon(player, "/ll.m3u8?_HLS_msn=5", "other")
            await trio.testing.wait_all_tasks_blocked()
            server.gate.set()
    assert bodies == [SEGMENT] * 4
    assert server.requests == {"/ll.m3u8?_HLS_msn=5": 1, "/part.m4s": 1}
    # Once they are answered, the channel's players may wait again.
    server.gate = trio.Event()
    server.gate.set()
    assert await get(proxy, f"{url}/part.m4s") == SEGMENT


@pytest.mark.slow
async def test_the_cache_keeps_within_its_bound(
    origin: tuple[Origin, str], nursery: trio.Nursery
) -> None:
    server, url = origin
    proxy = await start_proxy(nursery, max_cache_bytes=1000)
    await get(proxy, f"{url}/sized/400")
    await get(proxy, f"{url}/sized/300")
    await get(proxy, f"{url}/sized/400")  # kept, and the most recently used now
    await get(proxy, f"{url}/sized/500")  # 400 + 300 + 500 > 1000: the 300 goes
    await get(proxy, f"{url}/sized/300")  # fetched again; the 400 goes
    assert server.requests == {"/sized/400": 1, "/sized/300": 2, "/sized/500": 1}
    # Larger than the whole cache: never kept, and the others stay.
    await get(proxy, f"{url}/sized/1001")
    await get(proxy, f"{url}/sized/1001")
    await get(proxy, f"{url}/sized/500")
    await get(proxy, f"{url}/sized/300")
    assert server.requests == {
        "/sized/400": 1,
        "/sized/300": 2,
        "/sized/500": 1,
        "/sized/1001": 2,
    }


@pytest.mark.slow
async def test_a_dead_slow_or_misbehaving_origin_is_refused_fast(
    origin: tuple[Origin, str], nursery: trio.Nursery
) -> None:
    _, url = origin
    proxy = await start_proxy(nursery)
    with trio.fail_after(5), pytest.raises(OriginUnavailable) as dead:
        await get(proxy, f"http://127.0.0.1:{free_port()}/seg-1.ts")
    assert (dead.value.status, dead.value.code) == (502, "origin_unreachable")

    start = trio.current_time()
    with trio.fail_after(5), pytest.raises(OriginUnavailable) as slow:
        await get(proxy, f"{url}/slow", limit_s=0.5)
    assert (slow.value.status, slow.value.code) == (504, "origin_timeout")
    assert trio.current_time() - start < 2

    with trio.fail_after(20), pytest.raises(OriginUnavailable) as huge:
        await get(proxy, f"{url}/huge")
    assert (huge.value.status, huge.value.code) == (502, "origin_bad_answer")
