"""trioflix: a live-streaming and video platform server on Trio."""

__version__ = "0.1.0"
