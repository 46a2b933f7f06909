"""Every route that reads a file stays in its root: no ``..``, encoded or not, no symlink out.

The requests go over a raw socket, as an attacker would send them: an HTTP client
would remove the dot segments before sending.
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import h11
import pytest
import trio

from tests.h11_reader import read_response
from trioflix.api import pages
from trioflix.web import STATIC_DIR

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import Server
    from trioflix.config import Settings

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

CANARY = "canary-0f1e2d3c4b5a"  # in a file of the data directory, served by no route


async def raw_get(server: Server, target: str) -> tuple[int, bytes]:
    """GET ``target`` exactly as written; the status and the body."""
    url = urlsplit(server.url)
    assert url.hostname is not None
    assert url.port is not None
    client = h11.Connection(h11.CLIENT)
    request = h11.Request(method="GET", target=target, headers=[("Host", url.netloc)])
    async with await trio.open_tcp_stream(url.hostname, url.port) as stream:
        await stream.send_all(client.send(request) + client.send(h11.EndOfMessage()))
        with trio.fail_after(10):
            status, _, body = await read_response(client, stream)
    return status, body


@pytest.fixture
def canary(settings: Settings) -> Path:
    path = settings.data_dir / "canary.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(CANARY)
    return path


@pytest.mark.parametrize(
    "target",
    [
        # The assets, versioned or not, and the vendor builds.
        "/assets/../../../../../../etc/passwd",
        "/assets/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/assets/js/..%2f..%2f..%2fconfig.py",
        "/assets/js/%2e%2e%2f%2e%2e%2f%2e%2e%2fconfig.py",
        "/assets/js/..%5c..%5c..%5cconfig.py",
        "/assets/v/abc/..%2f..%2f..%2fapp.py",
        "/assets/vendor/..%2f..%2fpackage.json",
        "/assets/vendor/%2e%2e%2f%2e%2e%2fpackage.json",
        # Live HLS (playlists, segments, thumbnails) read from the host's directory.
        "/live/..%2f..%2fcanary.txt/master.m3u8",
        "/live/%2e%2e/source/index.m3u8",
        "/live/alice/..%2f..%2f..%2fcanary.txt/index.m3u8",
        "/live/alice/source/..%2f..%2f..%2f..%2fcanary.txt",
        "/live/alice/source/seg-1-000001.ts%2f..%2f..%2f..%2fcanary.txt",
        "/live/..%2f..%2fcanary.txt/thumbnail.jpg",
        # Videos, from the object store (local disk here).
        "/videos/1/..%2f..%2f..%2fcanary.txt",
        "/videos/1/%2e%2e/%2e%2e/%2e%2e/canary.txt",
        "/videos/..%2f..%2fcanary.txt/master.m3u8",
        "/videos/1/source/..%2f..%2f..%2f..%2fcanary.txt",
        # Emote images, from the object store.
        "/api/emotes/..%2f..%2fcanary.txt",
        "/api/emotes/1%2f..%2f..%2fcanary.txt",
        # Scheduled streams' covers, from the object store.
        "/api/schedule/covers/..%2f..%2f..%2fcanary.txt",
        "/api/schedule/covers/1%2f..%2f..%2f..%2fcanary.txt",
        "/api/schedule/covers/%2e%2e/%2e%2e/canary.txt",
    ],
)
async def test_traversal_is_refused(server: Server, canary: Path, target: str) -> None:
    status, body = await raw_get(server, target)
    assert status in (400, 404), (status, body[:200])
    assert CANARY.encode() not in body
    assert b"root:" not in body
    assert b"import" not in body


async def test_assets_do_not_follow_a_symlink_out_of_their_root(
    server: Server, canary: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "static"
    shutil.copytree(STATIC_DIR, root)
    (root / "js" / "leak.js").symlink_to(canary)
    (root / "js" / "alias.js").symlink_to(root / "js" / "api.js")  # inside: still served
    monkeypatch.setattr(pages, "STATIC_DIR", root)
    for target in ("/assets/js/leak.js", "/assets/v/abc/js/leak.js"):
        status, body = await raw_get(server, target)
        assert status == 404, target
        assert CANARY.encode() not in body
    status, body = await raw_get(server, "/assets/js/alias.js")
    assert status == 200
    assert body == (root / "js" / "api.js").read_bytes()
