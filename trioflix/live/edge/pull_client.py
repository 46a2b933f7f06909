"""The edge's side of an internal pull: one HTTP/1.1 ``GET`` on a connection of its own.

An edge reads its pull for as long as the channel is live, one read per batch the
origin sends (some 70 a second for a 3 Mbit/s stream: the origin sends each read of
its publisher at once). Through an HTTP client library's streaming path (httpx over
httpcore) every one of those reads passes several async iterators, a ``recv`` tried
first that mostly fails (the data has not arrived yet) and its exception, and a
context manager per layer. Here a read is one wait for the socket and one ``readv``
into a buffer large enough for everything that has arrived, and h11 frames the
answer's head and a chunked body (hypercorn's). The body of ``trioflix serve``'s
direct route ends with the connection: it is the bytes as read, without h11.

A read interval (``TRIOFLIX_EDGE_READ_INTERVAL_MS``) paces the reads of the body so
that the edge wakes, and writes its viewers, about once per interval or less, without a
timer that fires at every read: waking costs a process more than the read itself
(docs/benchmarks.md, "Cluster"). The kernel does the waiting: the socket's low-water
mark (``SO_RCVLOWAT``) is set to three quarters of what the stream brings in an
interval (its rate over the last second), so the socket becomes readable once that
much has arrived. A video frame of a 30 fps stream is about that much or more, and the
audio between frames less, so the reads follow the frames: a frame is read as it
arrives and the audio before it rides along. Two intervals after a read the next takes
whatever has come meanwhile (a deadline that fires only when the stream brings less
than the mark: a pause, audio only, small frames; and in the pull's first second, while
the rate is not known yet), so no byte waits longer than that.
A read that finds nothing waits for data as without pacing, and a large read (the
sender is ahead: a keyframe, a catch-up) is followed at once by the next, so that the
bytes waiting never fill the socket's receive window and hold the origin back. Over TLS
(trio decrypts: the socket's bytes are not the stream's) a read sleeps until one
interval has passed since the last, then takes all that arrived.
"""

from __future__ import annotations

import math
import os
import socket as stdlib_socket
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import h11
import trio

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["PullError", "PullResponse", "open_pull"]

# Everything that arrived since the last read, in one read: at 3 Mbit/s a keyframe of
# a few hundred kilobytes is the most that waits (one buffer per pull, one pull per
# relayed channel).
RECEIVE_BYTES = 256 * 1024
MAX_HEAD_BYTES = 16 * 1024  # the origin's answer head is a few hundred bytes
# A paced read that brings this much is behind: the next one reads as data arrives. A
# fresh TCP connection's receive window is ~64 KiB; 3 Mbit/s brings 7.3 KiB per 20 ms
# interval (the same threshold as the RTMP read clock's publishers).
CATCH_UP_READ_BYTES = 32 * 1024
# The stream's rate is measured over this long to set the low-water mark: long enough
# to hold a few frames, short enough to follow a bitrate change within a second or two.
RATE_WINDOW_S = 1.0
# A read is due once this share of an interval's bytes has arrived, or two intervals
# after the previous read. Three quarters: most frames of a 30 fps stream reach it (for
# the benchmark's 3 Mbit/s sample, all but 1% of its video frames; their audio never
# does), so the reads follow the frames; a 60 fps stream's frames mostly do not, so
# two of them make a read (docs/cluster.md).
LOW_WATER_SHARE = 0.75


class PullError(Exception):
    """The pull's connection failed or its answer is not HTTP/1.1."""


class PullResponse:
    """The origin's answer to a pull: its head, then its body as it arrives.

    Resource handling:
        Owns the connection; :meth:`aclose` closes it.
    """

    def __init__(self, stream: trio.SocketStream | trio.SSLStream[trio.SocketStream]) -> None:
        self._stream = stream
        self._conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_BYTES)
        self.status = 0
        #: The answer's headers, names in lower case (the last of a repeated one).
        self.headers: dict[str, str] = {}
        self._raw = False  # a close-delimited body: read past h11
        self._ended = False  # h11 gave the body's end
        self._leftover = b""  # what came with the head
        self._buffers = [memoryview(bytearray(RECEIVE_BYTES))]  # what readv reads into
        self._read_interval = 0.0  # paces the body's reads (see the module's docstring)
        self._next_read = -math.inf  # trio time before which the socket is not read
        # The bytes a paced read waits for (SO_RCVLOWAT); until the stream's rate is
        # known, only a read that would catch up.
        self._low_water = CATCH_UP_READ_BYTES
        self._socket_low_water = 1  # what the socket has now (1: the kernel's default)
        self._rate_since = -math.inf  # the rate window's start (trio time)
        self._rate_bytes = 0  # read since then

    async def receive(self) -> bytes:
        """The body's next bytes, all that have arrived; ``b""`` once it has ended.

        Raises:
            PullError: the connection broke, or the body ended before its framing did.
        """
        if self._raw:
            if data := self._leftover:
                self._leftover = b""
                return data
            return await self._read()
        if self._ended:
            return b""
        event = await self._next_event()
        if not isinstance(event, h11.Data):
            return b""  # EndOfMessage: the origin ended the pull
        # The chunks of the same read too, so that the caller handles them as one batch.
        chunks = [event.data]
        while isinstance(more := self._parsed(), h11.Data):
            chunks.append(more.data)
        self._ended = isinstance(more, h11.EndOfMessage)
        return b"".join(chunks)

    async def aclose(self) -> None:
        """Close the connection at once (a checkpoint; safe under cancellation)."""
        await trio.aclose_forcefully(self._stream)

    async def _send_request(
        self, url: str, headers: Mapping[str, str], read_interval: float
    ) -> None:
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        request = h11.Request(
            method="GET", target=target, headers=[("host", parts.netloc), *headers.items()]
        )
        data = self._conn.send(request) + (self._conn.send(h11.EndOfMessage()) or b"")
        try:
            await self._stream.send_all(data)
        except trio.BrokenResourceError as exc:
            raise PullError(f"cannot send the pull: {exc}") from None
        event = await self._next_event()
        if not isinstance(event, h11.Response):  # an InformationalResponse: not ours
            raise PullError(f"unexpected answer from the origin: {event!r}")
        self.status = event.status_code
        self.headers = {
            name.decode("latin-1"): value.decode("latin-1") for name, value in event.headers
        }
        # No length and not chunked: the body is every byte until the connection closes
        # (RFC 9112 6.3), and h11 would only wrap each read in an event.
        if "content-length" not in self.headers and "transfer-encoding" not in self.headers:
            self._raw = True
            self._leftover = self._conn.trailing_data[0]
        self._read_interval = read_interval  # the body's reads, not the head's

    async def _next_event(self) -> h11.Event:
        while (event := self._parsed()) is None:
            await self._receive()
        return event

    def _parsed(self) -> h11.Event | None:
        """The next event in what has been read (``None``: it needs more bytes)."""
        try:
            event = self._conn.next_event()
        except h11.RemoteProtocolError as exc:
            raise PullError(f"the origin's answer does not parse: {exc}") from None
        if isinstance(event, h11.Event):
            return event
        if event is h11.PAUSED:  # bytes after the end of the answer
            raise PullError("the origin sent more than its answer")
        return None

    async def _receive(self) -> None:
        """Hand h11 everything that has arrived (waiting for something if need be)."""
        self._conn.receive_data(await self._read())

    async def _read(self) -> bytes:
        """Everything that has arrived (waiting for something if need be, and for the
        read to be due); ``b""`` at EOF."""
        if not self._read_interval:
            return await self._read_now()
        stream = self._stream
        if isinstance(stream, trio.SocketStream):
            data = await self._read_paced(stream.socket)
            self._measure_rate(len(data))
            wait = 2 * self._read_interval  # at the latest: the low-water mark comes first
        else:
            if self._next_read > trio.current_time():
                await trio.sleep_until(self._next_read)
            data = await self._read_now()
            wait = self._read_interval
        if len(data) < CATCH_UP_READ_BYTES:
            self._next_read = trio.current_time() + wait
        return data

    def _measure_rate(self, size: int) -> None:
        """Count a read's ``size``; once per :data:`RATE_WINDOW_S`, set the low-water
        mark from the stream's rate."""
        now = trio.current_time()
        self._rate_bytes += size
        if now - self._rate_since < RATE_WINDOW_S:
            return
        if self._rate_since > -math.inf:
            per_interval = self._rate_bytes * self._read_interval / (now - self._rate_since)
            self._low_water = max(1, min(int(per_interval * LOW_WATER_SHARE), CATCH_UP_READ_BYTES))
        self._rate_since, self._rate_bytes = now, 0

    async def _read_paced(self, socket: trio.socket.SocketType) -> bytes:
        """The next read of the body on the socket, once it is due: the low-water mark
        has been reached, or the deadline has passed and something has arrived."""
        if self._next_read > trio.current_time():
            self._set_low_water(socket, self._low_water)
            with trio.move_on_at(self._next_read):
                await trio.lowlevel.wait_readable(socket)
        else:
            await trio.lowlevel.checkpoint()
        try:
            return self._readv(socket)
        except BlockingIOError:  # nothing yet: the first byte to come is read at once
            self._set_low_water(socket, 1)
            return await self._read_now()

    def _set_low_water(self, socket: trio.socket.SocketType, size: int) -> None:
        if size != self._socket_low_water:
            socket.setsockopt(stdlib_socket.SOL_SOCKET, stdlib_socket.SO_RCVLOWAT, size)
            self._socket_low_water = size

    async def _read_now(self) -> bytes:
        stream = self._stream
        if not isinstance(stream, trio.SocketStream):  # TLS: trio decrypts
            try:
                return bytes(await stream.receive_some(RECEIVE_BYTES))
            except trio.BrokenResourceError as exc:
                raise PullError(f"the pull's connection broke: {exc}") from None
        socket = stream.socket
        while True:
            await trio.lowlevel.wait_readable(socket)
            try:
                return self._readv(socket)
            except BlockingIOError:
                continue  # woken for nothing: wait again

    def _readv(self, socket: trio.socket.SocketType) -> bytes:
        """What has arrived, without waiting.

        Raises:
            BlockingIOError: nothing has.
            PullError: the connection broke.
        """
        try:
            count = os.readv(socket.fileno(), self._buffers)
        except BlockingIOError:
            raise
        except OSError as exc:
            raise PullError(f"the pull's connection broke: {exc}") from None
        return bytes(self._buffers[0][:count])  # the buffer is read into again


async def open_pull(
    url: str, headers: Mapping[str, str], *, read_interval: float = 0.0
) -> PullResponse:
    """Connect to the host of ``url`` (``http`` or ``https``), ask for it, and read
    the answer's head.

    Args:
        url: What to ``GET``, as :func:`~trioflix.live.edge.pull.pull_url` makes it.
        headers: Request headers besides ``Host``.
        read_interval: Seconds that pace the reads of the body, as the module says
            (0: read as data arrives).

    Raises:
        PullError: the host cannot be reached, or its answer is not HTTP/1.1.

    Resource handling:
        The caller owns the answer's connection (close it with
        :meth:`PullResponse.aclose`); on error, none is left open. Time limits are
        the caller's (a cancel scope around the call).
    """
    parts = urlsplit(url)
    https = parts.scheme == "https"
    host = parts.hostname or ""
    port = parts.port or (443 if https else 80)
    stream: trio.SocketStream | trio.SSLStream[trio.SocketStream]
    try:
        if https:
            stream = await trio.open_ssl_over_tcp_stream(host, port)
        else:
            stream = await trio.open_tcp_stream(host, port)
    except OSError as exc:
        raise PullError(f"cannot connect to {parts.netloc}: {exc}") from None
    response = PullResponse(stream)
    try:
        await response._send_request(url, headers, read_interval)
    except BaseException:
        await response.aclose()
        raise
    return response
