"""LL-HLS on the front door's sockets: a player's connection that opens with LL-HLS
requests stays with the direct route (hypercorn never sees it), carries pipelined
blocking reloads and parts, and answers errors exactly as the ASGI route does.

Raw sockets, so that what connection a request goes on is the test's choice: the
front door serves a connection directly only while every request on it has a
direct route, and a connection that opened with an API call is hypercorn's.
"""

from __future__ import annotations

import signal
from contextlib import contextmanager
from typing import TYPE_CHECKING

import h11
import pytest
import trio

from tests.h11_reader import read_response
from tests.llhls_checker import History
from tests.waiting import wait_until

from .helpers import go_live

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.conftest import Server
    from tests.interop.media import Sample

pytestmark = [pytest.mark.slow, pytest.mark.interop]

SAMPLE_SECONDS = 8
ANSWER_LIMIT_S = 30.0  # a blocking reload takes at most three target durations


class Connection:
    """One kept-alive HTTP/1.1 connection; requests may be pipelined."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self._h11 = h11.Connection(h11.CLIENT)

    async def send(self, *targets: str, rid: str = "") -> None:
        """Send GET requests for ``targets`` in one write, before any answer."""
        extra = f"X-Request-ID: {rid}\r\n" if rid else ""
        await self.stream.send_all(
            b"".join(f"GET {t} HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode() for t in targets)
        )

    async def answer(self) -> tuple[int, dict[str, str], bytes]:
        """The next answer: status, headers (lower-case names) and body."""
        conn = self._h11
        if conn.our_state is h11.DONE:
            conn.start_next_cycle()
        # The request went out already: h11 only follows the exchange.
        conn.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
        conn.send(h11.EndOfMessage())
        with trio.fail_after(ANSWER_LIMIT_S):
            return await read_response(conn, self.stream)

    async def get(self, target: str, rid: str = "") -> tuple[int, dict[str, str], bytes]:
        await self.send(target, rid=rid)
        return await self.answer()


@contextmanager
def paused(process: trio.Process) -> Iterator[None]:
    """The publisher stopped (SIGSTOP) while the block runs: its stream stalls, live."""
    process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        process.send_signal(signal.SIGCONT)


async def _connect(server: Server) -> Connection:
    host, port = server.url.removeprefix("http://").split(":")
    return Connection(await trio.open_tcp_stream(host, int(port)))


async def test_blocking_reloads_and_parts_on_one_direct_connection(
    server: Server, sample: Sample, nursery: trio.Nursery
) -> None:
    alice = await go_live(nursery, server, sample.path, loops=1)
    app = server.app.trioflix
    player = await _connect(server)
    status, _, _ = await player.get("/live/alice/master-ll.m3u8")
    assert status == 200
    base = "/live/alice/source/"
    history = History()
    status, headers, body = await player.get(base + "ll.m3u8")
    assert status == 200 and headers["content-type"] == "application/vnd.apple.mpegurl"
    playlist = history.add(body.decode())
    last = playlist.last_part
    assert last is not None and playlist.hint is not None
    msn, part = last

    # Two blocking reloads and the hinted part, pipelined: answered in order, each
    # when the part it asks for exists.
    await player.send(
        f"{base}ll.m3u8?_HLS_msn={msn}&_HLS_part={part + 1}",
        f"{base}ll.m3u8?_HLS_msn={msn}&_HLS_part={part + 2}&_HLS_skip=YES",
        base + playlist.hint,
    )
    for wanted in (1, 2):
        status, _, body = await player.answer()
        assert status == 200, body
        newest = history.add(body.decode()).last_part
        assert newest is not None and newest >= (msn, part + wanted)
    status, headers, body = await player.answer()
    assert status == 200 and headers["content-type"] == "video/mp4" and body[4:8] == b"moof"
    # Its reloads count it as a viewer, as the ASGI route's do.
    live = app.registry.get("alice")
    assert live is not None and live.viewers_by_protocol().get("hls") == 1

    # Held while nothing comes: the wait is on the front door's socket (a connection
    # hypercorn serves is not counted there), then the 503 of three target durations.
    await wait_until(lambda: app.direct_connections == 0)  # done with the answers sent
    with paused(alice.publisher):
        newest = history.add((await player.get(base + "ll.m3u8"))[2].decode()).last_part
        assert newest is not None
        await player.send(f"{base}ll.m3u8?_HLS_msn={newest[0] + 2}&_HLS_part=0")
        await wait_until(lambda: app.direct_connections == 1)
        status, headers, body = await player.answer()
    assert status == 503 and b'"not_yet"' in body, body
    assert headers["access-control-allow-origin"] == "*"
    # The connection goes on once the stream does.
    status, _, body = await player.get(f"{base}ll.m3u8?_HLS_msn={newest[0] + 2}&_HLS_part=0")
    assert status == 200, body
    await player.stream.aclose()
    metrics = (await server.client.get("/metrics")).text
    assert 'route="/live/<channel>/<rendition>/ll.m3u8"' in metrics


async def test_direct_answers_are_the_asgi_routes_answers(
    server: Server, sample: Sample, nursery: trio.Nursery
) -> None:
    await go_live(nursery, server, sample.path, channel="bob")
    direct = await _connect(server)
    assert (await direct.get("/live/bob/master-ll.m3u8"))[0] == 200
    # A connection that opens with an API call is hypercorn's from then on.
    asgi = await _connect(server)
    assert (await asgi.get("/healthz"))[0] == 200
    playlist = History().add((await direct.get("/live/bob/source/ll.m3u8"))[2].decode())
    assert playlist.segments and playlist.segments[0].map_uri is not None
    base = "/live/bob/source/"
    for target, status in [
        (base + playlist.segments[0].map_uri, 200),
        (base + "ll.m3u8?_HLS_msn=x", 400),
        (base + "ll.m3u8?_HLS_part=1", 400),
        (base + "ll.m3u8?_HLS_skip=maybe", 400),
        (f"{base}ll.m3u8?_HLS_msn={playlist.media_sequence + 40}", 400),
        ("/live/bob/720p/ll.m3u8", 404),
        ("/live/bob/nope/ll.m3u8", 404),
        ("/live/nobody/master-ll.m3u8", 404),
        ("/live/nobody/source/ll.m3u8", 404),
        (base + "ll-999999999-0.0.m4s", 404),
    ]:
        served = [await conn.get(target, rid="same-id") for conn in (direct, asgi)]
        (got, headers, body), (_, asgi_headers, asgi_body) = served
        assert got == status, (target, body)
        assert served[0][0] == served[1][0] and body == asgi_body, target
        headers.pop("date")
        asgi_headers.pop("date")
        assert headers == asgi_headers, target
    await direct.stream.aclose()
    await asgi.stream.aclose()
