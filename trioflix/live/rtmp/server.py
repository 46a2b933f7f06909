"""The RTMP listener: one task per connection, driving a sans-IO ``protocols.rtmp.Connection``.

A connection is a publisher (OBS, ffmpeg) or a player (ffmpeg, rtmpdump, VLC).
Bytes from the socket go into the protocol object; its events are handled here;
whatever it queues to send goes out through :meth:`RTMPSession.flush`, the only
place that writes to the socket (a lock keeps the reader's replies and the
player's media from interleaving).

Failure policy: a peer that breaks the protocol, stalls or disappears is logged
at INFO and loses only its own connection, except a player that disappears: that
is how players leave (a killed player resets its connection), logged at DEBUG.
A bug is logged with its traceback and also closes only that connection. Every
exit path releases the channel (publisher) or the viewer slot (player) in a
shielded, time-bounded step.

Stream-key guessing: each unknown or disabled key counts against the publisher's
address (not its port) in a :class:`~trioflix.auth.ratelimit.FailureLimiter`. An
address past its limit has every publish refused at once, before the database is
asked, logged at WARNING with the address (an operator may want to block it; it
is no bug of ours, so never ERROR).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import math
import os
import socket
from functools import partial
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

import trio

from protocols import proxy, rtmp
from trioflix.forwarded import is_trusted
from trioflix.live.channel.authorize import PublishDenied, authorize_publish
from trioflix.live.channel.fanout import Transport
from trioflix.live.channel.packets import Kind
from trioflix.live.channel.registry import PublisherHandle, PublishRefused
from trioflix.live.channel.tracks import TrackNotFound, requested_track
from trioflix.live.rtmp.play_duration import PlayDuration
from trioflix.store import StoreUnavailable

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from trioflix.auth.ratelimit import FailureLimiter
    from trioflix.forwarded import TrustedProxies
    from trioflix.live.channel.fanout import Subscriber
    from trioflix.live.channel.packets import Packet
    from trioflix.live.channel.registry import StreamRegistry
    from trioflix.live.channel.stream import LiveStream
    from trioflix.live.channel.webhooks import Webhooks
    from trioflix.live.rtmp.read_clock import ReadClock
    from trioflix.store import Database

    #: Finds the live channel a player asks for (``None``: not live anywhere it can reach).
    FindLive = Callable[[str], Awaitable[LiveStream | None]]

__all__ = ["RTMPSession", "serve_rtmp"]

logger = logging.getLogger(__name__)

APP_NAME = "live"  # rtmp://HOST:1935/live, what OBS is told to use
HANDSHAKE_TIMEOUT_S = 10.0  # handshake + connect take a few round trips; slower is a stuck peer
IDLE_TIMEOUT_S = 30.0  # a publisher sends media many times a second; silence means it is gone
IDLE_SLACK = 0.01  # the idle timeout may fire up to this fraction late (see _read_loop)
SEND_TIMEOUT_S = 20.0  # a player whose socket accepts nothing for this long is gone
RECEIVE_BYTES = 256 * 1024  # one read; bounds what one receive adds to the buffer
# ffmpeg (and librtmp-based encoders) write each message's chunk header and its body in
# separate sends with Nagle's algorithm on, so the body waits for the ACK of the header,
# which our read of the header sends. A read this short is such a header alone: reading
# again at once finds the body (on loopback ~90% of the time) and saves a wake-up.
HEADER_ONLY_BYTES = 64
# Every connection reads into this one buffer and copies the bytes out before its next
# checkpoint (RTMPSession._read); a 3 Mbit/s publisher's are ~11 KiB on a 30 ms clock.
_READ_BUFFER = bytearray(RECEIVE_BYTES)
_READ_VIEW = memoryview(_READ_BUFFER)
_READ_BUFFERS = (_READ_BUFFER,)
# A paced publisher whose read brings this much is behind (see RTMPSession._read).
# A fresh TCP connection's receive window is ~64 KiB; 3 Mbit/s brings 11 KiB per 30 ms tick.
CATCH_UP_READ_BYTES = 32 * 1024
# A 4K keyframe at 50 Mbit/s is a few MiB; the wire allows 16 MiB - 1. Together with
# the partial-message limit this caps what one peer can make us buffer at 64 MiB.
MAX_MESSAGE_BYTES = 8 * 1024 * 1024
MAX_PARTIAL_MESSAGES = 8  # audio, video, data and commands interleave: 3-4 in practice
CLEANUP_TIMEOUT_S = 5.0
PROXY_PEEK_INTERVAL_S = 0.01  # a PROXY line split across segments: look again this soon


async def serve_rtmp(
    address: tuple[str, int],
    registry: StreamRegistry,
    db: Database,
    webhooks: Webhooks | None = None,
    *,
    read_clock: ReadClock | None = None,
    find_live: FindLive | None = None,
    key_guesses: FailureLimiter | None = None,
    trusted_proxies: TrustedProxies = (),
    task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Accept RTMP connections on ``address`` until cancelled.

    ``read_clock`` (running elsewhere) paces the publishers' reads; without one every
    socket is read as soon as data arrives. ``find_live`` finds the channel a player
    asks for (in a cluster, relayed from its origin if need be); without one, players
    watch the channels published to ``registry``. ``key_guesses`` counts wrong stream
    keys per address and refuses the addresses past its limit; without one nothing is
    throttled. ``trusted_proxies`` may send a PROXY protocol v1 line first.
    ``task_status.started`` reports the bound address (port 0 picks a free port).
    """
    host, port = address
    listeners = await trio.open_tcp_listeners(port, host=host)
    bound = listeners[0].socket.getsockname()
    logger.info("RTMP listening on rtmp://%s:%d/%s", bound[0], bound[1], APP_NAME)
    async with trio.open_nursery() as nursery:
        task_status.started((bound[0], bound[1]))
        await trio.serve_listeners(
            partial(
                handle_connection,
                registry=registry,
                db=db,
                webhooks=webhooks,
                read_clock=read_clock,
                find_live=find_live,
                key_guesses=key_guesses,
                trusted_proxies=trusted_proxies,
            ),
            listeners,
            handler_nursery=nursery,
        )


async def handle_connection(
    stream: trio.SocketStream,
    *,
    registry: StreamRegistry,
    db: Database,
    webhooks: Webhooks | None = None,
    read_clock: ReadClock | None = None,
    find_live: FindLive | None = None,
    key_guesses: FailureLimiter | None = None,
    trusted_proxies: TrustedProxies = (),
) -> None:
    """One RTMP connection, from handshake to close (``serve_listeners`` closes the socket).

    From a ``trusted_proxies`` address, a PROXY protocol v1 line ahead of the RTMP
    bytes names the client (:func:`read_proxy_header`): its address is then the one
    the key throttle counts and the logs name.
    """
    try:
        host, port = stream.socket.getpeername()[:2]
    except OSError:
        return  # gone before we looked
    if trusted_proxies and is_trusted(str(host), trusted_proxies):
        try:
            with trio.fail_after(HANDSHAKE_TIMEOUT_S):
                header = await read_proxy_header(stream)
        except (proxy.ProxyProtocolError, trio.TooSlowError, OSError) as exc:
            logger.info("RTMP %s:%s: bad PROXY protocol header: %s", host, port, exc)
            return
        if header is not None and header.source is not None:
            host, port = header.source, header.source_port
    peer = f"{host}:{port}"
    session = RTMPSession(
        stream, peer, registry, db, webhooks, read_clock, find_live, key_guesses, str(host)
    )
    try:
        await session.run()
    except* rtmp.RemoteProtocolError as group:
        logger.info("RTMP %s: protocol error: %s", peer, group.exceptions[0])
    except* trio.TooSlowError:
        logger.info("RTMP %s: timed out", peer)
    except* (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionError):
        level = logging.INFO if session.published else logging.DEBUG
        logger.log(level, "RTMP %s: connection lost", peer)
    except* StoreUnavailable:
        logger.warning("RTMP %s: database unavailable; closing", peer)
    except* Exception:
        logger.exception("RTMP %s: bug in the session; closing this connection only", peer)


async def read_proxy_header(stream: trio.SocketStream) -> proxy.ProxyHeader | None:
    """Take the PROXY v1 line off the front of ``stream``, if it starts with one.

    The socket is peeked at, then exactly the line is read, so the RTMP bytes behind
    it stay in the socket for the session's own reads. A proxy writes the line in one
    send, ahead of anything else, so it nearly always arrives whole; until it has,
    this looks again every :data:`PROXY_PEEK_INTERVAL_S` (the caller bounds the wait).

    Raises:
        ProxyProtocolError: the connection starts with a ``P`` but no valid line.
        OSError: the connection failed.
    """
    sock = stream.socket
    while True:
        data = await sock.recv(proxy.V1_MAX_BYTES, socket.MSG_PEEK)
        # An RTMP handshake starts with its version, 3 (6 encrypted): never a "P".
        if not data.startswith(proxy.V1_SIGNATURE[:1]):
            return None
        header = proxy.parse_v1(data)
        if header is not None:
            await sock.recv(header.length)  # peeked: all there
            return header
        await trio.sleep(PROXY_PEEK_INTERVAL_S)


class RTMPSession:
    def __init__(
        self,
        stream: trio.SocketStream,
        peer: str,
        registry: StreamRegistry,
        db: Database,
        webhooks: Webhooks | None = None,
        read_clock: ReadClock | None = None,
        find_live: FindLive | None = None,
        key_guesses: FailureLimiter | None = None,
        address: str = "",
    ) -> None:
        self.stream = stream
        self._key_guesses = key_guesses
        self._address = address  # the peer's host alone: what guessing is counted by
        self._find_live = find_live
        self.webhooks = webhooks
        self._read_clock = read_clock
        self._last_read = 0  # bytes
        self.peer = peer
        self.registry = registry
        self.db = db
        self.conn = rtmp.Connection(
            rtmp.SERVER,
            max_message_size=MAX_MESSAGE_BYTES,
            max_partial_chunk_streams=MAX_PARTIAL_MESSAGES,
        )
        self._send_lock = trio.Lock()
        self._scope = trio.CancelScope()
        self._connected = False
        self._closing = False
        self.published = False  # this connection published a channel at some point
        self._nursery: trio.Nursery | None = None
        # Publishing: one stream per connection.
        self._publishing: tuple[int, LiveStream, PublisherHandle] | None = None
        # Playing: stream id -> viewer scope
        self._players: dict[int, trio.CancelScope] = {}

    async def flush(self) -> None:
        async with self._send_lock:
            data = self.conn.data_to_send()
            if data:
                await self.stream.send_all(data)

    async def run(self) -> None:
        handle = PublisherHandle(self._scope, self.peer)
        try:
            with self._scope:
                async with trio.open_nursery() as nursery:
                    self._nursery = nursery
                    await self._read_loop(handle)
                    nursery.cancel_scope.cancel()  # players end with the connection
            if handle.kicked:
                logger.info("RTMP %s: %s", self.peer, handle.kicked)
        finally:
            with trio.move_on_after(CLEANUP_TIMEOUT_S, shield=True):
                await self._stop_publishing(deliberate=False)

    async def _read_loop(self, handle: PublisherHandle) -> None:
        with trio.fail_after(HANDSHAKE_TIMEOUT_S):
            while not self._connected:
                if not await self._receive(handle):
                    return
        # A publisher's socket is read some 60 times a second, so the idle timeout is one
        # scope for the whole loop (not a fail_after per read), and its deadline moves
        # (a heap push) not at every read but once per IDLE_SLACK of the timeout, to
        # IDLE_TIMEOUT_S * (1 + IDLE_SLACK) from now: it is always between IDLE_TIMEOUT_S
        # and that from the start of the current read.
        refresh_at = -math.inf
        with trio.CancelScope() as idle:
            while not self._closing:
                if self._publishing is None:
                    idle.deadline = math.inf
                    refresh_at = -math.inf
                else:
                    now = trio.current_time()
                    if now >= refresh_at:
                        idle.deadline = now + IDLE_TIMEOUT_S * (1 + IDLE_SLACK)
                        refresh_at = now + IDLE_TIMEOUT_S * IDLE_SLACK
                if not await self._receive(handle):
                    return
        if idle.cancelled_caught:
            raise trio.TooSlowError

    async def _receive(self, handle: PublisherHandle) -> bool:
        """Read once and handle every complete event; ``False`` at end of connection."""
        conn = self.conn
        count = await self._read()
        conn.receive_data(_READ_VIEW[:count])
        if 0 < count < HEADER_ONLY_BYTES:
            with contextlib.suppress(BlockingIOError):  # no body yet: the next _read waits
                conn.receive_data(_READ_VIEW[: self._read_now()])
        while (event := conn.next_event()) is not rtmp.NEED_DATA:
            # The publisher's media, nearly every event: handled here, with no coroutine.
            if type(event) is rtmp.VideoData or type(event) is rtmp.AudioData:
                publishing = self._publishing
                if publishing is not None and event.stream_id == publishing[0]:
                    kind = Kind.VIDEO if type(event) is rtmp.VideoData else Kind.AUDIO
                    publishing[1].publish(kind, event.timestamp, event.payload)
                continue
            if type(event) is rtmp.ConnectionClosed:
                return False
            await self._handle(event, handle)
            if self._closing:
                break
        if (publishing := self._publishing) is not None:
            publishing[1].flush()  # one write per direct-idle viewer for the whole read
        if conn.bytes_to_send:  # most reads of a publisher queue no reply
            await self.flush()
        return not self._closing

    async def _read(self) -> int:
        """Read once from the socket into ``_READ_BUFFER``: the byte count, 0 at EOF.

        What ``self.stream.receive_some`` does, for a fraction of its CPU (it is called
        for every read of every publisher): that one tries ``recv`` first, which mostly
        fails with an exception because a publisher's data arrives a message at a time;
        it allocates a buffer per read; and it wraps each call in three context
        managers. Here: one wait (a checkpoint, as receive_some is) and one ``readv``
        into a buffer that all connections share, since the caller copies what was read
        out of it before its next checkpoint. Errors are translated as SocketStream does.
        """
        socket = self.stream.socket
        # A publisher reads on the read clock's ticks while it paces (enough publishers),
        # unless its last read was large: then it is sending faster than the socket's
        # receive buffer holds per tick (a keyframe, a high bitrate) and it reads as data
        # arrives until it has caught up.
        clock = self._read_clock
        while True:
            if (
                clock is not None
                and clock.pacing
                and self._publishing is not None
                and self._last_read < CATCH_UP_READ_BYTES
            ):
                await clock.tick()
            else:
                await trio.lowlevel.wait_readable(socket)
            try:
                count = self._read_now()
            except BlockingIOError:
                continue  # nothing after all: wait again
            self._last_read = count
            return count

    def _read_now(self) -> int:
        """One ``readv`` into ``_READ_BUFFER``, no wait; ``BlockingIOError`` if empty."""
        try:
            return os.readv(self.stream.socket.fileno(), _READ_BUFFERS)
        except BlockingIOError:
            raise
        except OSError as exc:
            if exc.errno == errno.EBADF:
                raise trio.ClosedResourceError("this socket was already closed") from None
            raise trio.BrokenResourceError(f"socket connection broken: {exc}") from exc

    async def _handle(self, event: rtmp.Event, handle: PublisherHandle) -> None:
        publishing = self._publishing
        if isinstance(event, rtmp.Metadata):
            if publishing is not None and event.stream_id == publishing[0]:
                publishing[1].set_metadata(event.metadata)
        elif isinstance(event, rtmp.Connect):
            if event.app.strip("/") != APP_NAME:
                self.conn.send(
                    rtmp.ConnectRejected(description=f"unknown application {event.app!r}")
                )
                self._closing = True
            else:
                self.conn.accept_connect()
                self._connected = True
        elif isinstance(event, rtmp.Publish):
            await self._publish(event, handle)
        elif isinstance(event, rtmp.Play):
            await self._play(event)
        elif isinstance(event, rtmp.CloseStream | rtmp.DeleteStream):
            if publishing is not None and event.stream_id == publishing[0]:
                await self._stop_publishing(deliberate=True)
            scope = self._players.pop(event.stream_id, None)
            if scope is not None:
                scope.cancel()

    async def _publish(self, event: rtmp.Publish, handle: PublisherHandle) -> None:
        if self._publishing is not None:
            self.conn.reject_publish(event.stream_id, description="already publishing")
            return
        try:
            publisher = await authorize_publish(
                self.db,
                self.registry,
                self.webhooks,
                event.stream_key.split("?", 1)[0],
                remote=self.peer,
                address=self._address,
                key_guesses=self._key_guesses,
            )
        except PublishDenied as denied:
            if denied.reason == "throttled":
                logger.warning(
                    "RTMP %s: publish refused: too many wrong stream keys from %s;"
                    " refusing it for %d s more",
                    self.peer,
                    self._address,
                    math.ceil(denied.retry_after_s),
                )
            else:
                logger.info("RTMP %s: publish refused: %s", self.peer, denied.description)
            self.conn.reject_publish(event.stream_id, description=denied.description)
            self._closing = True
            return
        try:
            live = await self.registry.start_publishing(
                channel=publisher.channel,
                user_id=publisher.user_id,
                key_id=publisher.key_id,
                handle=handle,
            )
        except PublishRefused as refused:
            logger.info("RTMP %s: publish refused: %s", self.peer, refused.description)
            self.conn.reject_publish(
                event.stream_id, code=refused.code, description=refused.description
            )
            self._closing = True
            return
        self._publishing = (event.stream_id, live, handle)
        self.published = True
        if self._read_clock is not None:
            self._read_clock.join()
        self.conn.accept_publish(event.stream_id, description=f"{publisher.channel} is live.")
        logger.info("RTMP %s: publishing %s", self.peer, publisher.channel)

    async def _stop_publishing(self, *, deliberate: bool) -> None:
        if self._publishing is None:
            return
        _, live, handle = self._publishing
        self._publishing = None
        if self._read_clock is not None:
            self._read_clock.leave()
        try:
            await self.registry.stop_publishing(live, handle, deliberate=deliberate)
        except StoreUnavailable:
            logger.warning("RTMP %s: could not record the end of %s", self.peer, live.channel)

    async def _play(self, event: rtmp.Play) -> None:
        # ``channel`` or ``channel?track=N`` (a multitrack publisher's track N)
        channel, _, query = event.stream_name.partition("?")
        channel = channel.strip("/")
        if self._find_live is not None:
            live = await self._find_live(channel)
        else:
            live = self.registry.get(channel)
        if live is None or self._nursery is None:
            self.conn.reject_play(event.stream_id, description=f"{channel!r} is not live")
            return
        try:
            track = dict(parse_qsl(query, max_num_fields=10)).get("track")
            live = requested_track(live, track)
        except (TrackNotFound, ValueError) as exc:
            self.conn.reject_play(event.stream_id, description=str(exc))
            return
        self.conn.accept_play(event.stream_id)
        subscriber = live.subscribe(Transport.RTMP)
        if self.webhooks is not None:
            self.webhooks.notify("play.start", self._play_event(live))
        scope = trio.CancelScope()
        self._players[event.stream_id] = scope
        # rtmpdump --stop: a positive duration ends this play (not the connection) after it.
        duration = PlayDuration(event.duration) if event.duration > 0 else None
        self._nursery.start_soon(
            self._send_to_player, event.stream_id, live, subscriber, scope, duration
        )

    async def _send_to_player(
        self,
        stream_id: int,
        live: LiveStream,
        subscriber: Subscriber,
        scope: trio.CancelScope,
        duration: PlayDuration | None,
    ) -> None:
        try:
            with scope:
                while batch := await self._next_batch(subscriber):
                    played = False
                    if duration is not None:
                        batch, played = duration.take(batch)
                    for packet in batch:
                        timestamp = packet.timestamp & 0xFFFFFFFF
                        if packet.kind is Kind.SCRIPT:
                            self.conn.send_metadata(stream_id, packet.properties or {}, timestamp)
                        elif packet.kind is Kind.VIDEO:
                            self.conn.send_media(stream_id, "video", timestamp, packet.payload)
                        else:
                            self.conn.send_media(stream_id, "audio", timestamp, packet.payload)
                    with trio.fail_after(SEND_TIMEOUT_S):
                        await self.flush()
                    live.count_sent(sum(p.size for p in batch))
                    if duration is not None and played:
                        # The connection stays: the player closes it, or plays again.
                        await self._end_stream(
                            stream_id,
                            "NetStream.Play.Stop",
                            f"played the {duration.duration_ms:.0f} ms asked for",
                        )
                        return
                # The channel went offline (or this viewer fell too far behind).
                await self._end_stream(
                    stream_id,
                    "NetStream.Play.UnpublishNotify",
                    f"{live.channel} is offline ({subscriber.closed_reason}).",
                )
                self._scope.cancel()  # players such as ffmpeg exit when the connection closes
        finally:
            live.unsubscribe(subscriber)
            self._players.pop(stream_id, None)
            if self.webhooks is not None:
                self.webhooks.notify("play.end", self._play_event(live))

    async def _end_stream(self, stream_id: int, code: str, description: str) -> None:
        """A played stream ends: Stream EOF, then the status that says why."""
        self.conn.send_stream_eof(stream_id)
        self.conn.send(rtmp.Status(stream_id=stream_id, code=code, description=description))
        with trio.fail_after(SEND_TIMEOUT_S):
            await self.flush()

    @staticmethod
    async def _next_batch(subscriber: Subscriber) -> list[Packet]:
        """The viewer's next batch, unless the viewer has left meanwhile (``Cancelled``).

        ``next_batch`` returns at once when a batch is queued, and a task it woke with
        one is not stopped by a cancel that comes after: by the time this task runs,
        the reader may have seen the player close its stream or the connection (the
        cancel of this task's scope, or of the connection's nursery). The connection
        then refuses media (``LocalProtocolError``, rightly: sending there would be a
        bug), so a viewer who left stops here, quietly.
        """
        batch = await subscriber.next_batch()
        await trio.lowlevel.checkpoint_if_cancelled()
        return batch

    def _play_event(self, live: LiveStream) -> dict[str, object]:
        return {
            "channel": live.channel,
            "session_id": live.session_id,
            "protocol": Transport.RTMP.value,
            "remote": self.peer,
        }
