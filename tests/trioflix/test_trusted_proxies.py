"""The client behind trusted proxies: X-Forwarded-* honoured only from them.

The rule itself (:func:`trioflix.forwarded.resolve`) case by case, then a served
instance behind the nginx configuration docs/deployment.md gives: nginx connects
from 127.0.0.2, the only trusted address; its clients connect from 127.0.0.3 and
127.0.0.4, and another client straight to the instance from 127.0.0.1 (all loopback).
"""

from __future__ import annotations

import logging
from functools import partial
from typing import TYPE_CHECKING

import httpx
import pytest
import trio

from tests.api import auth
from tests.ports import free_port
from tests.trioflix.cluster.balancer import NGINX, STREAM_MODULE, Balancer
from tests.trioflix.live.rtmp_client import RTMPTestClient
from trioflix.auth.ratelimit import FailureLimiter
from trioflix.forwarded import Forwarded, resolve, trusted_networks

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import Server
    from trioflix.config import Settings

TRUSTED = trusted_networks(["10.0.0.0/8", "fd00::/8"])
FAILURES_PER_ADDRESS = 3  # the test's login throttle: each failure costs an Argon2 hash


def _headers(**fields: str) -> list[tuple[bytes, bytes]]:
    return [(name.replace("_", "-").encode(), value.encode()) for name, value in fields.items()]


@pytest.mark.parametrize(
    ("peer", "headers", "expected"),
    [
        # Nobody trusted, or an untrusted peer: the headers say nothing.
        ("203.0.113.9", _headers(x_forwarded_for="1.2.3.4", x_forwarded_proto="https"),
         Forwarded("203.0.113.9")),
        (None, _headers(x_forwarded_for="1.2.3.4"), Forwarded(None)),
        # A trusted proxy: the right-most untrusted hop; what the client wrote left of it
        # is ignored, however many trusted proxies passed it on.
        ("10.0.0.5", _headers(x_forwarded_for="6.6.6.6, 198.51.100.7, 10.1.1.1"),
         Forwarded("198.51.100.7")),
        ("10.0.0.5", [(b"X-Forwarded-For", b"6.6.6.6"), (b"x-forwarded-for", b"198.51.100.7")],
         Forwarded("198.51.100.7")),
        # Only trusted hops: the first of them is the client.
        ("10.0.0.5", _headers(x_forwarded_for="10.9.9.9, 10.1.1.1"), Forwarded("10.9.9.9")),
        # Not an address: nothing left of it is believed; the hop right of it stays.
        ("10.0.0.5", _headers(x_forwarded_for="1.2.3.4, unknown, 10.1.1.1"),
         Forwarded("10.1.1.1")),
        ("10.0.0.5", _headers(x_forwarded_for="junk"), Forwarded("10.0.0.5")),
        # IPv4 as a dual-stack socket reports it; IPv6 proxies and clients.
        ("::ffff:10.0.0.5", _headers(x_forwarded_for="198.51.100.7"), Forwarded("198.51.100.7")),
        ("fd00::1", _headers(x_forwarded_for="2001:db8::7"), Forwarded("2001:db8::7")),
        # Scheme and host: the nearest proxy's (last) value, if it is one.
        ("10.0.0.5", _headers(x_forwarded_proto="http, HTTPS", x_forwarded_host="tv.example"),
         Forwarded("10.0.0.5", "https", "tv.example")),
        ("10.0.0.5", _headers(x_forwarded_proto="gopher", x_forwarded_host="a b/c"),
         Forwarded("10.0.0.5")),
        ("10.0.0.5", _headers(x_forwarded_host="[2001:db8::1]:8443"),
         Forwarded("10.0.0.5", None, "[2001:db8::1]:8443")),
    ],
)  # fmt: skip
def test_resolve(peer: str | None, headers: list[tuple[bytes, bytes]], expected: Forwarded) -> None:
    assert resolve(peer, headers, TRUSTED) == expected
    assert resolve(peer, headers, ()) == Forwarded(peer)  # the default: trust nobody


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.replace(trusted_proxies=trusted_networks(["127.0.0.2"]))


def _client(base_url: str, local_address: str) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(local_address=local_address)
    return httpx.AsyncClient(base_url=base_url, transport=transport, timeout=30)


async def _fail_logins(client: httpx.AsyncClient, count: int, spoof: str) -> list[int]:
    statuses = []
    for i in range(count):
        response = await client.post(
            "/api/auth/login",
            json={"username": f"nobody{i}", "password": "wrong password"},
            headers={"X-Forwarded-For": spoof.format(i=i)},
        )
        statuses.append(response.status_code)
    return statuses


@pytest.mark.slow
@pytest.mark.interop
@pytest.mark.backends("sqlite", reason="what passes through the proxy, not the storage")
@pytest.mark.parametrize("server", ["direct", "asgi"], indirect=True)
@pytest.mark.settings(rtmp_key_failures=2)
async def test_behind_nginx_the_client_is_the_one_nginx_names(
    server: Server, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    if not (NGINX.exists() and STREAM_MODULE.exists()):
        pytest.skip("nginx not found (apt-get install nginx libnginx-mod-stream)")
    address = server.app.trioflix.rtmp_address
    assert address is not None
    proxy = Balancer(tmp_path / "nginx", free_port(), free_port())
    start = partial(
        proxy.start,
        http_hosts=[server.url.removeprefix("http://")],
        rtmp_hosts=[f"{address[0]}:{address[1]}"],
        http_extra="proxy_bind 127.0.0.2;",  # the trusted proxy's address
        rtmp_extra="proxy_bind 127.0.0.2; proxy_protocol on;",
    )
    await trio.to_thread.run_sync(start)
    caplog.set_level(logging.INFO, logger="trioflix.access")
    server.app.trioflix.login_addresses = FailureLimiter(limit=FAILURES_PER_ADDRESS, window_s=300)
    try:
        async with (
            _client(proxy.url, "127.0.0.3") as first,
            _client(proxy.url, "127.0.0.4") as second,
            _client(server.url, "127.0.0.1") as untrusted,
            _client(server.url, "127.0.0.2") as trusted,
        ):
            # Through nginx, a header the client made up changes nothing: each failure
            # counts against 127.0.0.3, whatever address it claims to be.
            statuses = await _fail_logins(first, FAILURES_PER_ADDRESS + 1, "192.0.2.{i}")
            assert statuses == [401] * FAILURES_PER_ADDRESS + [429]
            # Another client of the same proxy is not held back by that.
            assert await _fail_logins(second, 1, "127.0.0.3") == [401]
            # Straight to the instance, not from a proxy: the header is ignored...
            assert await _fail_logins(untrusted, 1, "127.0.0.3") == [401]
            # ...but from the trusted address it is believed.
            assert await _fail_logins(trusted, 1, "127.0.0.3") == [429]

            # The URLs handed out follow the scheme and host the trusted proxy reports.
            registered = await second.post(
                "/api/auth/register", json={"username": "alice", "password": "correct horse"}
            )
            token = registered.json()["token"]
            spoofed = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "tv.example"}
            for client, scheme, host in [
                (trusted, "https", "tv.example"),
                (untrusted, "http", server.url.removeprefix("http://")),
                (second, "http", proxy.url.removeprefix("http://")),  # nginx sets its own
            ]:
                status = await client.get(
                    "/api/streaming/status", headers={**auth(token), **spoofed}
                )
                playback = status.json()["playback"]
                assert playback["hls"] == f"{scheme}://{host}/live/alice/master.m3u8"
                assert playback["ws_flv"].startswith(("wss" if scheme == "https" else "ws") + ":")

            # A route the front door serves itself (tus) logs the same client.
            options = await first.options("/api/upload/video/tus")
            assert options.status_code == 204

            # RTMP through the stream block, with the PROXY protocol: wrong keys count
            # against the encoder's address, not nginx's.
            key = await server.create_key(token)
            rtmp = ("127.0.0.1", proxy.rtmp_port)
            for attempt in range(2):
                with pytest.raises(PermissionError):
                    await _publish(rtmp, "127.0.0.3", f"live_wrong{attempt}")
            with pytest.raises(PermissionError, match="too many wrong stream keys"):
                await _publish(rtmp, "127.0.0.3", key)
            await (await _publish(rtmp, "127.0.0.4", key)).aclose()
    finally:
        await trio.to_thread.run_sync(proxy.stop)
    logged = {(r.getMessage(), getattr(r, "client", None)) for r in caplog.records}
    assert ("OPTIONS /api/upload/video/tus 204", "127.0.0.3") in logged
    assert ("POST /api/auth/register 201", "127.0.0.4") in logged
    assert ("GET /api/streaming/status 200", "127.0.0.1") in logged


async def _publish(
    address: tuple[str, int], source: str, key: str, header: bytes = b""
) -> RTMPTestClient:
    """Publish ``key`` over RTMP to ``address`` from ``source``, after ``header`` (a PROXY
    line, or none); raises PermissionError if refused."""
    sock = trio.socket.socket()
    await sock.bind((source, 0))
    await sock.connect(address)
    stream = trio.SocketStream(sock)
    client = RTMPTestClient(stream)
    try:
        with trio.fail_after(10):
            await stream.send_all(header)
            await client.publish(key)
    except BaseException:
        await client.aclose()
        raise
    return client


def _proxy_line(client: str) -> bytes:
    return f"PROXY TCP4 {client} 127.0.0.1 40000 1935\r\n".encode()


@pytest.mark.backends("sqlite", reason="what the RTMP listener reads, not the storage")
@pytest.mark.settings(rtmp_key_failures=2)
async def test_rtmp_key_guesses_count_the_client_a_proxy_protocol_line_names(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="trioflix.live.rtmp.server")
    rtmp = server.app.trioflix.rtmp_address
    assert rtmp is not None
    token, _ = await server.register("alice")
    key = await server.create_key(token)
    # From the trusted proxy (127.0.0.2), two wrong keys of the client it names throttle
    # that client: even the right key is refused, and the refusal names the client.
    for attempt in range(2):
        with pytest.raises(PermissionError):
            await _publish(rtmp, "127.0.0.2", f"live_wrong{attempt}", _proxy_line("192.0.2.1"))
    with pytest.raises(PermissionError, match="too many wrong stream keys"):
        await _publish(rtmp, "127.0.0.2", key, _proxy_line("192.0.2.1"))
    assert any(
        "too many wrong stream keys from 192.0.2.1" in r.getMessage() for r in caplog.records
    )
    # Another client of the same proxy, and the proxy's host itself, are not held back.
    await (await _publish(rtmp, "127.0.0.2", key, _proxy_line("192.0.2.2"))).aclose()
    await (await _publish(rtmp, "127.0.0.2", key, b"")).aclose()
    # From anywhere else a PROXY line is no RTMP handshake: the connection is refused.
    with pytest.raises(trio.BrokenResourceError):
        await _publish(rtmp, "127.0.0.1", key, _proxy_line("192.0.2.2"))
    # A trusted peer's line that is not one ends that connection only.
    with pytest.raises(trio.BrokenResourceError):
        await _publish(rtmp, "127.0.0.2", key, b"PROXY TCP4 nonsense\r\n")
    assert any("bad PROXY protocol header" in r.getMessage() for r in caplog.records)
