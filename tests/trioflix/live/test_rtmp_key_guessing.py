"""Guessing stream keys over RTMP: an address past its wrong keys is refused at once.

ffmpeg guesses from 127.0.0.1; the test's own RTMP client shows that another
address (127.0.0.2, bound as the source) is not refused, and that the right key
from the throttled address works again once the window has passed.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pytest
import trio

from tests.interop.media import FFMPEG, require
from tests.trioflix.live.rtmp_client import RTMPTestClient

if TYPE_CHECKING:
    from tests.conftest import Server
    from tests.interop.media import Sample

pytestmark = pytest.mark.slow

FAILURES = 3
WINDOW_S = 4.0
REFUSED = "too many wrong stream keys"


async def ffmpeg_publish(server: Server, key: str, sample: Sample) -> int:
    """ffmpeg pushes ``sample`` with ``key`` as fast as it can; its exit status."""
    ffmpeg = require(FFMPEG, "ffmpeg")
    cmd = [ffmpeg, "-hide_banner", "-loglevel", "error", "-i", str(sample.path)]
    cmd += ["-c", "copy", "-f", "flv", f"{server.rtmp_url}/{key}"]
    with trio.fail_after(30):
        done = await trio.run_process(cmd, check=False, stdin=b"", capture_stderr=True)
    return done.returncode


async def publish_from(server: Server, source: str, key: str) -> RTMPTestClient:
    """Publish ``key`` from the source address ``source``; raises PermissionError if refused."""
    address = server.app.trioflix.rtmp_address
    assert address is not None
    sock = trio.socket.socket()
    await sock.bind((source, 0))
    await sock.connect(address)
    client = RTMPTestClient(trio.SocketStream(sock))
    try:
        with trio.fail_after(10):
            await client.publish(key)
    except BaseException:
        await client.aclose()
        raise
    return client


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.settings(rtmp_key_failures=FAILURES, rtmp_key_window=WINDOW_S)
async def test_wrong_keys_throttle_the_address(
    server: Server, sample: Sample, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="trioflix.live.rtmp.server")
    token, _ = await server.register("victim")
    key = await server.create_key(token)
    other_token, _ = await server.register("other")
    other_key = await server.create_key(other_token)

    for attempt in range(FAILURES):
        assert await ffmpeg_publish(server, f"live_wrong{attempt}", sample) != 0
    assert not [r for r in caplog.records if REFUSED in r.getMessage()]

    # Past the limit even the right key is refused, before the database is asked.
    assert await ffmpeg_publish(server, key, sample) != 0
    refusals = [r for r in caplog.records if REFUSED in r.getMessage()]
    assert refusals
    assert all(r.levelno == logging.WARNING for r in refusals)
    assert "127.0.0.1" in refusals[0].getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]

    # Another address is not throttled.
    client = await publish_from(server, "127.0.0.2", other_key)
    await client.aclose()

    # Once the oldest failure is older than the window, the right key works again.
    with trio.fail_after(WINDOW_S * 5):
        while True:
            try:
                client = await publish_from(server, "127.0.0.1", key)
            except PermissionError:
                await trio.sleep(0.2)
            else:
                break
    await client.aclose()
