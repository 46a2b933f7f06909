"""The C allocator's policy for a server process (docs/architecture.md, "Memory").

A long-running server allocates and frees large transient buffers (FLV keyframes,
HLS segments, request bodies) from the Trio thread and from worker threads that come
and go. glibc's defaults keep what such a peak took: here it is given back, by the policy
:func:`tune_malloc` sets at start and by :func:`release_free_memory`, a service task
that returns the free pages inside the heap to the kernel now and then.
"""

from __future__ import annotations

import ctypes
import gc
import os
from typing import Final

import trio

__all__ = [
    "MALLOC_ARENAS",
    "MALLOC_MMAP_THRESHOLD_BYTES",
    "TRIM_INTERVAL_S",
    "release_free_memory",
    "trim_malloc",
    "tune_malloc",
    "tuned",
]

# glibc malloc's arenas: the main one and one that the worker threads share. By
# default every new thread gets an arena of its own, up to 8 per core, and each one
# keeps what was freed in it: in the soak, worker threads that come and go (file I/O,
# hashing, a thumbnail's decode) took their arenas from 4 to 23 MiB resident.
MALLOC_ARENAS: Final = 2
# Blocks this large or larger are mapped on their own and unmapped when freed. It is
# glibc's starting value; setting it turns off glibc raising it after each large
# block is freed (up to 32 MiB), after which large transient buffers (FLV keyframes,
# HLS segments, request bodies) came from the heap and stayed in it.
MALLOC_MMAP_THRESHOLD_BYTES: Final = 128 * 1024
_M_MMAP_THRESHOLD: Final = -3  # <malloc.h>
_M_ARENA_MAX: Final = -8
# How often the free pages inside the heaps go back to the kernel. glibc only gives
# back the top of the main heap, and a block still in use above a freed peak keeps
# the whole peak resident: in the soak the main heap grew in a step with each load
# segment, and what was free in it stayed resident (docs/reliability.md). A trim of a
# heap of some tens of MiB takes about a millisecond, in a worker thread.
TRIM_INTERVAL_S: Final = 60.0
_tuned = False  # tune_malloc ran: this process is a server's


def tune_malloc() -> None:
    """C allocator policy for a server process: call once, before any thread starts.

    Limits glibc malloc to :data:`MALLOC_ARENAS` arenas and fixes its mmap threshold
    at :data:`MALLOC_MMAP_THRESHOLD_BYTES`, so that memory a load peak took goes back
    to the kernel instead of staying in the process: without it the soak's RSS grew
    with every load segment (docs/reliability.md). A setting the environment makes
    (``MALLOC_ARENA_MAX``, ``MALLOC_MMAP_THRESHOLD_``, which glibc reads at start-up) is
    left to it. A C library without ``mallopt`` (not glibc) is left as it is.
    Process-wide, so only the process entry points call it (``trioflix serve``,
    ``trioflix.asgi``), as ``trioflix.server.tune_gc``.
    """
    global _tuned  # the process-wide policy is module state
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    _tuned = True
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    if "MALLOC_ARENA_MAX" not in os.environ:
        mallopt(_M_ARENA_MAX, MALLOC_ARENAS)
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        mallopt(_M_MMAP_THRESHOLD, MALLOC_MMAP_THRESHOLD_BYTES)


def tuned() -> bool:
    """Whether :func:`tune_malloc` set this process's policy (a server process on glibc).

    The services start :func:`release_free_memory` only then: its full collections
    are the server's policy, not that of a process that hosts an app among other work
    (a test run: a collection there scans every test's objects, on the event loop).
    """
    return _tuned


def trim_malloc() -> bool:
    """Give the whole free pages inside glibc's heaps back to the kernel.

    ``malloc_trim(0)``: unlike the trim glibc does by itself, which only shortens
    the main heap from its top, it also releases free pages in the middle of every
    arena (``MADV_DONTNEED``), which a block still in use above them otherwise keeps
    resident. Blocking (it walks each arena's free blocks under the arena's lock):
    call it from a worker thread.

    Returns:
        Whether any memory was released; ``False`` too without glibc.
    """
    try:
        malloc_trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return False
    malloc_trim.argtypes = [ctypes.c_size_t]
    malloc_trim.restype = ctypes.c_int
    return bool(malloc_trim(0))


async def release_free_memory(
    interval_s: float = TRIM_INTERVAL_S,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Every ``interval_s``, a full garbage collection, then :func:`trim_malloc` in a
    worker thread (a service task).

    Runs until cancelled. Memory that load peaks left free inside the heaps goes back
    to the kernel within ``interval_s`` instead of staying with the process. The
    collection comes first because a server's cyclic garbage (an exception's traceback
    and the frames it holds, with their buffers) waits for the oldest generation,
    which with ``trioflix.server.tune_gc``'s thresholds comes rarely and not at all
    once load stops: until then its blocks pin the heap's pages.
    """
    task_status.started()
    while True:
        await trio.sleep(interval_s)
        gc.collect()
        await trio.to_thread.run_sync(trim_malloc)
