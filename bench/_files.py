"""The files a benchmark sends, and how much disk a server's folder takes meanwhile."""

from __future__ import annotations

import contextlib
import os
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path
    from types import TracebackType

__all__ = ["DiskPeak", "disk_used", "make_random_file"]

MIB = 1024 * 1024
WRITE_BLOCK_BYTES = 64 * MIB  # memory the writer holds at a time
DISK_SAMPLE_S = 0.02  # a part file lives for tens of milliseconds at least


def make_random_file(path: Path, size: int) -> None:
    """``size`` random bytes (incompressible, as video is), fsynced."""
    with path.open("wb") as out:
        for at in range(0, size, WRITE_BLOCK_BYTES):
            out.write(os.urandom(min(WRITE_BLOCK_BYTES, size - at)))
        out.flush()
        os.fsync(out.fileno())


def disk_used(root: Path) -> int:
    """Bytes of disk the files under ``root`` take (allocated blocks, as ``du``)."""
    total = 0
    todo = [str(root)]
    while todo:
        # Files come and go while a server runs: a vanished one counts nothing.
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            with os.scandir(todo.pop()) as entries:
                for entry in entries:
                    with contextlib.suppress(FileNotFoundError):
                        if entry.is_dir(follow_symlinks=False):
                            todo.append(entry.path)
                        else:
                            total += entry.stat(follow_symlinks=False).st_blocks * 512
    return total


class DiskPeak:
    """The most disk the files under some folders took together, sampled in a thread.

    ``with DiskPeak([folder]) as disk: ...``; then ``disk.peak`` (bytes, over
    the block) and ``disk.start`` (bytes when it began).
    """

    def __init__(self, roots: list[Path]) -> None:
        self.roots = roots
        self.start = 0
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _used(self) -> int:
        return sum(disk_used(root) for root in self.roots)

    def _sample(self) -> None:
        while not self._stop.wait(DISK_SAMPLE_S):
            self.peak = max(self.peak, self._used())

    def __enter__(self) -> DiskPeak:
        self.start = self.peak = self._used()
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._used())
