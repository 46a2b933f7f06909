"""The C allocator's policy for a server process (docs/architecture.md, "Memory").

A long-running server allocates and frees large transient buffers (FLV keyframes,
HLS segments, request bodies) from the Trio thread and from worker threads that come
and go. glibc's defaults keep what such a peak took: here it is given back.
"""

from __future__ import annotations

import ctypes
import os
from typing import Final

__all__ = ["MALLOC_ARENAS", "MALLOC_MMAP_THRESHOLD_BYTES", "tune_malloc"]

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
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    if "MALLOC_ARENA_MAX" not in os.environ:
        mallopt(_M_ARENA_MAX, MALLOC_ARENAS)
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        mallopt(_M_MMAP_THRESHOLD, MALLOC_MMAP_THRESHOLD_BYTES)
