"""The tus server over real HTTP: every extension, every error status, ownership."""

from __future__ import annotations

import base64
import hashlib
import os
from typing import TYPE_CHECKING

import pytest

from protocols import tus

from .helpers import (
    STREAM,
    TUS,
    V,
    auth,
    create,
    finished_bytes,
    head,
    metadata,
    open_multipart_uploads,
    patch,
    upload_id,
)

if TYPE_CHECKING:
    from tests.conftest import Server

# Every test runs over trioflix serve's direct tus route and over plain hypercorn (ASGI).
pytestmark = [
    pytest.mark.parametrize("server", ["direct", "asgi"], indirect=True),
    # The bytes are checked in the store after the video may be ready: keep its source.
    pytest.mark.settings(keep_originals=True),
]
# And those that store bytes, with media on local disk and on object storage.
both_storages = pytest.mark.usefixtures("media_storage")


async def test_options_advertises_exactly_what_is_implemented(server: Server) -> None:
    # Under plain hypercorn request trailers never reach the app: no checksum-trailer.
    trailers = ["checksum-trailer"] if server.app.trioflix.request_trailers else []
    response = await server.tus.options(TUS)
    assert response.status_code == 204
    assert response.headers["Tus-Version"] == "1.0.0"
    assert response.headers["Tus-Extension"].split(",") == [
        "creation",
        "creation-with-upload",
        "creation-defer-length",
        "expiration",
        "checksum",
        *trailers,
        "termination",
        "concatenation",
        "concatenation-unfinished",
    ]
    assert response.headers["Tus-Max-Size"] == str(10 * 1024**3)
    assert response.headers["Tus-Checksum-Algorithm"] == "sha1,sha256,md5"
    assert "Upload-Offset" in response.headers["Access-Control-Expose-Headers"]


async def test_cors_preflight_needs_no_token(server: Server) -> None:
    response = await server.tus.options(
        f"{TUS}/abc",
        headers={
            "Origin": "https://example.org",
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "authorization,tus-resumable,upload-offset",
        },
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "PATCH" in response.headers["Access-Control-Allow-Methods"]
    allowed = response.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed and "upload-offset" in allowed
    assert "location" in response.headers["Access-Control-Expose-Headers"].lower()


@both_storages
async def test_chunks_head_and_metadata(server: Server) -> None:
    token, _ = await server.register("alice")
    data = os.urandom(300_000)
    meta = metadata(filename="trip.mp4", title="Trip", filetype="video/mp4")
    path = await create(server.tus, token, len(data), **{"Upload-Metadata": meta})
    first = await patch(server.tus, token, path, 0, data[:100_000])
    assert first.status_code == 204
    assert first.headers["Upload-Offset"] == "100000"
    assert "Upload-Expires" in first.headers
    state = await head(server.tus, token, path)
    assert state.status_code == 200
    assert state.headers["Upload-Offset"] == "100000"
    assert state.headers["Upload-Length"] == "300000"
    assert state.headers["Cache-Control"] == "no-store"
    assert tus.parse_metadata(state.headers["Upload-Metadata"])["filename"] == b"trip.mp4"
    status = (
        await server.client.get(f"/api/upload/status/{path.rsplit('/', 1)[1]}", headers=auth(token))
    ).json()["upload"]
    assert status["received"] == 100_000 and status["percent"] == pytest.approx(33.3)
    assert status["state"] == "uploading" and status["filename"] == "trip.mp4"
    last = await patch(server.tus, token, path, 100_000, data[100_000:])
    assert last.status_code == 204 and last.headers["Upload-Offset"] == "300000"
    assert "Upload-Expires" not in last.headers  # finished uploads do not expire
    assert await finished_bytes(server, token, path) == data


@both_storages
async def test_deferred_length_is_declared_by_a_later_patch(server: Server) -> None:
    token, _ = await server.register("alice")
    path = await create(server.tus, token, None, **{"Upload-Defer-Length": "1"})
    state = await head(server.tus, token, path)
    assert state.headers["Upload-Defer-Length"] == "1" and "Upload-Length" not in state.headers
    assert (await patch(server.tus, token, path, 0, b"a" * 10)).status_code == 204
    done = await patch(server.tus, token, path, 10, b"b" * 5, **{"Upload-Length": "15"})
    assert done.status_code == 204 and done.headers["Upload-Offset"] == "15"
    assert (await head(server.tus, token, path)).headers["Upload-Length"] == "15"
    assert await finished_bytes(server, token, path) == b"a" * 10 + b"b" * 5


@both_storages
async def test_creation_with_upload(server: Server) -> None:
    token, _ = await server.register("alice")
    response = await server.tus.post(
        TUS,
        content=b"x" * 1000,
        headers={**V, **STREAM, **auth(token), "Upload-Length": "3000"},
    )
    assert response.status_code == 201
    assert response.headers["Upload-Offset"] == "1000"
    path = response.headers["Location"]
    assert (await head(server.tus, token, path)).headers["Upload-Offset"] == "1000"
    assert (await patch(server.tus, token, path, 1000, b"y" * 2000)).status_code == 204
    assert await finished_bytes(server, token, path) == b"x" * 1000 + b"y" * 2000


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "md5"])
async def test_checksum_accepts_a_matching_chunk(server: Server, algorithm: str) -> None:
    token, _ = await server.register("alice")
    data = os.urandom(5000)
    path = await create(server.tus, token, 10_000)
    digest = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    ok = await patch(
        server.tus, token, path, 0, data, **{"Upload-Checksum": f"{algorithm} {digest}"}
    )
    assert ok.status_code == 204 and ok.headers["Upload-Offset"] == "5000"


@both_storages
async def test_checksum_mismatch_discards_the_chunk(server: Server) -> None:
    token, _ = await server.register("alice")
    path = await create(server.tus, token, 10_000)
    assert (await patch(server.tus, token, path, 0, b"a" * 100)).status_code == 204
    wrong = base64.b64encode(hashlib.sha1(b"something else").digest()).decode()
    bad = await patch(
        server.tus, token, path, 100, b"b" * 100, **{"Upload-Checksum": f"sha1 {wrong}"}
    )
    assert bad.status_code == 460
    assert bad.json()["error"]["code"] == "checksum_mismatch"
    assert (await head(server.tus, token, path)).headers["Upload-Offset"] == "100"
    assert (await patch(server.tus, token, path, 100, b"c" * 9900)).status_code == 204
    assert await finished_bytes(server, token, path) == b"a" * 100 + b"c" * 9900


@both_storages
async def test_termination_then_410(server: Server, request: pytest.FixtureRequest) -> None:
    token, _ = await server.register("alice")
    path = await create(server.tus, token, 100)
    await patch(server.tus, token, path, 0, b"z" * 10)
    deleted = await server.tus.delete(path, headers={**V, **auth(token)})
    assert deleted.status_code == 204
    if server.settings.storage_url:
        # The multipart upload is aborted and the tail deleted.
        seaweed = request.getfixturevalue("seaweed")
        assert await open_multipart_uploads(seaweed, server.settings.storage_url) == []
        objects = server.app.trioflix.objects
        assert await objects.list_prefix(f"uploads/{upload_id(path)}/") == []
    else:
        assert not (server.settings.data_dir / "uploads" / f"{upload_id(path)}.bin").exists()
    again = await head(server.tus, token, path)
    assert again.status_code == 410
    resumed = await patch(server.tus, token, path, 10, b"z")
    assert resumed.status_code == 410 and resumed.json()["error"]["code"] == "upload_terminated"


@both_storages
async def test_concatenation_of_finished_partials(server: Server) -> None:
    token, _ = await server.register("alice")
    parts = [os.urandom(70_000), os.urandom(50_000), os.urandom(1)]
    paths = []
    for data in parts:
        path = await create(server.tus, token, len(data), **{"Upload-Concat": "partial"})
        assert (await patch(server.tus, token, path, 0, data)).status_code == 204
        paths.append(path)
    final = await server.tus.post(
        TUS, headers={**V, **auth(token), "Upload-Concat": "final;" + " ".join(paths)}
    )
    assert final.status_code == 201, final.text
    state = await head(server.tus, token, final.headers["Location"])
    assert state.headers["Upload-Offset"] == state.headers["Upload-Length"] == "120001"
    assert state.headers["Upload-Concat"].startswith("final;")
    assert await finished_bytes(server, token, final.headers["Location"]) == b"".join(parts)
    reused = await server.tus.post(
        TUS, headers={**V, **auth(token), "Upload-Concat": "final;" + paths[0]}
    )
    assert reused.status_code == 400 and reused.json()["error"]["code"] == "invalid_concatenation"


@both_storages
async def test_concatenation_unfinished_assembles_when_the_last_part_arrives(
    server: Server,
) -> None:
    token, _ = await server.register("alice")
    a = await create(server.tus, token, 4, **{"Upload-Concat": "partial"})
    b = await create(
        server.tus, token, None, **{"Upload-Concat": "partial", "Upload-Defer-Length": "1"}
    )
    final = await server.tus.post(
        TUS, headers={**V, **auth(token), "Upload-Concat": f"final;{a} {b}"}
    )
    assert final.status_code == 201
    location = final.headers["Location"]
    pending = await head(server.tus, token, location)
    assert "Upload-Offset" not in pending.headers  # tus: not before concatenation
    assert (await patch(server.tus, token, a, 0, b"abcd")).status_code == 204
    assert (
        await patch(server.tus, token, b, 0, b"ef", **{"Upload-Length": "2"})
    ).status_code == 204
    done = await head(server.tus, token, location)
    assert done.headers["Upload-Offset"] == done.headers["Upload-Length"] == "6"
    assert await finished_bytes(server, token, location) == b"abcdef"
    gone = await patch(server.tus, token, location, 6, b"")
    assert gone.status_code == 403  # a final upload is never patched


async def test_every_request_needs_a_token_and_uploads_are_private(server: Server) -> None:
    alice, _ = await server.register("alice")
    mallory, _ = await server.register("mallory")
    path = await create(server.tus, alice, 10)
    for method in ("HEAD", "PATCH", "DELETE"):
        anonymous = await server.tus.request(
            method, path, headers={**V, **STREAM, "Upload-Offset": "0"}
        )
        assert anonymous.status_code == 401, method
        other = await server.tus.request(
            method, path, headers={**V, **STREAM, **auth(mallory), "Upload-Offset": "0"}
        )
        assert other.status_code == 404, method
    assert (await server.tus.post(TUS, headers={**V, "Upload-Length": "5"})).status_code == 401
    status = await server.client.get(
        f"/api/upload/status/{path.rsplit('/', 1)[1]}", headers=auth(mallory)
    )
    assert status.status_code == 404
    assert (await head(server.tus, alice, path)).headers["Upload-Offset"] == "0"


ERROR_CASES = [
    # (name, method, target, extra headers, body, status, code)
    ("bad length", "POST", "collection", {"Upload-Length": "-1"}, b"", 400, "invalid_header"),
    ("no length", "POST", "collection", {}, b"", 400, "missing_header"),
    (
        "bad metadata",
        "POST",
        "collection",
        {"Upload-Length": "5", "Upload-Metadata": "k !!"},
        b"",
        400,
        "invalid_header",
    ),
    (
        "unknown algorithm",
        "PATCH",
        "upload",
        {"Upload-Offset": "0", "Upload-Checksum": "crc32 AAAAAA=="},
        b"abc",
        400,
        "unsupported_checksum_algorithm",
    ),
    ("no offset", "PATCH", "upload", {}, b"abc", 400, "missing_header"),
    ("unknown upload", "HEAD", "missing", {}, b"", 404, "not_found"),
    ("get on upload", "GET", "upload", {}, b"", 405, "method_not_allowed"),
    ("offset mismatch", "PATCH", "upload", {"Upload-Offset": "3"}, b"abc", 409, "offset_mismatch"),
    (
        "old version",
        "PATCH",
        "upload",
        {"Tus-Resumable": "0.2.2", "Upload-Offset": "0"},
        b"abc",
        412,
        "unsupported_version",
    ),
    (
        "above maximum",
        "POST",
        "collection",
        {"Upload-Length": str(10 * 1024**3 + 1)},
        b"",
        413,
        "upload_too_large",
    ),
    (
        "past the length",
        "PATCH",
        "upload",
        {"Upload-Offset": "0"},
        b"x" * 101,
        413,
        "upload_too_large",
    ),
    (
        "wrong content type",
        "PATCH",
        "upload",
        {"Upload-Offset": "0", "Content-Type": "application/json"},
        b"{}",
        415,
        "unsupported_media_type",
    ),
    (
        "checksum mismatch",
        "PATCH",
        "upload",
        {"Upload-Offset": "0", "Upload-Checksum": "sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0="},
        b"abc",
        460,
        "checksum_mismatch",
    ),
]


@pytest.mark.parametrize(
    ("method", "target", "headers", "body", "status", "code"),
    [case[1:] for case in ERROR_CASES],
    ids=[case[0] for case in ERROR_CASES],
)
async def test_error_statuses(
    server: Server,
    method: str,
    target: str,
    headers: dict[str, str],
    body: bytes,
    status: int,
    code: str,
) -> None:
    token, _ = await server.register("alice")
    url = {"collection": TUS, "missing": f"{TUS}/{'0' * 32}"}.get(target)
    if url is None:
        url = await create(server.tus, token, 100)
    sent = {**V, **auth(token), **(STREAM if method == "PATCH" else {}), **headers}
    response = await server.tus.request(method, url, headers=sent, content=body)
    assert response.status_code == status
    assert response.headers["Tus-Resumable"] == "1.0.0"
    if method != "HEAD":
        assert response.json()["error"]["code"] == code
    if status == 412:
        assert response.headers["Tus-Version"] == "1.0.0"
    if status == 405:
        assert "PATCH" in response.headers["Allow"]
    if target == "upload" and status != 405:
        assert (await head(server.tus, token, url)).headers["Upload-Offset"] in ("0", "100")


async def test_method_override_from_post(server: Server) -> None:
    token, _ = await server.register("alice")
    path = await create(server.tus, token, 3)
    response = await server.tus.post(
        path,
        content=b"abc",
        headers={
            **V,
            **STREAM,
            **auth(token),
            "Upload-Offset": "0",
            "X-HTTP-Method-Override": "PATCH",
        },
    )
    assert response.status_code == 204 and response.headers["Upload-Offset"] == "3"
