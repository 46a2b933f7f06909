"""The one error type of :mod:`protocols.flv`."""

from __future__ import annotations

__all__ = ["FLVError"]


class FLVError(ValueError):
    """Malformed or unsupported FLV data: a file header, a tag, a tag body or a codec record.

    It is a :class:`ValueError` so callers that treat any bad input alike may catch that.
    """
