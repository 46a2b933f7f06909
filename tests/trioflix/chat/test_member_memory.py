"""What a connected chat member keeps for as long as it stays: not its welcome.

A welcome carries the room's history (up to ``ChatLimits.history`` messages, some
100 KiB in a busy room). Kept by the connection's task for its whole life, 500
members of busy rooms held 50 MiB that nothing would read again: the soak's
resident memory under load grew as rooms' histories filled (docs/reliability.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import trio

from .helpers import chat

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.conftest import Server

pytestmark = pytest.mark.parametrize("server", ["direct", "asgi"], indirect=True)

MESSAGES = 40
TEXT = "x" * 400  # a long line of chat; 40 of them make a welcome of some 20 KiB


def all_tasks() -> Iterator[trio.lowlevel.Task]:
    pending = [trio.lowlevel.current_root_task()]
    while pending:
        task = pending.pop()
        assert task is not None
        yield task
        for nursery in task.child_nurseries:
            pending.extend(nursery.child_tasks)


def frame_locals(task: trio.lowlevel.Task) -> Iterator[Any]:
    """The local variables of every frame a task is suspended in."""
    awaited: Any = task.coro
    while awaited is not None:
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "ag_frame", None)
        if frame is not None:
            yield from frame.f_locals.values()
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "ag_await", None)


async def test_a_member_does_not_keep_its_welcome(server: Server) -> None:
    alice, _ = await server.register("alice")
    with trio.fail_after(30):
        async with chat(server.url, "alice", alice) as (owner, _):
            for _ in range(MESSAGES):
                await owner.say(TEXT)
            async with chat(server.url, "alice") as (_, welcome):
                assert len(welcome["history"]) == MESSAGES
                await trio.sleep(0.1)  # the member's tasks are waiting for the room
                kept = [
                    (task.name, len(value))
                    for task in all_tasks()
                    for value in frame_locals(task)
                    if isinstance(value, str) and '"type":"welcome"' in value
                ]
    assert kept == []
