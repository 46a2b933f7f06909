"""A PATCH whose body stops arriving is answered 408 and keeps the bytes that came."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import h11
import pytest
import trio

from trioflix.uploads import transfer

from .helpers import create, head, raw_patch_start

if TYPE_CHECKING:
    from tests.conftest import Server

SHORT_IDLE_S = 0.5


def test_the_body_idle_timeout_is_a_minute() -> None:
    """The value docs/uploads.md and the upload client's retry policy rely on."""
    assert transfer.BODY_IDLE_TIMEOUT_S == 60.0


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("server", ["direct", "asgi"], indirect=True)
async def test_a_silent_body_is_answered_408_and_keeps_what_came(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same code path as the 60 s default, without a minute of waiting.
    monkeypatch.setattr(transfer, "BODY_IDLE_TIMEOUT_S", SHORT_IDLE_S)
    token, _ = await server.register("alice")
    path = await create(server.tus, token, 1000)
    # Read the answer with h11, as the client that sent that request head would.
    reader = h11.Connection(h11.CLIENT)
    reader.send(
        h11.Request(
            method="PATCH", target=path, headers=[("Host", "x"), ("Content-Length", "1000")]
        )
    )
    status: int | None = None
    headers: list[tuple[bytes, bytes]] = []
    body = bytearray()
    with trio.fail_after(20):
        started = trio.current_time()
        stream = await raw_patch_start(server.settings.http, token, path, 0, 1000, b"x" * 300)
        async with stream:
            while not isinstance(event := reader.next_event(), h11.EndOfMessage):
                if event is h11.NEED_DATA:
                    reader.receive_data(await stream.receive_some())
                elif isinstance(event, h11.Response):
                    status, headers = event.status_code, list(event.headers)
                elif isinstance(event, h11.Data):
                    body.extend(event.data)
        waited = trio.current_time() - started
    assert status == 408
    # The rest of the body never came: the connection cannot carry another request.
    assert (b"connection", b"close") in headers
    assert json.loads(body)["error"]["code"] == "body_timeout"
    assert waited >= SHORT_IDLE_S
    response = await head(server.tus, token, path)
    assert response.headers["Upload-Offset"] == "300"
