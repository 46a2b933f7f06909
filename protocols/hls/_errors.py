"""The one error type of :mod:`protocols.hls`."""

from __future__ import annotations

__all__ = ["HLSError"]


class HLSError(ValueError):
    """Media that cannot be muxed (corrupt frames or codec records), or an invalid playlist
    entry. A :class:`ValueError`, so callers that treat any bad input alike may catch that.
    """
