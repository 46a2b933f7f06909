"""Edge relays: the live channels this host pulls from their origin, one pull each.

Rules / theory of operation:

- A viewer on this host asks for a channel that is not live here
  (:meth:`EdgeRelays.open`). If the channel's origin lease names another host,
  one relay opens an HTTP pull from it (:func:`~trioflix.live.edge.pull.pull_url`,
  with a pull token). Viewers arriving while the relay opens wait for the same
  relay (singleflight): a hundred viewers at once open one pull.
- The relay feeds a :class:`~trioflix.live.channel.stream.LiveStream` as a
  publisher does, so the start-up cache (a new viewer starts on a keyframe at
  once) and the bounded per-viewer queues are the channel core's own. That
  stream is never in the stream registry: the edge does not count it as a
  publisher, record it or write its HLS; the origin does.
- Every :data:`FOLLOW_POLL_S` the relay reads the lease. When it names another
  host with a larger epoch (a takeover or failover), the relay reopens its pull
  there and its viewers go on, the new origin's timestamps stitched onto the
  stream's timeline as after a publisher reconnect. When the pull ends (the
  origin ended the channel, or the connection broke) the relay follows the
  lease the same way if it moved, and ends otherwise: its viewers see the end.
  If the lease moves to this host, the relay ends too: the channel is live here.
- A relay with no viewers for ``idle_s`` closes its pull and ends.
- With a read interval (``read_interval_s``, ``TRIOFLIX_EDGE_READ_INTERVAL_MS``) a
  relay reads its pull once three quarters of an interval's worth of the stream has
  arrived (a video frame, as a rule), two intervals after the previous read at the
  latest: all that arrived since the last read, published as one batch, every viewer
  written once for it (:mod:`~trioflix.live.edge.pull_client`). Both the pull's
  wake-ups and each viewer's writes fall to about one per frame, for at most two
  intervals of added delay.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import trio

from protocols import amf, flv
from trioflix.cluster.errors import ClusterError
from trioflix.cluster.lease import Origin
from trioflix.live.channel.packets import Kind
from trioflix.live.channel.stream import DEFAULT_GOP_CACHE_BYTES, LiveStream
from trioflix.live.edge.pull import PULL_TOKEN_HEADER, pull_url, stream_from_headers
from trioflix.live.edge.pull_client import PullError, PullResponse, open_pull

if TYPE_CHECKING:
    from trioflix.cluster.pull_auth import PullTokens

__all__ = ["DEFAULT_IDLE_S", "FOLLOW_POLL_S", "EdgeRelays", "OriginOf"]

logger = logging.getLogger(__name__)

# A viewer who reloads the page or a player that reconnects within this finds the
# pull still open; longer holds the origin's bandwidth for nobody.
DEFAULT_IDLE_S = 10.0
FOLLOW_POLL_S = 0.5  # a lease read a few times per second: a new origin is followed within 2 s
# Connecting to a host of the site and getting its answer's head takes milliseconds;
# a viewer should not wait longer than this to learn that the origin is unreachable.
OPEN_TIMEOUT_S = 5.0
LEASE_READ_TIMEOUT_S = 1.0  # Redis answers in a millisecond; longer is an outage
REFUSAL_LOG_BYTES = 200  # an error answer's JSON names its reason within this

#: Who serves a channel now (``None``: no host); raises a ``ClusterError`` when it
#: cannot tell (Redis unreachable).
OriginOf = Callable[[str], Awaitable[Origin | None]]


@dataclass(eq=False)
class _Relay:
    channel: str
    ready: trio.Event = field(default_factory=trio.Event)
    stream: LiveStream | None = None
    follow: Origin | None = None  # the origin to pull from next, once this pull stops
    ended: str = "origin ended the channel"
    retired: bool = False  # closing: no longer handed to viewers, not pulled again


class EdgeRelays:
    """The channels this host relays from other hosts.

    Args:
        origin_of: Reads a channel's origin lease.
        this_host: This host's id: a lease naming it is not pulled.
        tokens: Makes the pull tokens the origin checks.
        idle_s: How long a relay stays open with no viewers.
        gop_cache_bytes: The start-up cache's cap, as for a local channel.
        read_interval_s: Paces the reads of a pull (0: read as data arrives; see
            :mod:`~trioflix.live.edge.pull_client`).
    """

    def __init__(
        self,
        *,
        origin_of: OriginOf,
        this_host: str,
        tokens: PullTokens,
        idle_s: float = DEFAULT_IDLE_S,
        gop_cache_bytes: int = DEFAULT_GOP_CACHE_BYTES,
        read_interval_s: float = 0.0,
    ) -> None:
        self._origin_of = origin_of
        self._this_host = this_host
        self._tokens = tokens
        self._idle_s = idle_s
        self._gop_cache_bytes = gop_cache_bytes
        self._read_interval_s = read_interval_s
        self._relays: dict[str, _Relay] = {}
        self._nursery: trio.Nursery | None = None

    def relayed(self) -> list[LiveStream]:
        """The streams relayed now."""
        return [r.stream for r in self._relays.values() if r.stream and r.ready.is_set()]

    def get_nowait(self, channel: str) -> LiveStream | None:
        """The channel's relayed stream, if a relay of it is open now."""
        relay = self._relays.get(channel)
        if relay is None or not relay.ready.is_set():
            return None
        return relay.stream

    async def open(self, channel: str) -> LiveStream | None:
        """The channel's relayed stream, opening the relay if need be; ``None`` if no
        other host serves the channel (or it cannot be reached)."""
        relay = self._relays.get(channel)
        if relay is None:
            if self._nursery is None:
                return None
            relay = self._relays[channel] = _Relay(channel)
            self._nursery.start_soon(self._run_relay, relay)
        await relay.ready.wait()
        stream = relay.stream
        return stream if stream is not None and stream.ended_reason is None else None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Host the relays until cancelled; each ends its stream as it stops."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            try:
                await trio.sleep_forever()
            finally:
                self._nursery = None

    async def _run_relay(self, relay: _Relay) -> None:
        try:
            origin = await self._other_origin(relay.channel, None)
            while origin is not None and not relay.retired:
                relay.follow = None
                await self._pull(relay, origin)
                if relay.retired:
                    break
                origin = relay.follow or await self._other_origin(relay.channel, origin)
        except Exception:
            # A bug ends this relay only, not the others or the services.
            relay.ended = "relay failed"
            logger.exception("edge: bug in the relay of %s; closing it", relay.channel)
        finally:
            self._retire(relay)
            relay.ready.set()
            if relay.stream is not None:
                relay.stream.end(relay.ended)
                logger.info("edge relay of %s closed: %s", relay.channel, relay.ended)

    def _retire(self, relay: _Relay) -> None:
        """Hand ``relay`` out no more: a viewer arriving now opens a new relay instead of
        joining one that is closing (and would end its stream at once)."""
        relay.retired = True
        if self._relays.get(relay.channel) is relay:
            del self._relays[relay.channel]

    async def _other_origin(self, channel: str, after: Origin | None) -> Origin | None:
        """The channel's origin if it is another host, and newer than ``after``."""
        try:
            with trio.fail_after(LEASE_READ_TIMEOUT_S):
                origin = await self._origin_of(channel)
        except (ClusterError, trio.TooSlowError) as exc:
            logger.warning("edge: cannot tell who serves %s: %s", channel, exc)
            return None
        if origin is None or origin.host == self._this_host:
            return None
        if after is not None and origin.epoch <= after.epoch:
            return None
        return origin

    async def _pull(self, relay: _Relay, origin: Origin) -> None:
        """Pull from ``origin`` until the pull ends, the lease moves or no one watches."""
        channel = relay.channel
        headers = {PULL_TOKEN_HEADER: self._tokens.issue(channel, time.time())}
        try:
            # No limit once the head has come: a live stream may pause.
            with trio.fail_after(OPEN_TIMEOUT_S):
                response = await open_pull(
                    pull_url(origin.advertise_url, channel),
                    headers,
                    read_interval=self._read_interval_s,
                )
        except (PullError, trio.TooSlowError) as exc:
            logger.warning("edge: cannot pull %s from %s: %r", channel, origin.advertise_url, exc)
            return
        try:
            if response.status != 200:
                logger.warning(
                    "edge: %s refused the pull of %s: %d %s",
                    origin.advertise_url,
                    channel,
                    response.status,
                    (await _body_start(response)).decode(errors="replace"),
                )
                return
            if relay.stream is None:
                try:
                    relay.stream = stream_from_headers(
                        channel, response.headers, gop_cache_bytes=self._gop_cache_bytes
                    )
                except ValueError as exc:
                    logger.warning("edge: %s: %s", origin.advertise_url, exc)
                    return
            relay.stream.new_publisher()
            relay.ready.set()
            logger.info("edge: pulling %s from %s", channel, origin.advertise_url)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._follow, relay, origin, nursery.cancel_scope)
                await _feed(relay.stream, response)
                nursery.cancel_scope.cancel()
        except (PullError, flv.FLVError, amf.AMFDecodeError) as exc:
            logger.warning(
                "edge: the pull of %s from %s broke: %r", channel, origin.advertise_url, exc
            )
        finally:
            await response.aclose()

    async def _follow(self, relay: _Relay, origin: Origin, pull: trio.CancelScope) -> None:
        """Stop the pull when nobody watched for ``idle_s``, or when the lease moved."""
        assert relay.stream is not None
        watched_at = trio.current_time()
        while True:
            await trio.sleep(FOLLOW_POLL_S)
            now = trio.current_time()
            if relay.stream.viewers:
                watched_at = now
            elif now - watched_at >= self._idle_s:
                relay.ended = "no viewers"
                # At once, with no wait since the viewer count was read: closing the
                # pull takes awaits, during which nobody may join this relay.
                self._retire(relay)
                break
            try:
                with trio.fail_after(LEASE_READ_TIMEOUT_S):
                    current = await self._origin_of(relay.channel)
            except (ClusterError, trio.TooSlowError):
                continue  # Redis out of reach: the origin we know is the best guess
            if current is not None and current.epoch > origin.epoch:
                if current.host == self._this_host:
                    relay.ended = "the channel moved to this host"
                else:
                    relay.follow = current
                    logger.info("edge: %s moved to %s", relay.channel, current.advertise_url)
                break
        pull.cancel()


async def _body_start(response: PullResponse) -> bytes:
    """The first bytes of a refusal's body, for the log (its error text)."""
    body = b""
    with trio.move_on_after(OPEN_TIMEOUT_S):
        while len(body) < REFUSAL_LOG_BYTES and (data := await response.receive()):
            body += data
    return body[:REFUSAL_LOG_BYTES]


async def _feed(stream: LiveStream, response: PullResponse) -> None:
    """Publish the FLV stream of ``response`` into ``stream`` until it ends.

    Each read brings all that arrived since the last (often one batch of the origin;
    several after a pause, or paced by a read interval), and the viewers are written
    to once per read.

    Raises:
        PullError: the connection broke.
        FLVError: the origin sent something that is not FLV.
        AMFDecodeError: its script data (``onMetaData``) does not decode.
    """
    reader = flv.FLVReader()
    while chunk := await response.receive():
        reader.receive_data(chunk)
        while (event := reader.next_event()) is not flv.NEED_DATA:
            if not isinstance(event, flv.FLVTag):
                continue  # the header; FLVEnd cannot come before the response ends
            if event.tag_type == Kind.SCRIPT:
                values = amf.decode_amf0(event.data)
                if len(values) >= 2 and values[0] == "onMetaData" and isinstance(values[1], dict):
                    stream.set_metadata(values[1])
            elif event.tag_type in (Kind.AUDIO, Kind.VIDEO):
                stream.publish(Kind(event.tag_type), event.timestamp_ms, event.data)
        stream.flush()
