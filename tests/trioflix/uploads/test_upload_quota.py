"""Per-user upload limits, as tuspy meets them: 429 past the bytes in flight, 413 past the quota."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import pytest
import trio
from tusclient import client as tus_client
from tusclient.exceptions import TusCommunicationError

from .helpers import TUS, V, auth

if TYPE_CHECKING:
    from tests.conftest import Server

KIB = 1024
IN_FLIGHT = 1024 * KIB
QUOTA = 1536 * KIB
SIZE = 800 * KIB

# Both databases: the usage is one SQL aggregate.
pytestmark = pytest.mark.settings(upload_in_flight=IN_FLIGHT, upload_quota=QUOTA)


def tuspy_upload(server: Server, token: str, *, stop_at: int | None = None) -> str:
    """tuspy uploads SIZE bytes (up to ``stop_at``); the upload's URL."""
    client = tus_client.TusClient(server.url + TUS, headers=auth(token))
    uploader = client.uploader(file_stream=io.BytesIO(b"x" * SIZE), chunk_size=256 * KIB)
    uploader.upload(stop_at=stop_at)
    return str(uploader.url)


async def refused(server: Server, token: str) -> TusCommunicationError:
    with pytest.raises(TusCommunicationError) as caught:
        await trio.to_thread.run_sync(tuspy_upload, server, token)
    return caught.value


async def test_bytes_in_flight_then_the_quota(server: Server) -> None:
    token, _ = await server.register("alice")
    started = await trio.to_thread.run_sync(lambda: tuspy_upload(server, token, stop_at=256 * KIB))
    # A second upload would put 1600 KiB in flight.
    assert (await refused(server, token)).status_code == 429
    answer = await server.tus.post(TUS, headers={**V, **auth(token), "Upload-Length": str(SIZE)})
    assert answer.status_code == 429
    assert answer.json()["error"]["code"] == "too_many_uploads"
    assert answer.headers["Tus-Resumable"] == "1.0.0"
    assert int(answer.headers["Retry-After"]) > 0

    # Once the first is finished, it counts as stored: 800 + 800 KiB passes the quota.
    await trio.to_thread.run_sync(
        lambda: (
            tus_client.TusClient(server.url + TUS, headers=auth(token))
            .uploader(file_stream=io.BytesIO(b"x" * SIZE), url=started, chunk_size=256 * KIB)
            .upload()
        )
    )
    assert (await refused(server, token)).status_code == 413
    answer = await server.tus.post(TUS, headers={**V, **auth(token), "Upload-Length": str(SIZE)})
    assert answer.json()["error"]["code"] == "quota_exceeded"
    # A smaller one still fits.
    answer = await server.tus.post(
        TUS, headers={**V, **auth(token), "Upload-Length": str(QUOTA - SIZE)}
    )
    assert answer.status_code == 201

    # Another user has a quota of their own.
    other, _ = await server.register("bob")
    await trio.to_thread.run_sync(tuspy_upload, server, other)
