"""Going live near a scheduled stream's start starts it: ffmpeg publishes, and the
session takes the entry's title, the publish.start webhook carries the entry and the
chat room announces it."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

import pytest
import trio

from tests.interop.media import FFMPEG, require
from tests.ports import free_port
from tests.trioflix.live.test_webhooks_metrics import SECRET, start_receiver, wait_for_event
from tests.trioflix.test_schedule import create, local_start, public_entries

if TYPE_CHECKING:
    from tests.conftest import Server
    from tests.interop.media import Sample
    from trioflix.config import Settings

pytestmark = pytest.mark.slow

SAMPLE_SECONDS = 4  # published in real time: long enough to be seen live


@pytest.fixture
def hook_port() -> int:
    return free_port()


@pytest.fixture
def settings(settings: Settings, hook_port: int) -> Settings:
    return settings.replace(
        webhook_urls=(f"http://127.0.0.1:{hook_port}/hook",), webhook_secret=SECRET
    )


async def poll(server: Server, path: str, done: Any) -> dict[str, Any]:
    """GET ``path`` until ``done(body)`` holds; the body."""
    with trio.fail_after(30):
        while True:
            body: dict[str, Any] = (await server.client.get(path)).json()
            if done(body):
                return body
            await trio.sleep(0.05)


async def test_going_live_starts_the_scheduled_stream(
    server: Server, sample: Sample, hook_port: int, nursery: trio.Nursery
) -> None:
    receiver = await start_receiver(nursery, hook_port)
    token, _ = await server.register("alice")
    key = await server.create_key(token)
    later = await create(server, token, title="In two days", start=local_start(2))
    # Ten minutes from now: inside the default window (30 min before to 60 after).
    due = await create(
        server, token, title="Speedrun, part 2", description="any%", start=local_start(10 / 1440)
    )

    ffmpeg = require(FFMPEG, "ffmpeg")
    cmd = [ffmpeg, "-hide_banner", "-loglevel", "error", "-re", "-i", str(sample.path)]
    cmd += ["-c", "copy", "-f", "flv", f"{server.rtmp_url}/{key}"]
    publisher: trio.Process = await nursery.start(
        partial(trio.run_process, cmd, check=False, stdin=b"")
    )

    start = await wait_for_event(receiver, "publish.start")
    assert start["schedule"]["id"] == due["id"]
    assert start["schedule"]["title"] == "Speedrun, part 2"
    assert start["schedule"]["state"] == "scheduled"  # asked before the publish is accepted

    channel = await poll(server, "/api/channels/alice", lambda body: body["live"])
    assert channel["session"]["title"] == "Speedrun, part 2"
    assert channel["session"]["description"] == "any%"
    states = {entry["id"]: entry for entry in await public_entries(server, "alice")}
    assert states[due["id"]]["state"] == "live"
    assert states[due["id"]]["session_id"] == channel["session"]["id"]
    assert states[later["id"]]["state"] == "scheduled"  # outside its window
    soon = (await server.client.get("/api/schedule/soon")).json()["entries"]
    assert [entry["id"] for entry in soon] == [due["id"]]

    history = await poll(
        server,
        "/api/chat/alice/messages",
        lambda body: any(m["type"] == "announcement" for m in body["messages"]),
    )
    [announcement] = [m for m in history["messages"] if m["type"] == "announcement"]
    assert announcement["kind"] == "scheduled_start"
    assert announcement["schedule"]["id"] == due["id"]
    assert "Speedrun, part 2" in announcement["text"]
    assert isinstance(announcement["id"], int)

    with trio.fail_after(30):
        await publisher.wait()
    assert publisher.returncode == 0
    await poll(
        server,
        "/api/channels/alice/schedule",
        lambda body: {e["id"]: e["state"] for e in body["entries"]}[due["id"]] == "started",
    )
    # The next session is not attached to the same entry again.
    entries = await public_entries(server, "alice")
    assert [e["state"] for e in entries if e["id"] == due["id"]] == ["started"]
