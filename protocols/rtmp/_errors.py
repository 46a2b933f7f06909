"""Exceptions (h11 model: internally only LocalProtocolError is raised)."""

from __future__ import annotations

__all__ = ["LocalProtocolError", "RTMPError", "RemoteProtocolError"]


class RTMPError(Exception):
    """Base class of :mod:`protocols.rtmp` errors.

    Attributes:
        status_hint: A NetConnection/NetStream status code worth sending to the
            peer before closing (e.g. ``"NetConnection.Call.BadVersion"`` for an
            undecodable command), or ``None`` when the byte stream itself is broken
            and nothing more should be sent: just close the socket.
    """

    def __init__(self, message: str, *, status_hint: str | None = None) -> None:
        super().__init__(message)
        self.status_hint = status_hint


class LocalProtocolError(RTMPError):
    """We (the caller of this connection) tried to do something RTMP forbids.

    Raised by :meth:`Connection.send` and friends; nothing was queued, and the
    connection is still usable.
    """


class RemoteProtocolError(RTMPError):
    """The peer violated RTMP. Raised by :meth:`Connection.next_event`.

    The connection's state becomes ``ERROR`` and every later ``next_event`` raises
    again: close the transport (after sending ``status_hint`` if you like).
    """
