"""A small file system for tests that need a disk to fill up (a real ``ENOSPC``)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from pathlib import Path

__all__ = ["bytes_on_disk", "small_disk"]


def bytes_on_disk(paths: Iterable[Path]) -> int:
    """The summed sizes of ``paths``, of a directory a server is writing into: a file
    renamed or deleted between listing it and reading its size counts nothing."""
    total = 0
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            total += path.stat().st_size
    return total


@contextmanager
def small_disk(target: Path, size: str) -> Iterator[Path]:
    """Mount a tmpfs of ``size`` (``"4m"``) on ``target`` for the block; needs root,
    as CI has. Remount with ``mount -o remount,size=...`` to give space back."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    target.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(target)], check=True)
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False)
