"""trioflix: a live-streaming and video platform server on Trio."""

from trioflix.version import VERSION as __version__

__all__ = ["__version__"]
