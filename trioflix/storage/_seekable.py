"""The position bookkeeping of a blocking, seekable, read-only file that is no real file.

Several readers hand bytes that are not an open file to code that wants one:
a range of a file or a buffer in memory as the body boto3 sends
(``trioflix.storage._s3``), an object in the store for the decoder
(:class:`trioflix.uploads.playable.StoredFile`). They share
:class:`SeekableReader` and implement ``readinto`` from :attr:`~SeekableReader.position`.
"""

from __future__ import annotations

import io

__all__ = ["SeekableReader"]


class SeekableReader(io.RawIOBase):
    """A readable, seekable file of ``size`` bytes; subclasses read from :attr:`position`.

    Seeks land as on a Python file: a negative position is a ``ValueError``, one
    past the end is kept (and reads there return nothing). A subclass that wants
    otherwise overrides :meth:`_land`.

    Args:
        size: The file's length, what ``SEEK_END`` counts from.
    """

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size
        self.position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = self._land(base + offset)
        return self.position

    def _land(self, position: int) -> int:
        """Where a seek to ``position`` leaves the file."""
        if position < 0:
            raise ValueError("negative seek position")
        return position
