"""Resumable Uploads for HTTP (draft-ietf-httpbis-resumable-upload-12) against a served
instance, over HTTP/1.1 and HTTP/2: each rule of the draft that applies, auth,
ownership, digests (RFC 9530), an interrupted upload resumed, both media storages."""

from __future__ import annotations

import base64
import hashlib
import os
from typing import TYPE_CHECKING

import httpx
import pytest
import trio

from protocols import resumable
from tests.h2_client import STOP_SENDING, open_h2
from tests.waiting import wait_until
from trioflix.uploads import running_digest

from .helpers import auth, finished_bytes, upload_id

if TYPE_CHECKING:
    import pathlib
    from collections.abc import AsyncIterator

    from tests.conftest import Server

pytestmark = pytest.mark.settings(keep_originals=True)  # the bytes are checked in the store

RESUMABLE = "/api/upload/video/resumable"
APPEND = {"Content-Type": "application/partial-upload"}
PROBLEM = "application/problem+json"


def sha256_digest(data: bytes) -> str:
    """A digest field value (RFC 9530) for ``data``."""
    return f"sha-256=:{base64.b64encode(hashlib.sha256(data).digest()).decode()}:"


@pytest.fixture(params=["HTTP/1.1", "HTTP/2"])
async def client(
    server: Server, request: pytest.FixtureRequest
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of ``server`` speaking one transport (HTTP/2 with prior knowledge, h2c)."""
    h2 = request.param == "HTTP/2"
    async with httpx.AsyncClient(base_url=server.url, http1=not h2, http2=h2) as c:
        c.headers["X-Transport"] = request.param
        yield c


def check_transport(client: httpx.AsyncClient, response: httpx.Response) -> None:
    assert response.http_version == client.headers["X-Transport"]


async def create(
    client: httpx.AsyncClient, token: str, data: bytes, *, complete: bool, **headers: str
) -> httpx.Response:
    return await client.post(
        RESUMABLE,
        content=data,
        headers={**auth(token), "Upload-Complete": "?1" if complete else "?0", **headers},
    )


async def append(
    client: httpx.AsyncClient,
    token: str,
    path: str,
    offset: int,
    data: bytes,
    *,
    complete: bool,
    **headers: str,
) -> httpx.Response:
    return await client.patch(
        path,
        content=data,
        headers={
            **auth(token),
            **APPEND,
            "Upload-Offset": str(offset),
            "Upload-Complete": "?1" if complete else "?0",
            **headers,
        },
    )


def assert_problem(response: httpx.Response, status: int, problem_type: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == PROBLEM
    body: dict[str, object] = response.json()
    assert body["type"] == problem_type and body["status"] == status
    return body


async def test_optimistic_creation_uploads_everything_at_once(
    server: Server, client: httpx.AsyncClient
) -> None:
    token, _ = await server.register("alice")
    data = os.urandom(200_000)
    created = await create(
        client, token, data, complete=True, **{"Repr-Digest": sha256_digest(data)}
    )
    check_transport(client, created)
    assert created.status_code == 201, created.text
    path = created.headers["Location"]
    assert path.startswith(RESUMABLE + "/")
    assert created.headers["Upload-Complete"] == "?1"
    assert created.headers["Upload-Offset"] == str(len(data))
    # Offset retrieval: the state, never cached, without content.
    state = await client.head(path, headers=auth(token))
    assert state.status_code == 204
    assert state.headers["Upload-Offset"] == str(len(data))
    assert state.headers["Upload-Complete"] == "?1"
    assert state.headers["Upload-Length"] == str(len(data))
    assert state.headers["Cache-Control"] == "no-store"
    assert state.headers["Upload-Limit"] == f"max-size={server.settings.max_upload}"
    assert state.content == b""
    # The same processing and status as a tus upload.
    status = await client.get(f"/api/upload/status/{upload_id(path)}", headers=auth(token))
    assert status.json()["upload"]["received"] == len(data)
    assert status.json()["upload"]["video_id"] is not None
    assert await finished_bytes(server, token, path) == data
    # Nothing may be appended to a completed upload, whatever the offset.
    late = await append(client, token, path, 0, b"x", complete=True)
    assert_problem(late, 409, resumable.COMPLETED_UPLOAD)


async def test_partial_creation_then_offset_retrieval_and_appends(
    server: Server, client: httpx.AsyncClient
) -> None:
    token, _ = await server.register("alice")
    data = os.urandom(300_000)
    created = await create(
        client, token, data[:100_000], complete=False, **{"Upload-Length": str(len(data))}
    )
    assert created.status_code == 201, created.text
    assert created.headers["Upload-Complete"] == "?0"
    assert created.headers["Upload-Offset"] == "100000"
    path = created.headers["Location"]
    state = await client.head(path, headers=auth(token))
    assert (state.headers["Upload-Offset"], state.headers["Upload-Complete"]) == ("100000", "?0")
    assert state.headers["Upload-Length"] == str(len(data))
    limits = dict(member.split("=") for member in state.headers["Upload-Limit"].split(", "))
    assert limits["max-size"] == str(server.settings.max_upload)
    assert 0 < int(limits["expires"]) <= server.settings.upload_expiry
    # An offset that is not where the upload stands: 409 with both offsets.
    # (A small body: hypercorn 0.18's HTTP/2 drops the connection when DATA frames
    # arrive for a stream it has already answered; see docs/uploads.md.)
    wrong = await append(client, token, path, 50_000, data[50_000:50_010], complete=False)
    body = assert_problem(wrong, 409, resumable.MISMATCHING_UPLOAD_OFFSET)
    assert (body["expected-offset"], body["provided-offset"]) == (100_000, 50_000)
    # An append's content is application/partial-upload.
    untyped = await client.patch(
        path,
        content=b"x",
        headers={**auth(token), "Upload-Offset": "100000", "Upload-Complete": "?0"},
    )
    assert_problem(untyped, 415, "about:blank")
    middle = await append(client, token, path, 100_000, data[100_000:200_000], complete=False)
    assert middle.status_code == 204
    assert (middle.headers["Upload-Offset"], middle.headers["Upload-Complete"]) == ("200000", "?0")
    last = await append(
        client,
        token,
        path,
        200_000,
        data[200_000:],
        complete=True,
        **{"Content-Digest": sha256_digest(data[200_000:])},
    )
    check_transport(client, last)
    assert last.status_code == 204
    assert (last.headers["Upload-Offset"], last.headers["Upload-Complete"]) == ("300000", "?1")
    assert await finished_bytes(server, token, path) == data


async def test_length_rules(server: Server, client: httpx.AsyncClient) -> None:
    token, _ = await server.register("alice")
    # Upload-Complete is required, and a structured-field boolean.
    missing = await client.post(RESUMABLE, content=b"abc", headers=auth(token))
    assert_problem(missing, 400, "about:blank")
    not_boolean = await create(client, token, b"abc", complete=True, **{"Upload-Complete": "true"})
    assert_problem(not_boolean, 400, "about:blank")
    # Complete, but the content is not the declared length.
    short = await create(client, token, b"abc", complete=True, **{"Upload-Length": "10"})
    assert_problem(short, 400, resumable.INCONSISTENT_UPLOAD_LENGTH)
    # Larger than Upload-Limit's max-size: refused before the upload exists.
    too_large = str(server.settings.max_upload + 1)
    refused = await create(client, token, b"", complete=False, **{"Upload-Length": too_large})
    assert_problem(refused, 413, "about:blank")
    assert "Location" not in refused.headers
    created = await create(client, token, b"abc", complete=False, **{"Upload-Length": "10"})
    path = created.headers["Location"]
    # The length is fixed once known; content never runs past it.
    changed = await append(client, token, path, 3, b"d", complete=False, **{"Upload-Length": "11"})
    assert_problem(changed, 400, resumable.INCONSISTENT_UPLOAD_LENGTH)
    past = await append(client, token, path, 3, b"d" * 8, complete=False)
    assert_problem(past, 400, resumable.INCONSISTENT_UPLOAD_LENGTH)
    ends_short = await append(client, token, path, 3, b"d" * 6, complete=True)
    assert_problem(ends_short, 400, resumable.INCONSISTENT_UPLOAD_LENGTH)
    # None of those stored a byte.
    state = await client.head(path, headers=auth(token))
    assert state.headers["Upload-Offset"] == "3"


async def test_unknown_length_is_fixed_by_the_completing_append(
    server: Server, client: httpx.AsyncClient
) -> None:
    token, _ = await server.register("alice")
    data = os.urandom(150_000)
    created = await create(client, token, data[:50_000], complete=False)
    path = created.headers["Location"]
    state = await client.head(path, headers=auth(token))
    assert "Upload-Length" not in state.headers

    async def chunked() -> AsyncIterator[bytes]:
        # No Content-Length: the upload is as long as this body turns out to be.
        for start in range(50_000, len(data), 25_000):
            yield data[start : start + 25_000]

    last = await client.patch(
        path,
        content=chunked(),
        headers={**auth(token), **APPEND, "Upload-Offset": "50000", "Upload-Complete": "?1"},
    )
    assert last.status_code == 204, last.text
    assert last.headers["Upload-Complete"] == "?1"
    state = await client.head(path, headers=auth(token))
    assert state.headers["Upload-Length"] == str(len(data))
    assert await finished_bytes(server, token, path) == data


async def test_a_digest_mismatch_keeps_nothing(server: Server, client: httpx.AsyncClient) -> None:
    token, _ = await server.register("alice")
    created = await create(client, token, b"abc", complete=False)
    path = created.headers["Location"]
    wrong = await append(
        client, token, path, 3, b"defg", complete=False, **{"Content-Digest": sha256_digest(b"x")}
    )
    assert_problem(wrong, 400, "about:blank")
    assert wrong.json()["code"] == "digest_mismatch"
    state = await client.head(path, headers=auth(token))
    assert state.headers["Upload-Offset"] == "3"
    # A whole upload whose representation digest does not match is refused too;
    # the upload exists (its Location is in the answer) with nothing in it.
    refused = await create(
        client, token, b"abc", complete=True, **{"Repr-Digest": sha256_digest(b"abd")}
    )
    assert_problem(refused, 400, "about:blank")
    kept = await client.head(refused.headers["Location"], headers=auth(token))
    assert (kept.headers["Upload-Offset"], kept.headers["Upload-Complete"]) == ("0", "?0")


async def test_repr_digest_covers_the_upload_across_requests(
    server: Server, client: httpx.AsyncClient
) -> None:
    """RFC 9530: a Repr-Digest is for the whole upload, whichever request carries it;
    it is checked against all the bytes once the upload is complete."""
    token, _ = await server.register("alice")
    data = os.urandom(300_000)
    # Sent at creation, checked when the last of four requests completes the upload.
    created = await create(
        client,
        token,
        data[:100_000],
        complete=False,
        **{"Upload-Length": str(len(data)), "Repr-Digest": sha256_digest(data)},
    )
    assert created.status_code == 201, created.text
    check_transport(client, created)
    path = created.headers["Location"]
    for start, end in ((100_000, 150_000), (150_000, 250_000)):
        middle = await append(client, token, path, start, data[start:end], complete=False)
        assert middle.status_code == 204, middle.text
    done = await append(client, token, path, 250_000, data[250_000:], complete=True)
    assert done.status_code == 204, done.text
    assert done.headers["Upload-Complete"] == "?1"
    assert await finished_bytes(server, token, path) == data

    # Sent with the completing request only, of an upload of unknown length. A
    # mismatch leaves the upload incomplete with its bytes (which of them are wrong
    # is not known); a completing request with the right digest completes it.
    path = (await create(client, token, data[:100_000], complete=False)).headers["Location"]
    wrong = await append(
        client,
        token,
        path,
        100_000,
        data[100_000:],
        complete=True,
        **{"Repr-Digest": sha256_digest(data[:-1] + b"x")},
    )
    assert_problem(wrong, 400, "about:blank")
    assert wrong.json()["code"] == "digest_mismatch"
    state = await client.head(path, headers=auth(token))
    assert (state.headers["Upload-Offset"], state.headers["Upload-Complete"]) == ("300000", "?0")
    right = await append(
        client, token, path, 300_000, b"", complete=True, **{"Repr-Digest": sha256_digest(data)}
    )
    assert right.status_code == 204, right.text
    assert right.headers["Upload-Complete"] == "?1"
    assert await finished_bytes(server, token, path) == data


async def test_without_libcrypto_uploads_work_and_a_split_repr_digest_says_why(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host where no libcrypto loads (a Python built without OpenSSL) keeps no
    running sha-256: uploads still work, a Repr-Digest of a whole upload is checked
    as its content digest, one that spans requests is refused with the reason."""
    monkeypatch.setattr(running_digest, "_load", lambda: "no libcrypto on this host")
    assert not running_digest.available()
    token, _ = await server.register("alice")
    data = os.urandom(30_000)
    async with httpx.AsyncClient(base_url=server.url) as client:
        path = (await create(client, token, data[:10_000], complete=False)).headers["Location"]
        done = await append(client, token, path, 10_000, data[10_000:], complete=True)
        assert done.status_code == 204, done.text
        assert await finished_bytes(server, token, path) == data
        whole = await create(
            client, token, data, complete=True, **{"Repr-Digest": sha256_digest(data[1:])}
        )
        assert_problem(whole, 400, "about:blank")
        assert whole.json()["code"] == "digest_mismatch"
        split = await create(
            client,
            token,
            data[:10_000],
            complete=False,
            **{"Upload-Length": str(len(data)), "Repr-Digest": sha256_digest(data)},
        )
        assert_problem(split, 501, "about:blank")
        assert split.json()["code"] == "repr_digest_unavailable"
        assert "libcrypto" in split.json()["detail"]


async def test_auth_ownership_and_cancellation(server: Server, client: httpx.AsyncClient) -> None:
    alice, _ = await server.register("alice")
    bob, _ = await server.register("bob")
    anonymous = await client.post(RESUMABLE, content=b"abc", headers={"Upload-Complete": "?1"})
    assert_problem(anonymous, 401, "about:blank")
    path = (await create(client, alice, b"abc", complete=False)).headers["Location"]
    # Someone else's upload does not exist for them.
    assert (await client.head(path, headers=auth(bob))).status_code == 404
    assert_problem(await append(client, bob, path, 3, b"d", complete=True), 404, "about:blank")
    assert_problem(await client.delete(path, headers=auth(bob)), 404, "about:blank")
    assert_problem(await client.get(path, headers=auth(alice)), 405, "about:blank")
    cancelled = await client.delete(path, headers=auth(alice))
    assert cancelled.status_code == 204
    assert (await client.head(path, headers=auth(alice))).status_code == 410
    assert_problem(await append(client, alice, path, 3, b"d", complete=True), 410, "about:blank")


async def _hanging_append(
    server: Server, token: str, path: str, total: int, sent: bytes
) -> trio.SocketStream:
    """An HTTP/1.1 append announcing ``total`` bytes that sends ``sent`` and then hangs."""
    host, port = server.settings.http.rsplit(":", 1)
    stream = await trio.open_tcp_stream(host, int(port))
    head = (
        f"PATCH {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/partial-upload\r\nUpload-Offset: 0\r\n"
        f"Upload-Complete: ?1\r\nContent-Length: {total}\r\n\r\n"
    )
    await stream.send_all(head.encode() + sent)
    return stream


@pytest.mark.usefixtures("media_storage")
async def test_interrupted_upload_is_resumed(server: Server) -> None:
    token, _ = await server.register("alice")
    data = os.urandom(1_000_000)
    async with httpx.AsyncClient(base_url=server.url) as client:
        # The digest of the whole upload, given at creation, outlives the cut connection.
        created = await create(
            client, token, b"", complete=False, **{"Repr-Digest": sha256_digest(data)}
        )
        path = created.headers["Location"]
        stale = await _hanging_append(server, token, path, len(data), data[:400_000])
        uploads = server.app.trioflix.uploads

        def received() -> int:
            holder = uploads.locks.holder(upload_id(path))
            return 0 if holder is None else holder.received

        # Once the server has written the bytes sent, the client comes back on a new
        # connection: offset retrieval takes the upload over from the hanging
        # request, which keeps (fsyncs, or sends to the bucket) what it has.
        await wait_until(lambda: received() == 400_000)
        with trio.fail_after(20):
            state = await client.head(path, headers=auth(token))
        assert state.headers["Upload-Offset"] == "400000"
        # The digest covers the bytes before the cut too: a wrong one is refused,
        # the one given at creation matches.
        wrong = {"Repr-Digest": sha256_digest(data[:-1] + b"x")}
        refused = await append(client, token, path, 400_000, data[400_000:], complete=True, **wrong)
        assert refused.json()["code"] == "digest_mismatch", refused.text
        right = {"Repr-Digest": sha256_digest(data)}
        rest = await append(client, token, path, len(data), b"", complete=True, **right)
        assert rest.status_code == 204
        assert rest.headers["Upload-Complete"] == "?1"
        # The request taken over was answered on its own connection.
        with trio.fail_after(10):
            reply = await stale.receive_some(4096)
        assert reply.startswith(b"HTTP/1.1 423")
        await stale.aclose()
        assert await finished_bytes(server, token, path) == data


async def test_http2_connection_survives_an_early_answer(server: Server) -> None:
    """An append refused before its content arrived (a wrong offset) while the client
    goes on sending: the stream is ended, the connection serves the next request."""
    token, _ = await server.register("alice")
    async with httpx.AsyncClient(base_url=server.url) as client:
        path = (await create(client, token, b"abc", complete=False)).headers["Location"]
    head = {**auth(token), **APPEND, "Upload-Complete": "?1", "Content-Length": "64000"}
    host, port = server.settings.http.rsplit(":", 1)
    with trio.fail_after(30):
        async with open_h2(host, int(port)) as h2:
            wrong = await h2.request(
                "PATCH", path, {**head, "Upload-Offset": "7"}, bytes(16000), end=False
            )
            await h2.wait_done(wrong)
            for _ in range(3):  # what the client had on its way
                await h2.send_in_flight(wrong, bytes(16000))
            state = await h2.request("HEAD", path, auth(token))
            await h2.wait_done(state)
    [(status, fields)] = h2.responses[wrong]
    assert (status, fields["content-type"]) == (409, PROBLEM)
    assert h2.resets.get(wrong) in STOP_SENDING  # stop sending (RFC 9113 8.1)
    [(status, fields)] = h2.responses[state]
    assert (status, fields["upload-offset"]) == (204, "3")


async def curl(*args: str) -> list[tuple[int, dict[str, str]]]:
    """Run curl (an independent client); returns every response of the exchange,
    interim (1xx) ones first, each as its status and headers."""
    result = await trio.run_process(
        ["curl", "--silent", "--show-error", "--dump-header", "-", "--output", "/dev/null", *args],
        capture_stdout=True,
    )
    responses = []
    for block in result.stdout.decode("latin-1").strip().split("\r\n\r\n"):
        status_line, *lines = block.split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        responses.append((int(status_line.split()[1]), headers))
    return responses


@pytest.mark.parametrize("transport", ["--http1.1", "--http2-prior-knowledge"])
async def test_curl_uploads_in_two_requests(
    server: Server, transport: str, tmp_path: pathlib.Path
) -> None:
    token, _ = await server.register("alice")
    data = os.urandom(500_000)
    (tmp_path / "first").write_bytes(data[:200_000])
    (tmp_path / "rest").write_bytes(data[200_000:])
    common = [transport, "-H", f"Authorization: Bearer {token}"]
    *interim, (status, created) = await curl(
        *common,
        "--data-binary",
        f"@{tmp_path / 'first'}",
        "-H",
        "Upload-Complete: ?0",
        "-H",
        f"Upload-Length: {len(data)}",
        server.url + RESUMABLE,
    )
    assert status == 201
    assert created["upload-offset"] == "200000"
    # 104 (Upload Resumption Supported) came first, naming the upload, on both transports.
    assert [(code, headers["location"]) for code, headers in interim] == [
        (104, created["location"])
    ]
    assert interim[0][1]["upload-limit"].startswith("max-size=")
    upload_url = server.url + created["location"]
    [(status, state)] = await curl(*common, "--head", upload_url)
    assert status == 204
    assert (state["upload-offset"], state["upload-complete"]) == ("200000", "?0")
    assert state["cache-control"] == "no-store"
    [(status, done)] = await curl(
        *common,
        "-X",
        "PATCH",
        "--data-binary",
        f"@{tmp_path / 'rest'}",
        "-H",
        "Content-Type: application/partial-upload",
        "-H",
        "Upload-Offset: 200000",
        "-H",
        "Upload-Complete: ?1",
        "-H",
        f"Content-Digest: {sha256_digest(data[200_000:])}",
        upload_url,
    )
    assert status == 204
    assert (done["upload-offset"], done["upload-complete"]) == ("500000", "?1")
    assert await finished_bytes(server, token, created["location"]) == data
