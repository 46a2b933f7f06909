"""docs/architecture.md's nursery tree names every task the services run, under its parent.

The services run for real (as a cluster of one: Redis, PostgreSQL) with
a live publisher, and then with that publisher dropped inside its grace window;
the running tasks are read from trio's task tree, so the check follows the code.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import trio

from tests.trioflix.live.test_rtmp_robustness import publishing_client

if TYPE_CHECKING:
    from tests.conftest import RedisServer, Server
    from trioflix.config import Settings

pytestmark = pytest.mark.slow

ARCHITECTURE = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"
SERVICES_TASK = "trioflix.services.run_services"
# A tree line: drawing characters, then the task's name, then what it does.
_TREE_LINE = re.compile(r"^(?P<indent>[│ ]*)[├└]─ (?P<name>\S+)")

TaskPath = tuple[str, ...]


def documented_paths() -> set[TaskPath]:
    """The names on the way from ``run_services`` down to each line of the tree under it."""
    text = ARCHITECTURE.read_text()
    section = text.split("## The nursery tree", 1)[1]
    block = section.split("```", 2)[1]
    paths = set()
    stack: list[str] = []
    for line in block.splitlines():
        match = _TREE_LINE.match(line)
        if match is None:
            continue
        depth = len(match["indent"]) // 3
        stack[depth:] = [match["name"]]
        if "run_services" in stack:
            paths.add(tuple(stack[stack.index("run_services") :]))
    return paths


def running_paths() -> set[TaskPath]:
    """The trioflix tasks from ``run_services`` down, each as the trioflix task names
    on its way there (other libraries' tasks in between are skipped)."""
    paths: set[TaskPath] = set()

    def walk(task: trio.lowlevel.Task, path: TaskPath) -> None:
        if task.name.startswith("trioflix.") and (path or task.name == SERVICES_TASK):
            path = (*path, task.name)
            paths.add(path)
        for nursery in task.child_nurseries:
            for child in nursery.child_tasks:
                walk(child, path)

    root = trio.lowlevel.current_root_task()
    assert root is not None  # always, inside trio.run
    walk(root, ())
    return paths


def _names(full: str, documented: str) -> bool:
    return full == documented or full.endswith(f".{documented}")


def undocumented(running: set[TaskPath], documented: set[TaskPath]) -> list[str]:
    return sorted(
        " > ".join(path)
        for path in running
        if not any(len(doc) == len(path) and all(map(_names, path, doc)) for doc in documented)
    )


# A cluster of one: Redis (for chat and membership) needs PostgreSQL.
@pytest.fixture
def backend() -> str:
    return "postgresql"


@pytest.fixture
def settings(settings: Settings, redis_server: RedisServer) -> Settings:
    return settings.replace(redis_url=redis_server.url, advertise_url="http://127.0.0.1:8000")


async def _wait_for_tasks(*suffixes: str) -> set[TaskPath]:
    """The running tasks once one of each of ``suffixes`` runs at the same time."""
    with trio.fail_after(10):
        while True:
            paths = running_paths()
            if all(any(path[-1].endswith(suffix) for path in paths) for suffix in suffixes):
                return paths
            await trio.sleep(0.05)


async def test_the_nursery_tree_names_every_service_task(server: Server) -> None:
    documented = documented_paths()
    assert ("run_services", "Webhooks.run") in documented  # the tree was found

    client, _ = await publishing_client(server, "alice")
    # The session's HLS writer starts a moment after its supervisor: wait for both.
    live = await _wait_for_tasks("StreamRegistry._supervise", "HLSSession._announce_master")
    await client.aclose()
    dropped = await _wait_for_tasks("StreamRegistry._grace_timer")
    running = live | dropped

    # What runs whatever the settings, and what the publisher started, was seen.
    for name in (
        "Webhooks.run",
        "ReadClock.run",
        "chat.metrics.expose",
        "JobWorkers.run",
        "run_housekeeping",
        "RedisBus.run",
        "HLSSession._announce_master",
        "Site.run",
        "heartbeat",
        "Site._hold_origin",
    ):
        assert any(path[-1].endswith(f".{name}") for path in running), name
    missing = undocumented(running, documented)
    assert not missing, "not in docs/architecture.md's nursery tree:\n" + "\n".join(missing)
