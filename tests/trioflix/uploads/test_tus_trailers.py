"""tus checksum-trailer: ``Upload-Checksum`` after a chunked body, sent with h11 by hand.

``trioflix serve`` reads them on any HTTP/1.1 connection: its direct tus route
(trioflix.direct.tus) on connections that open with a tus request, and hypercorn
with trioflix.asgi_internals on the others (a kept-alive connection whose first
request was not a tus one). Plain hypercorn cannot, and there the extension is
not offered.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from typing import TYPE_CHECKING

import httpx
import pytest

from .helpers import STREAM, TUS, V, auth, connect, head

if TYPE_CHECKING:
    from tests.conftest import Server


def _checksum(algorithm: str, data: bytes) -> str:
    return f"{algorithm} {base64.b64encode(hashlib.new(algorithm, data).digest()).decode()}"


async def test_checksum_trailer_on_a_kept_alive_connection(server: Server) -> None:
    token, _ = await server.register("alice")
    data = os.urandom(600_000)
    first, second = data[:250_000], data[250_000:]
    async with connect(server) as client:
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
    async with connect(server) as client:
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
    async with connect(server) as client:
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
