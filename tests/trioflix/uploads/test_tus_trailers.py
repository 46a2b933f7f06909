"""tus checksum-trailer: ``Upload-Checksum`` after a chunked body, sent with h11 by hand.

``trioflix serve`` delivers request trailers to the app (trioflix.direct.trailers),
on any HTTP/1.1 connection, including a kept-alive one whose first request was
not a tus one; plain hypercorn cannot, and there the extension is not offered.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import h11
import httpx
import pytest
import trio

from .helpers import STREAM, TUS, V, auth, head

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from tests.conftest import Server


def _checksum(algorithm: str, data: bytes) -> str:
    return f"{algorithm} {base64.b64encode(hashlib.new(algorithm, data).digest()).decode()}"


class RawClient:
    """One kept-alive HTTP/1.1 connection; bodies are sent chunked, trailers after them."""

    def __init__(self, stream: trio.SocketStream, host: str) -> None:
        self._stream = stream
        self._host = host
        self._conn = h11.Connection(h11.CLIENT)

    async def request(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        chunks: tuple[bytes, ...] = (),
        trailers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        fields = [("Host", self._host), *headers.items()]
        if chunks or trailers is not None:
            fields.append(("Transfer-Encoding", "chunked"))
        out = self._conn.send(h11.Request(method=method, target=target, headers=fields))
        for chunk in chunks:
            out += self._conn.send(h11.Data(data=chunk))
        out += self._conn.send(h11.EndOfMessage(headers=list((trailers or {}).items())))
        await self._stream.send_all(out)
        status, response_headers, body = 0, {}, b""
        while True:
            event = self._conn.next_event()
            if event is h11.NEED_DATA:
                self._conn.receive_data(await self._stream.receive_some(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
                response_headers = {k.decode(): v.decode() for k, v in event.headers}
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
        if self._conn.their_state is h11.DONE:  # else the server closes the connection
            self._conn.start_next_cycle()
        return status, response_headers, body


@asynccontextmanager
async def _connect(server: Server) -> AsyncIterator[RawClient]:
    url = urlsplit(server.url)
    assert url.hostname is not None and url.port is not None
    async with await trio.open_tcp_stream(url.hostname, url.port) as stream:
        yield RawClient(stream, url.netloc)


async def test_checksum_trailer_on_a_kept_alive_connection(server: Server) -> None:
    token, _ = await server.register("alice")
    data = os.urandom(600_000)
    first, second = data[:250_000], data[250_000:]
    async with _connect(server) as client:
        # The connection's first request is not a tus one (the front door hands it to
        # hypercorn), as in a browser's shared connection pool.
        status, _, _ = await client.request("GET", "/healthz", {})
        assert status == 200
        status, created, _ = await client.request(
            "POST", TUS, {**V, **auth(token), "Upload-Length": str(len(data))}
        )
        assert status == 201
        path = created["location"]
        announce = {**V, **STREAM, **auth(token), "Trailer": "Upload-Checksum"}

        # A matching trailer: the bytes are kept, in pieces the size of the chunks sent.
        status, headers, _ = await client.request(
            "PATCH",
            path,
            {**announce, "Upload-Offset": "0"},
            chunks=(first[:100_000], first[100_000:]),
            trailers={"Upload-Checksum": _checksum("sha256", first)},
        )
        assert status == 204
        assert headers["upload-offset"] == str(len(first))

        # A wrong one: 460, and nothing of the body is kept.
        status, _, body = await client.request(
            "PATCH",
            path,
            {**announce, "Upload-Offset": str(len(first))},
            chunks=(second,),
            trailers={"Upload-Checksum": _checksum("md5", second[:-1] + b"x")},
        )
        assert status == 460
        assert json.loads(body)["error"]["code"] == "checksum_mismatch"

        # Announced but never sent, or malformed: 400, nothing kept either.
        for trailers, code in (
            ({}, "missing_header"),
            ({"Upload-Checksum": "sha1 !!"}, "invalid_header"),
        ):
            status, _, body = await client.request(
                "PATCH",
                path,
                {**announce, "Upload-Offset": str(len(first))},
                chunks=(second,),
                trailers=trailers,
            )
            assert status == 400
            assert json.loads(body)["error"]["code"] == code
        state = await head(server.client, token, path)
        assert state.headers["Upload-Offset"] == str(len(first))
        stored = server.settings.data_dir / "uploads" / f"{path.rsplit('/', 1)[1]}.bin"
        assert stored.read_bytes() == first

        status, headers, _ = await client.request(
            "PATCH",
            path,
            {**announce, "Upload-Offset": str(len(first))},
            chunks=(second,),
            trailers={"Upload-Checksum": _checksum("sha1", second)},
        )
        assert status == 204
        assert headers["upload-offset"] == str(len(data))


async def test_creation_with_upload_and_a_checksum_trailer(server: Server) -> None:
    token, _ = await server.register("bob")
    data = os.urandom(70_000)
    async with _connect(server) as client:
        status, headers, _ = await client.request(
            "POST",
            TUS,
            {
                **V,
                **STREAM,
                **auth(token),
                "Upload-Length": str(len(data)),
                "Trailer": "Upload-Checksum",
            },
            chunks=(data,),
            trailers={"Upload-Checksum": _checksum("sha1", data)},
        )
        assert status == 201
        assert headers["upload-offset"] == str(len(data))


@pytest.mark.parametrize("server", ["asgi"], indirect=True)
async def test_plain_hypercorn_refuses_a_checksum_trailer_before_the_body(server: Server) -> None:
    token, _ = await server.register("carol")
    response = await server.client.post(TUS, headers={**V, **auth(token), "Upload-Length": "3"})
    path = response.headers["Location"]
    async with _connect(server) as client:
        status, _, body = await client.request(
            "PATCH",
            path,
            {**V, **STREAM, **auth(token), "Upload-Offset": "0", "Trailer": "Upload-Checksum"},
            chunks=(b"abc",),
            trailers={"Upload-Checksum": _checksum("sha1", b"abc")},
        )
        assert status == 400
        assert json.loads(body)["error"]["code"] == "extension_not_supported"
        assert (await head(server.client, token, path)).headers["Upload-Offset"] == "0"


async def test_http2_cannot_carry_a_checksum_trailer(server: Server) -> None:
    # hypercorn ignores HTTP/2 trailer frames: the server says so instead of guessing.
    token, _ = await server.register("dave")
    response = await server.client.post(TUS, headers={**V, **auth(token), "Upload-Length": "3"})
    path = response.headers["Location"]
    async with httpx.AsyncClient(base_url=server.url, http1=False, http2=True) as h2:
        response = await h2.patch(
            path,
            content=b"abc",
            headers={
                **V,
                **STREAM,
                **auth(token),
                "Upload-Offset": "0",
                "Trailer": "Upload-Checksum",
            },
        )
    assert response.http_version == "HTTP/2"
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "extension_not_supported"
    assert (await head(server.client, token, path)).headers["Upload-Offset"] == "0"
