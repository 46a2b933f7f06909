"""The file being uploaded: read by offset, in blocks, watched for changes."""

from __future__ import annotations

import hashlib
import os
from stat import S_ISREG
from typing import TYPE_CHECKING

from trioflix.client.errors import UploadError

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

__all__ = ["SourceFile"]

IO_BLOCK = 1024 * 1024  # read and send the file in blocks of this size


class SourceFile:
    """The file being uploaded, read by offset; notices if it changes."""

    def __init__(self, path: Path) -> None:
        self.path = path.resolve()
        self._fd = os.open(self.path, os.O_RDONLY)
        stat = os.fstat(self._fd)
        if not S_ISREG(stat.st_mode):
            os.close(self._fd)
            raise UploadError(f"{self.path} is not a regular file")
        self.size = stat.st_size
        self.mtime_ns = stat.st_mtime_ns

    def close(self) -> None:
        """Close the file."""
        os.close(self._fd)

    def check_unchanged(self) -> None:
        """Raise :class:`UploadError` if the file's size or modification time moved."""
        stat = os.fstat(self._fd)
        if (stat.st_size, stat.st_mtime_ns) != (self.size, self.mtime_ns):
            raise UploadError(f"{self.path} changed while it was being uploaded")

    def blocks(self, start: int, length: int, block: int = IO_BLOCK) -> Iterator[bytes]:
        """``length`` bytes from ``start``, in blocks of at most ``block`` bytes."""
        end = start + length
        while start < end:
            data = os.pread(self._fd, min(block, end - start), start)
            if not data:
                raise UploadError(f"{self.path} got shorter while it was being uploaded")
            start += len(data)
            yield data

    def digest(self, algorithm: str, start: int, length: int) -> bytes:
        """The ``algorithm`` hash of ``length`` bytes from ``start``, read in blocks."""
        hasher = hashlib.new(algorithm, usedforsecurity=False)
        for data in self.blocks(start, length):
            hasher.update(data)
        return hasher.digest()
