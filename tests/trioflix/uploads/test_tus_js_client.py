"""tus-js-client (Node), the browser and Node reference client, against a served instance.

``tests/js/tus_upload.mjs`` runs each scenario as a subprocess; every check is
made on the server's side: the stored bytes' sha256, HEAD, the upload status.
tus-js-client itself is pinned in ``tests/js/package-lock.json`` and installed
by ``./dev test`` (``npm ci --prefix tests/js``).

tus-js-client 4.3.1 has no support for the checksum extension (it never sends
``Upload-Checksum``); the checksum tests add the header through its public
``httpStack`` option (see the script).
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import TYPE_CHECKING, Any

import pytest
import trio

from .helpers import JS_DIR, SCRIPT, TUS, auth, head, video_source

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import Server

MIB = 1024 * 1024

pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize("backend", ["sqlite"], indirect=True),
    # The bytes are checked in the store after the video may be ready: keep its source.
    pytest.mark.settings(keep_originals=True),
]


async def _run(node: str, **config: Any) -> tuple[int, dict[str, Any], str]:
    with trio.fail_after(60):
        done = await trio.run_process(
            [node, str(SCRIPT), json.dumps(config)],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            cwd=JS_DIR,
        )
    lines = done.stdout.decode().strip().splitlines()
    assert lines, done.stderr.decode()
    return done.returncode, json.loads(lines[-1]), done.stderr.decode()


async def _ok(node: str, **config: Any) -> dict[str, Any]:
    code, result, stderr = await _run(node, **config)
    assert code == 0, stderr
    return result


def _file(tmp_path: Path, size: int) -> tuple[Path, bytes]:
    data = os.urandom(size)
    path = tmp_path / "clip.mp4"
    path.write_bytes(data)
    return path, data


async def _stored(server: Server, token: str, url: str) -> tuple[dict[str, Any], bytes]:
    """The upload's status and the bytes of the video it became."""
    upload_id = url.rsplit("/", 1)[1]
    response = await server.client.get(f"/api/upload/status/{upload_id}", headers=auth(token))
    status: dict[str, Any] = response.json()["upload"]
    assert status["video_id"] is not None, status
    return status, await video_source(server, status["video_id"])


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def test_full_upload(server: Server, tmp_path: Path, node: str) -> None:
    token, _ = await server.register("alice")
    path, data = _file(tmp_path, 5 * MIB + 3)
    result = await _ok(
        node,
        scenario="upload",
        endpoint=server.url + TUS,
        token=token,
        file=str(path),
        chunkSize=2 * MIB,
        filename="trip.mp4",
    )
    status, stored = await _stored(server, token, result["url"])
    assert _sha256(stored) == _sha256(data)
    assert status["received"] == status["length"] == len(data)
    assert status["filename"] == "trip.mp4"
    patches = [r for r in result["requests"] if r["method"] == "PATCH"]
    assert [r["status"] for r in patches] == [204, 204, 204]
    assert [r["offset"] for r in patches] == [2 * MIB, 4 * MIB, len(data)]


@pytest.mark.parametrize("how", ["fingerprint", "upload_url"])
async def test_resume_after_abort(server: Server, tmp_path: Path, node: str, how: str) -> None:
    token, _ = await server.register("alice")
    path, data = _file(tmp_path, 8 * MIB)
    common = {
        "endpoint": server.url + TUS,
        "token": token,
        "file": str(path),
        "chunkSize": MIB,
        "storage": str(tmp_path / "tus-urls.json"),
    }
    # Abort in the middle of the third 1 MiB PATCH.
    aborted = await _ok(node, scenario="abort", abortAt=2 * MIB + MIB // 2, **common)
    url = aborted["url"]
    kept = int(
        (await head(server.client, token, url.removeprefix(server.url))).headers["Upload-Offset"]
    )
    assert 2 * MIB <= kept < len(data)

    resume_with = {"uploadUrl": url} if how == "upload_url" else {}
    resumed = await _ok(node, scenario="resume", **resume_with, **common)
    assert resumed["url"] == url  # the same upload continued
    assert not [r for r in resumed["requests"] if r["method"] == "POST"]
    first = resumed["requests"][0]
    assert (first["method"], first["status"], first["offset"]) == ("HEAD", 200, kept)
    status, stored = await _stored(server, token, url)
    assert _sha256(stored) == _sha256(data)
    assert status["received"] == len(data)


async def test_parallel_uploads_are_concatenated(server: Server, tmp_path: Path, node: str) -> None:
    token, _ = await server.register("alice")
    path, data = _file(tmp_path, 6 * MIB + 1)
    result = await _ok(
        node,
        scenario="upload",
        endpoint=server.url + TUS,
        token=token,
        file=str(path),
        parallel=3,
    )
    creations = [r for r in result["requests"] if r["method"] == "POST"]
    assert [r["concat"] for r in creations[:3]] == ["partial"] * 3
    assert creations[3]["concat"].startswith("final;")
    assert all(r["status"] == 201 for r in creations)
    final = await head(server.client, token, result["url"].removeprefix(server.url))
    assert final.headers["Upload-Offset"] == final.headers["Upload-Length"] == str(len(data))
    assert len(final.headers["Upload-Concat"].removeprefix("final;").split()) == 3
    status, stored = await _stored(server, token, result["url"])
    assert _sha256(stored) == _sha256(data)
    assert status["state"] in ("processing", "failed")  # random bytes: not a playable video


async def test_checksummed_chunks(server: Server, tmp_path: Path, node: str) -> None:
    token, _ = await server.register("alice")
    path, data = _file(tmp_path, 3 * MIB + 5)
    result = await _ok(
        node,
        scenario="upload",
        endpoint=server.url + TUS,
        token=token,
        file=str(path),
        chunkSize=MIB,
        checksum="sha256",
    )
    patches = [r for r in result["requests"] if r["method"] == "PATCH"]
    assert [r["status"] for r in patches] == [204] * 4
    _, stored = await _stored(server, token, result["url"])
    assert _sha256(stored) == _sha256(data)


async def test_a_wrong_checksum_is_refused_and_nothing_is_kept(
    server: Server, tmp_path: Path, node: str
) -> None:
    token, _ = await server.register("alice")
    path, _ = _file(tmp_path, MIB)
    code, result, stderr = await _run(
        node,
        scenario="upload",
        endpoint=server.url + TUS,
        token=token,
        file=str(path),
        chunkSize=MIB,
        checksum="wrong",
    )
    assert code == 1
    assert "460" in result["error"], stderr  # tus-js-client does not retry a 4xx
    assert result["url"] is None
    patch = next(r for r in result["requests"] if r["method"] == "PATCH")
    assert patch["status"] == 460
    location = next(r["location"] for r in result["requests"] if r["method"] == "POST")
    kept = await head(server.client, token, location.removeprefix(server.url))
    assert kept.headers["Upload-Offset"] == "0"  # the mismatched chunk was discarded
