"""Run a job function in a child process and follow its JSON-lines protocol.

The parent never blocks on the child: it reads progress lines as they come,
keeps only the tail of stderr for error messages, and on cancellation (job
cancelled, server stopping) trio terminates the child, then kills it. The child
runs in a session of its own, so that a signal to the server's process group (a
terminal's Ctrl-C) reaches only the server, which stops the child itself.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import trio

from trioflix.jobs.child import EXIT_PERMANENT, NICE_INCREMENT

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Awaitable, Callable

__all__ = ["JobFailed", "run_job_process"]

MAX_LINE_BYTES = 1024 * 1024  # a result line (probe data, renditions) is a few KiB
STDERR_TAIL_BYTES = 4096  # enough for the last traceback frames


@dataclass
class JobFailed(Exception):
    """The job did not succeed. ``permanent``: retrying cannot help."""

    reason: str
    permanent: bool = False

    def __str__(self) -> str:
        return self.reason


async def _read_lines(stream: trio.abc.ReceiveStream) -> AsyncGenerator[bytes, None]:
    buffer = bytearray()
    async for chunk in stream:
        buffer.extend(chunk)
        while (end := buffer.find(b"\n")) >= 0:
            line = bytes(buffer[:end])
            del buffer[: end + 1]
            yield line
        if len(buffer) > MAX_LINE_BYTES:
            raise JobFailed("the job process wrote an over-long line")


async def run_job_process(
    target: str,
    payload: dict[str, Any],
    on_progress: Callable[[float], Awaitable[None]],
    *,
    nice: int = NICE_INCREMENT,
    memory_limit: int | None = None,
) -> dict[str, Any]:
    """Run ``target`` (``"module:function"``) on ``payload`` in a low-priority child.

    Args:
        target: The job function, ``"module:function"``.
        payload: Its JSON argument.
        on_progress: Called with each progress fraction the function reports.
        nice: How much the child lowers its CPU priority; 0 for work of a fraction of a
            CPU-second that someone waits on, which must not queue behind transcodes
            for the CPU.
        memory_limit: Bytes of address space the child may use (``None``: no limit).

    Returns:
        The function's result.

    Raises:
        JobFailed: The child reported a permanent error, crashed, or broke the protocol.
    """
    result: dict[str, Any] | None = None
    error: JobFailed | None = None
    stderr_tail = bytearray()

    async def collect_stderr(stream: trio.abc.ReceiveStream) -> None:
        async for chunk in stream:
            stderr_tail.extend(chunk)
            del stderr_tail[:-STDERR_TAIL_BYTES]

    async with trio.open_nursery() as nursery:
        process: trio.Process = await nursery.start(
            partial(
                trio.run_process,
                [
                    sys.executable,
                    "-m",
                    "trioflix.jobs.child",
                    target,
                    str(nice),
                    *([] if memory_limit is None else [str(memory_limit)]),
                ],
                stdin=json.dumps(payload).encode(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                check=False,
                # Out of the server's process group: a terminal's Ctrl-C is for the
                # server to act on (its shutdown stops the child and hands the job
                # back), not a crash of the child that would use up an attempt.
                start_new_session=True,
            )
        )
        assert process.stdout is not None and process.stderr is not None
        nursery.start_soon(collect_stderr, process.stderr)
        lines = _read_lines(process.stdout)
        try:
            async for line in lines:
                message = json.loads(line)
                if "progress" in message:
                    await on_progress(float(message["progress"]))
                elif "result" in message:
                    result = message["result"]
                elif "error" in message:
                    error = JobFailed(str(message["error"]), bool(message.get("permanent")))
        finally:
            await lines.aclose()
    if error is not None:
        raise error
    if process.returncode != 0 or result is None:
        tail = stderr_tail.decode("utf-8", errors="replace").strip().splitlines()
        last = tail[-1] if tail else "no output"
        status = process.returncode
        assert status is not None  # run_process has waited for it
        if status < 0:
            # Killed: by an operator, or by the kernel's OOM killer (SIGKILL).
            ended = f"was killed by {signal.Signals(-status).name}"
        else:
            ended = f"exited with status {status}"
        raise JobFailed(f"the job process {ended}: {last}", permanent=status == EXIT_PERMANENT)
    return result
