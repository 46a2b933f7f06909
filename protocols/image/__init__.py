"""Image file headers, sans-IO: the format and pixel size of a PNG, GIF, WebP or JPEG.

Only the header is read, never a pixel: enough to know what an uploaded image is
(its type from its signature, not from what the client says) and how large it is,
before anything stores or shows it::

    header = image.read_header(data)   # ImageError if it is none of the four
    header.content_type, header.width, header.height
"""

from __future__ import annotations

from ._header import FORMATS as FORMATS
from ._header import ImageError as ImageError
from ._header import ImageHeader as ImageHeader
from ._header import read_header as read_header

__all__ = ["FORMATS", "ImageError", "ImageHeader", "read_header"]
