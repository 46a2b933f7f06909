"""The files a benchmark sends."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["make_random_file"]

MIB = 1024 * 1024
WRITE_BLOCK_BYTES = 64 * MIB  # memory the writer holds at a time


def make_random_file(path: Path, size: int) -> None:
    """``size`` random bytes (incompressible, as video is), fsynced."""
    with path.open("wb") as out:
        for at in range(0, size, WRITE_BLOCK_BYTES):
            out.write(os.urandom(min(WRITE_BLOCK_BYTES, size - at)))
        out.flush()
        os.fsync(out.fileno())
