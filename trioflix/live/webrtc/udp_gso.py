"""A viewer's datagrams, several in one system call: UDP generic segmentation offload.

On Linux (4.18 on), one ``sendmsg`` with a ``UDP_SEGMENT`` ancillary item sends a
buffer as datagrams of the given size each, the last possibly shorter, to one
address: the kernel cuts it (on loopback too), and the sender's way through the
socket layer, the routing and the netfilter hooks is paid once for the lot. A
video frame's RTP packets are nearly all of one size (each NAL unit's FU-A
fragments, :func:`~protocols.rtp_h264.even_fragments`), so a frame leaves in a
handful of calls instead of one ``sendto`` per packet (3 for a 720p frame of 11
packets in two slices; :mod:`trioflix.live.webrtc.rtp_sender`).

:class:`SegmentedSender` writes on its own duplicate of the asyncio transport's
socket (the transport's ``socket`` is for inspection only) and leaves to the
transport's ``sendto`` every datagram it does not send itself: a lone datagram, a
TURN relay's (no socket of ours to write on), everything while the transport has
datagrams queued (so nothing overtakes them), and a run the kernel did not take
(the socket's buffer full: the transport queues it, as it always has; any other
error: the transport reports it to the protocol, as before). A kernel that
refuses ``UDP_SEGMENT`` before it took a run gets per-datagram sends for good, with
one INFO line in the log.
"""

from __future__ import annotations

import errno
import logging
import platform
import struct
import sys
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import socket
    from collections.abc import Iterator

__all__ = [
    "MAX_BYTES",
    "MAX_SEGMENTS",
    "SOL_UDP",
    "UDP_SEGMENT",
    "DatagramTransport",
    "SegmentedSender",
    "runs",
]

logger = logging.getLogger(__name__)

SOL_UDP = 17
UDP_SEGMENT = 103
MAX_SEGMENTS = 64  # the kernel's UDP_MAX_SEGMENTS
# An IPv4 datagram's 65535 bytes, less the IP and UDP headers: what one call sends.
MAX_BYTES = 65_507
# What a kernel without UDP GSO, or a socket it cannot use it on, answers.
REFUSED = frozenset({errno.EINVAL, errno.ENOPROTOOPT, errno.EIO})
_SEGMENT_SIZE = struct.Struct("=H")


class DatagramTransport(Protocol):
    """What a sender uses of an asyncio datagram transport (asyncio's own has a write
    buffer; a TURN relay's has no socket, and the sender never asks for its buffer)."""

    def get_extra_info(self, name: str, default: Any = None) -> Any: ...
    def sendto(self, data: bytes, addr: Any = None, /) -> None: ...
    def get_write_buffer_size(self) -> int: ...


def _kernel_segments() -> bool:
    """Whether this kernel has ``UDP_SEGMENT`` (Linux 4.18 on); an older one would
    not refuse it, but send the whole buffer as one datagram."""
    if sys.platform != "linux":
        return False
    release = platform.release().split(".")
    try:
        return (int(release[0]), int(release[1])) >= (4, 18)
    except (IndexError, ValueError):
        return False


def runs(datagrams: list[bytes]) -> Iterator[list[bytes]]:
    """``datagrams`` in order, cut into runs that one call can send: each of the
    first one's size, but the last, which may be shorter; at most
    :data:`MAX_SEGMENTS` datagrams and :data:`MAX_BYTES` bytes."""
    run: list[bytes] = []
    size = total = 0
    for datagram in datagrams:
        length = len(datagram)
        if run and (length > size or len(run) == MAX_SEGMENTS or total + length > MAX_BYTES):
            yield run
            run = []
        if not run:
            size, total = length, 0
        run.append(datagram)
        total += length
        if length < size:  # a shorter one can only end a run
            yield run
            run = []
    if run:
        yield run


class SegmentedSender:
    """Sends datagrams to ``address`` through ``transport``, a run of them in one
    call on ``sock`` where it can (see the module's docstring).

    Args:
        transport: The asyncio datagram transport the datagrams would go through
            one by one.
        address: Where they go.
        sock: A socket of this sender's own on the transport's (it closes it), or
            ``None`` to send one by one (:meth:`open` chooses).
    """

    def __init__(
        self,
        transport: DatagramTransport,
        address: tuple[str, int],
        sock: socket.socket | None,
    ) -> None:
        self.transport = transport
        self.address = address
        self._sock = sock
        self._took_one = False  # the kernel took a run: it segments

    @classmethod
    def open(cls, transport: DatagramTransport, address: tuple[str, int]) -> SegmentedSender:
        """A sender on a duplicate of ``transport``'s socket, if it has one (a TURN
        relay's transport has none) and the kernel can segment."""
        transport_socket = transport.get_extra_info("socket")
        if transport_socket is None or not _kernel_segments():
            return cls(transport, address, None)
        sock = transport_socket.dup()  # its file description: non-blocking, as asyncio set it
        sock.setblocking(False)
        return cls(transport, address, sock)

    @property
    def backlog(self) -> int:
        """Bytes the transport holds for the socket (0 for a TURN relay's, whose
        buffer is not this sender's to read)."""
        return 0 if self._sock is None else self.transport.get_write_buffer_size()

    @property
    def segments(self) -> bool:
        """Whether runs still go in one call (the kernel has not refused)."""
        return self._sock is not None

    def send(self, datagrams: list[bytes]) -> None:
        """Send ``datagrams`` in order."""
        sendto = self.transport.sendto
        if self._sock is None or self.transport.get_write_buffer_size():
            for datagram in datagrams:
                sendto(datagram, self.address)
            return
        for run in runs(datagrams):
            if len(run) == 1:
                self._send_one(run[0])
            elif not self._send_run(run):
                for datagram in run:
                    sendto(datagram, self.address)

    def close(self) -> None:
        """Close this sender's socket (the transport's stays open)."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _send_one(self, datagram: bytes) -> None:
        """Send a lone datagram on this sender's socket: the transport's ``sendto``
        without its checks, for the one in every video frame (a STAP-A) and every
        Opus packet; what the kernel does not take goes to the transport, which
        queues it or reports the error, as before."""
        if self._sock is None:  # refused UDP_SEGMENT, a run ago
            self.transport.sendto(datagram, self.address)
            return
        try:
            self._sock.sendto(datagram, self.address)
        except OSError:
            self.transport.sendto(datagram, self.address)

    def _send_run(self, run: list[bytes]) -> bool:
        """Send ``run`` in one call; ``False`` if the kernel did not take it."""
        assert self._sock is not None
        segment = [(SOL_UDP, UDP_SEGMENT, _SEGMENT_SIZE.pack(len(run[0])))]
        try:
            self._sock.sendmsg([b"".join(run)], segment, 0, self.address)
        except OSError as exc:
            if not self._took_one and exc.errno in REFUSED:
                logger.info(
                    "UDP segmentation refused: sending WebRTC datagrams one by one",
                    extra={"error": str(exc)},
                )
                self.close()
            return False
        self._took_one = True
        return True
