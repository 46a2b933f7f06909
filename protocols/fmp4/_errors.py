"""The one error type of :mod:`protocols.fmp4`."""

from __future__ import annotations

__all__ = ["FMP4Error"]


class FMP4Error(ValueError):
    """Media that cannot be muxed into fragmented MP4: a codec record a sample entry cannot
    carry, a corrupt sample, decode times that run backwards, or a fragment over its bound.

    It is a :class:`ValueError` so callers that treat any bad input alike may catch that.
    """
