"""``trioflix serve``'s direct tus route: what the socket-level transport must get right.

The tus behaviour itself is tested over both transports (test_tus_protocol.py,
test_tus_resilience.py); here: request after request on one connection, the
hand-over to hypercorn at the first other request, ``Expect: 100-continue``,
early answers to requests whose body is not read, and shutdown mid-body.
"""

from __future__ import annotations

import json
import os
from functools import partial
from typing import TYPE_CHECKING

import httpx
import trio

from tests.waiting import wait_until
from trioflix.app import create_app
from trioflix.server import serve_app

from .helpers import (
    STREAM,
    TUS,
    V,
    auth,
    connect,
    create,
    head,
    raw_patch_start,
    stored_size,
)

if TYPE_CHECKING:
    from tests.conftest import Server
    from trioflix.config import Settings


async def test_tus_requests_are_served_directly_until_another_request(server: Server) -> None:
    token, _ = await server.register("alice")
    data = os.urandom(300_000)
    seen: list[int] = []

    async def note_direct_connections() -> None:
        # Mid-body: a direct request holds a direct connection; one through hypercorn does not.
        await trio.sleep(0.1)
        seen.append(server.app.trioflix.direct_connections)

    def patch_from(offset: int, end: int) -> dict[str, str]:
        return {
            **V,
            **STREAM,
            **auth(token),
            "Upload-Offset": str(offset),
            "Content-Length": str(end - offset),
        }

    async with connect(server) as client:
        status, created, _ = await client.request(
            "POST", TUS, {**V, **auth(token), "Upload-Length": str(len(data))}
        )
        assert status == 201
        assert created["x-request-id"] and created["date"]
        path = created["location"]
        status, patched, _ = await client.request(
            "PATCH",
            path,
            patch_from(0, 100_000),
            chunks=(data[:50_000], data[50_000:100_000]),
            between=note_direct_connections,
        )
        assert (status, patched["upload-offset"]) == (204, "100000")
        assert (await client.request("GET", "/healthz", {}))[0] == 200
        # From here the connection is hypercorn's, and tus goes on over ASGI.
        status, patched, _ = await client.request(
            "PATCH",
            path,
            patch_from(100_000, 300_000),
            chunks=(data[100_000:200_000], data[200_000:]),
            between=note_direct_connections,
        )
        assert (status, patched["upload-offset"]) == (204, "300000")
    assert seen == [1, 0]
    counted = await server.client.get("/metrics")
    assert 'route="/api/upload/video/tus/<upload_id>"' in counted.text


async def test_a_patch_in_progress_is_a_direct_connection(server: Server) -> None:
    token, _ = await server.register("bob")
    path = await create(server.tus, token, 1000)
    stream = await raw_patch_start(server.settings.http, token, path, 0, 1000, b"x" * 400)
    async with stream:
        with trio.fail_after(5):
            while server.app.trioflix.direct_connections != 1:  # noqa: ASYNC110
                await trio.sleep(0.01)
        await stream.send_all(b"y" * 600)
        with trio.fail_after(5):
            answer = await stream.receive_some(4096)
    assert answer.startswith(b"HTTP/1.1 204 ")
    assert b"upload-offset: 1000\r\n" in answer.lower()
    assert server.app.trioflix.direct_connections == 0


async def test_expect_100_continue_is_answered_before_the_body(server: Server) -> None:
    # curl sends Expect: 100-continue with bodies over 1 MiB and waits a second for it.
    token, _ = await server.register("carol")
    path = await create(server.tus, token, 5)
    stream = await raw_patch_start(
        server.settings.http, token, path, 0, 5, b"", expect_continue=True
    )
    async with stream:
        with trio.fail_after(5):
            interim = await stream.receive_some(4096)
        assert interim.startswith(b"HTTP/1.1 100 ")
        await stream.send_all(b"hello")
        with trio.fail_after(5):
            answer = await stream.receive_some(4096)
    assert answer.startswith(b"HTTP/1.1 204 ")


async def test_an_answer_before_the_body_closes_the_connection(server: Server) -> None:
    token, _ = await server.register("dave")
    path = await create(server.tus, token, 100_000)
    async with connect(server) as client:
        status, headers, body = await client.request(
            "PATCH",
            path,
            {**V, **STREAM, **auth(token), "Upload-Offset": "7", "Content-Length": "100000"},
            chunks=(os.urandom(100_000),),
        )
    assert status == 409
    assert headers["connection"] == "close"  # the body was never read
    assert json.loads(body)["error"]["code"] == "offset_mismatch"
    assert (await head(server.tus, token, path)).headers["Upload-Offset"] == "0"


async def test_shutdown_mid_body_keeps_the_bytes_received(settings: Settings) -> None:
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        app = create_app(settings)
        binds = await nursery.start(
            partial(serve_app, settings, app=app, shutdown_trigger=stop.wait)
        )
        async with httpx.AsyncClient(base_url=binds[0]) as client:
            registered = await client.post(
                "/api/auth/register", json={"username": "erin", "password": "correct horse"}
            )
            token = registered.json()["token"]
            path = await create(client, token, 1_000_000)
        address = binds[0].removeprefix("http://")
        stream = await raw_patch_start(address, token, path, 0, 1_000_000, b"z" * 250_000)
        async with stream:
            with trio.fail_after(5):
                while app.trioflix.direct_connections != 1:  # noqa: ASYNC110
                    await trio.sleep(0.01)
            await wait_until(lambda: stored_size(settings.data_dir, path) == 250_000)
            stop.set()
    # A server started again on the same data reports what the stopped one kept.
    async with trio.open_nursery() as nursery:
        stop = trio.Event()
        binds = await nursery.start(
            partial(serve_app, settings, app=create_app(settings), shutdown_trigger=stop.wait)
        )
        async with httpx.AsyncClient(base_url=binds[0]) as client:
            offset = (await head(client, token, path)).headers["Upload-Offset"]
        stop.set()
    assert offset == "250000"
