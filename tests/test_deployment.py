"""The systemd unit, its environment file and the reverse proxy, as docs/deployment.md
gives them.

Each is read from the page (between its markers), so the page and the test cannot
drift apart. ``systemd-analyze verify`` checks the unit as systemd would load it; the
only change made to it is the program's path, since the test installs nothing into
``/opt``. The nginx configuration runs in front of one served host, with one ``server``
line per upstream as the page says (``tests/trioflix/cluster/test_balancer.py`` runs
it in front of several, tus uploads included).
"""

from __future__ import annotations

import configparser
import json
import re
import shutil
import subprocess
import sys
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
import trio
from trio_websocket import open_websocket_url

from protocols import flv
from tests.interop.media import FFMPEG, make_sample, require
from tests.ports import free_port
from tests.trioflix.cluster.balancer import NGINX, STREAM_MODULE, Balancer
from tests.trioflix.live_hls.helpers import wait_live
from trioflix.api.pages import VERSIONED_CACHE
from trioflix.config import OPTIONS
from trioflix.server import GRACEFUL_TIMEOUT_S

if TYPE_CHECKING:
    from tests.conftest import Server

DEPLOYMENT_DOC = Path(__file__).resolve().parent.parent / "docs" / "deployment.md"
SYSTEMD_ANALYZE = Path("/usr/bin/systemd-analyze")
INSTALLED = "/opt/trioflix/bin/trioflix"  # where the page installs the wheel
# `trioflix serve` exits within this long of SIGTERM (docs/deployment.md, "Shutdown").
STOP_LIMIT_S = 5.0
VIEWERS = 10_000  # descriptors the unit must allow at least: one per viewer, and more
STREAMED_MS = 3000  # media an HTTP-FLV viewer receives through the proxy, at least


def _block(name: str, language: str) -> str:
    pattern = rf"<!-- {name}:begin -->\n```{language}\n(.*?)```\n<!-- {name}:end -->"
    found = re.search(pattern, DEPLOYMENT_DOC.read_text(), re.S)
    assert found is not None, f"no {name} block between markers in {DEPLOYMENT_DOC}"
    return found.group(1)


def _service(unit: str) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(unit)
    return parser["Service"]


def _seconds(value: str) -> float:
    found = re.fullmatch(r"(\d+)s?", value)
    assert found is not None, f"a time in seconds, not {value!r}"
    return float(found.group(1))


def test_the_unit_verifies_as_written(tmp_path: Path) -> None:
    if not SYSTEMD_ANALYZE.exists():
        pytest.skip(f"{SYSTEMD_ANALYZE} not found (./dev system-packages installs systemd)")
    unit = _block("systemd-unit", "ini")
    assert unit.count(INSTALLED) == 1
    # systemd checks that the program exists: this checkout's trioflix stands in for it.
    program = shutil.which("trioflix", path=str(Path(sys.executable).parent))
    assert program is not None
    path = tmp_path / "trioflix.service"
    path.write_text(unit.replace(INSTALLED, program))
    done = subprocess.run(
        [str(SYSTEMD_ANALYZE), "verify", "--man=no", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    # verify says what it ignores (unknown keys, bad values) on stderr, and exits 0.
    assert (done.returncode, done.stderr) == (0, ""), done.stderr


def test_the_unit_restarts_stops_and_opens_enough_files() -> None:
    service = _service(_block("systemd-unit", "ini"))
    assert service["User"] == "trioflix"  # a dedicated user, made by useradd on the page
    assert service["Restart"] == "on-failure"
    assert service["EnvironmentFile"] == "/etc/trioflix/trioflix.env"
    assert service["ExecStart"] == f"{INSTALLED} serve"
    assert GRACEFUL_TIMEOUT_S < STOP_LIMIT_S < _seconds(service["TimeoutStopSec"])
    assert int(service["LimitNOFILE"]) >= VIEWERS


def test_the_environment_file_sets_only_real_settings() -> None:
    known = {option.env for option in OPTIONS}
    lines = _block("systemd-env", "sh").splitlines()
    settings = [line.split("=", 1)[0].lstrip("# ") for line in lines if "=" in line]
    assert settings
    assert set(settings) <= known, set(settings) - known


@pytest.mark.slow
@pytest.mark.interop
@pytest.mark.backends("sqlite", reason="what passes through the proxy, not the storage")
async def test_one_host_behind_the_documented_nginx(
    server: Server, nursery: trio.Nursery, tmp_path: Path
) -> None:
    if not (NGINX.exists() and STREAM_MODULE.exists()):
        pytest.skip("nginx not found (apt-get install nginx libnginx-mod-stream)")
    ffmpeg = require(FFMPEG, "ffmpeg")
    sample = await trio.to_thread.run_sync(partial(make_sample, tmp_path / "live.flv", seconds=8))
    address = server.app.trioflix.rtmp_address
    assert address is not None
    proxy = Balancer(tmp_path / "nginx", free_port(), free_port())
    start = partial(
        proxy.start,
        http_hosts=[server.url.removeprefix("http://")],
        rtmp_hosts=[f"{address[0]}:{address[1]}"],
    )
    await trio.to_thread.run_sync(start)
    try:
        async with httpx.AsyncClient(base_url=proxy.url, timeout=10) as client:
            # The API, and the pages' assets with their year-long cache header intact.
            registered = await client.post(
                "/api/auth/register", json={"username": "alice", "password": "correct horse"}
            )
            assert registered.status_code == 201
            token = registered.json()["token"]
            page = (await client.get("/channel/alice")).text
            found = re.search(r'src="(/assets/v/[0-9a-f]+/js/channel\.js)"', page)
            assert found is not None
            script = await client.get(found.group(1))
            assert script.headers["cache-control"] == VERSIONED_CACHE

            # RTMP through the stream block.
            keys = await client.post(
                "/api/streaming/keys", headers={"Authorization": f"Bearer {token}"}
            )
            key = keys.json()["key"]["key"]
            publish = [ffmpeg, "-hide_banner", "-loglevel", "error", "-re", "-i", str(sample.path)]
            publish += ["-c", "copy", "-f", "flv", f"rtmp://127.0.0.1:{proxy.rtmp_port}/live/{key}"]
            nursery.start_soon(partial(trio.run_process, publish, check=False, stdin=b""))
            await wait_live(server, "alice")

            # Chat: the websocket upgrade passes through.
            ws_url = proxy.url.replace("http://", "ws://") + "/ws/chat/alice"
            with trio.fail_after(15):
                async with open_websocket_url(ws_url) as ws:
                    assert json.loads(await ws.get_message())["type"] == "welcome"
                    await trio.aclose_forcefully(ws._stream)

            # HTTP-FLV: the live stream arrives as it is sent, not when it ends.
            reader = flv.FLVReader()
            arrivals: list[tuple[float, int]] = []  # (when, media timestamp) per tag
            with trio.fail_after(30):
                async with client.stream("GET", "/live/alice.flv") as response:
                    assert response.status_code == 200
                    async for chunk in response.aiter_bytes():
                        reader.receive_data(chunk)
                        while (event := reader.next_event()) is not flv.NEED_DATA:
                            if isinstance(event, flv.FLVTag):
                                arrivals.append((trio.current_time(), event.timestamp_ms))
    finally:
        await trio.to_thread.run_sync(proxy.stop)
    (first_at, first_ms), (last_at, last_ms) = arrivals[0], arrivals[-1]
    assert last_ms - first_ms > STREAMED_MS
    assert last_at - first_at > STREAMED_MS / 1000 / 2  # paced by ffmpeg -re, never held back
