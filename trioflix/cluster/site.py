"""This host's place in the site: how it runs, its start-up checks, its heartbeat,
the channels it is the origin of.

:func:`join_site` decides from the settings whether this host runs alone or
joins a cluster (:func:`~trioflix.cluster.checks.cluster_mode`) and, to join,
checks it against the hosts already up (:func:`~trioflix.cluster.checks.check_join`).
It refuses with a :class:`~trioflix.cluster.checks.ClusterConfigError` that
says what to set, or a :class:`SiteUnavailable` when Redis cannot be asked.
The :class:`Site` it returns heartbeats this host's record (:meth:`Site.run`),
lists the members (:meth:`Site.members`), sums a channel's viewers over the
hosts (:meth:`Site.viewers`), says who serves a channel (:meth:`Site.origin_of`)
and makes this host a channel's origin for a live session (:meth:`Site.claim_origin`).
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING
from urllib.parse import quote

import trio

from trioflix.cluster.checks import Mode, check_advertise_url, check_peers, cluster_mode
from trioflix.cluster.errors import ClusterError, redis_errors
from trioflix.cluster.hls_state import SiteHLS
from trioflix.cluster.host import Host
from trioflix.cluster.keys import secret_fingerprint
from trioflix.cluster.lease import (
    RELEASE_TIMEOUT_S,
    RETRY_FRACTION,
    Lease,
    LeaseRefused,
    LossReason,
    Origin,
    OriginLeases,
    hold,
)
from trioflix.cluster.members import (
    BEATS_PER_TTL,
    IngestFigure,
    Load,
    Member,
    Membership,
    heartbeat,
)
from trioflix.cluster.pull_auth import PullTokenRejected, PullTokens, Rejection
from trioflix.cluster.shared_storage import cluster_storage_id
from trioflix.slim_imports import hidden

with hidden("rich", "pygments"):  # httpx's command-line client, which the server never runs
    import httpx

if TYPE_CHECKING:
    import coredis

    from trioflix.config import Settings

__all__ = [
    "MEMBER_TTL_S",
    "ORIGIN_TTL_S",
    "STOP_PATH",
    "STOP_TOKEN_HEADER",
    "OriginClaim",
    "Serving",
    "Site",
    "SiteUnavailable",
    "join_site",
    "site_mode",
]

logger = logging.getLogger(__name__)

MEMBER_TTL_S = 5.0  # a killed host drops out within 5 s; one heartbeat every 5/3 s
ORIGIN_TTL_S = 6.0  # refreshed every 2 s, so an origin learns of a takeover within 2 s
JOIN_TIMEOUT_S = 5.0  # a healthy Redis answers in a millisecond; longer is an outage
CLAIM_TIMEOUT_S = 2.0  # an encoder waits for its publish answer; Redis answers in a ms
LOOKUP_TIMEOUT_S = 2.0  # who serves a channel: Redis answers in a millisecond
STOP_TIMEOUT_S = 5.0  # the origin ends a session in milliseconds; longer is an outage
CPU_SAMPLE_MIN_S = 1.0  # shorter intervals measure scheduling noise, not load

#: The route on which a channel's origin stops it for another host, and the header
#: carrying the token that proves the caller is a host of the site.
STOP_PATH = "/internal/stop/<channel>"
STOP_TOKEN_HEADER = "X-Trioflix-Site-Token"
_STOP_LABEL = b"trioflix-cluster-stop"

#: What this host serves now: each channel live on it (or, for ``relaying``, each one
#: it relays from the channel's origin), with its viewers here by protocol.
Serving = Callable[[], Mapping[str, Mapping[str, int]]]
#: The ingest figures of each channel live on this host.
Ingesting = Callable[[], Mapping[str, Mapping[str, IngestFigure]]]


def _no_relays() -> dict[str, dict[str, int]]:
    return {}


def _no_ingest() -> dict[str, dict[str, IngestFigure]]:
    return {}


@dataclasses.dataclass(eq=False)
class OriginClaim:
    """A live session's hold on its channel's origin lease (:meth:`Site.claim_origin`).

    Attributes:
        lease: The lease last granted to this host for the channel.
        held: Whether this host holds it now: ``False`` from the moment it expired
            (Redis out of reach) until it is granted again.
    """

    lease: Lease
    held: bool = True
    _scope: trio.CancelScope = dataclasses.field(default_factory=trio.CancelScope)

    @property
    def epoch(self) -> int:
        """The fencing epoch of :attr:`lease`."""
        return self.lease.origin.epoch

    def release(self) -> None:
        """Give the channel up (at once, without waiting): the holder releases the
        lease if it holds it."""
        self._scope.cancel()


class SiteUnavailable(ClusterError):
    """Redis could not be asked who the other hosts are, or who serves a channel."""


def site_mode(settings: Settings) -> Mode:
    """:func:`~trioflix.cluster.checks.cluster_mode` of ``settings``.

    Raises:
        ClusterConfigError: the settings would split the site.
    """
    return cluster_mode(
        redis_url=settings.redis_url,
        database_url=settings.database_url,
        advertise_url=settings.advertise_url,
        jwt_secret_set=settings.jwt_secret is not None,
    )


class _CpuMeter:
    """This process's CPU seconds per second, over the interval since the last sample."""

    def __init__(self) -> None:
        self._at = (time.monotonic(), time.process_time())
        self._figure = 0.0

    def read(self) -> float:
        wall, cpu = time.monotonic(), time.process_time()
        elapsed = wall - self._at[0]
        if elapsed >= CPU_SAMPLE_MIN_S:
            self._figure = (cpu - self._at[1]) / elapsed
            self._at = (wall, cpu)
        return self._figure


class Site:
    """This host as the site sees it, and the other hosts as it sees them.

    Build it with :func:`join_site`.

    Attributes:
        mode: Single host or cluster.
        host: This process's identity (its advertise URL is ``""`` on a single host).
    """

    def __init__(
        self,
        *,
        mode: Mode,
        host: Host,
        fingerprint: str,
        storage: str,
        redis_url: str | None,
        serving: Serving,
        secret: str | None = None,
        ingesting: Ingesting = _no_ingest,
        relaying: Serving = _no_relays,
        ll_hls: bool = False,
    ) -> None:
        self.mode = mode
        self.host = host
        self._started_at = time.time()
        self._fingerprint = fingerprint
        self._storage = storage
        self._redis_url = redis_url
        self._serving = serving
        self._relaying = relaying
        self._ingesting = ingesting
        self._ll_hls = ll_hls
        self._stop_tokens = PullTokens(secret, _STOP_LABEL) if secret is not None else None
        self._cpu = _CpuMeter()
        self._membership: Membership | None = None
        self._leases: OriginLeases | None = None
        self._hls: SiteHLS | None = None
        self._holders: trio.Nursery | None = None
        # The other hosts' records as last read, and when (trio time): what
        # viewers() sums, synchronously, for every chat room at every tick.
        self._peers: list[Member] = []
        self._peers_read_at = -math.inf

    def describe(self) -> Member:
        """This host's record now: the channels live on it, the viewers it serves (of
        those and of the channels it relays) and its load."""
        serving = self._serving()
        watched: dict[str, dict[str, int]] = {c: dict(n) for c, n in serving.items()}
        for channel, counts in self._relaying().items():
            mine = watched.setdefault(channel, {})
            for protocol, count in counts.items():
                mine[protocol] = mine.get(protocol, 0) + count
        by_protocol: dict[str, int] = {}
        for counts in watched.values():
            for protocol, count in counts.items():
                by_protocol[protocol] = by_protocol.get(protocol, 0) + count
        return Member(
            host=self.host.id,
            advertise_url=self.host.advertise_url,
            started_at=self._started_at,
            secret_fingerprint=self._fingerprint,
            storage=self._storage,
            channels=tuple(sorted(serving)),
            viewers={
                channel: watching
                for channel, counts in watched.items()
                if (watching := {protocol: n for protocol, n in counts.items() if n})
            },
            ingest={channel: dict(figures) for channel, figures in self._ingesting().items()},
            ll_hls=self._ll_hls,
            load=Load(
                publishers=len(serving),
                viewers=sum(by_protocol.values()),
                viewers_by_protocol=by_protocol,
                cpu=round(self._cpu.read(), 3),
            ),
        )

    def viewers(self, channel: str, here: Mapping[str, int] | None) -> dict[str, int] | None:
        """``channel``'s viewers on the whole site, by protocol.

        Args:
            channel: The channel.
            here: Its viewers by protocol on this host now, ``None`` if it is not
                live here.

        Returns:
            ``here`` plus the other hosts' counts as of their last heartbeats (a
            protocol nobody watches may be missing), or ``None`` if the channel is
            live on no host. On a single host, ``here`` as it is.

        The other hosts' records are read once per heartbeat (:meth:`run`), and
        forgotten when no read succeeded for a member TTL: counts from hosts this
        one cannot see are not reported as current.
        """
        counts = dict(here) if here is not None else None
        if trio.current_time() - self._peers_read_at > MEMBER_TTL_S:
            return counts
        for peer in self._peers:
            theirs = peer.viewers.get(channel)
            if theirs is None and channel not in peer.channels:
                continue
            counts = counts if counts is not None else {}
            for protocol, count in (theirs or {}).items():
                counts[protocol] = counts.get(protocol, 0) + count
        return counts

    async def members(self) -> list[Member]:
        """The live hosts of the site, this one included, ordered by host id.

        Raises:
            SiteUnavailable: in a cluster, Redis does not answer (or the heartbeat
                is not running).
        """
        if self.mode is Mode.SINGLE_HOST:
            return [self.describe()]
        if self._membership is None:
            raise SiteUnavailable("this host's heartbeat is not running")
        try:
            return await self._membership.members()
        except redis_errors() as exc:
            raise SiteUnavailable(f"Redis does not answer: {exc!r}") from None

    async def origin_of(self, channel: str) -> Origin | None:
        """Who serves ``channel`` to the site now (``None``: no host).

        Raises:
            SiteUnavailable: Redis does not answer (or the heartbeat is not running).
        """
        leases = self._leases
        if leases is None:
            raise SiteUnavailable("this host's heartbeat is not running")
        try:
            return await leases.current(channel)
        except redis_errors() as exc:
            raise SiteUnavailable(f"Redis does not answer: {exc!r}") from None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Heartbeat this host's record until cancelled (a cluster only).

        Reports started after the first heartbeat was attempted; a heartbeat
        that fails is logged and retried (:func:`~trioflix.cluster.members.heartbeat`).

        Resource handling:
            Owns its Redis client; cancelled, it removes this host's record, then
            closes the client.
        """
        assert self._redis_url is not None, "a single host has no heartbeat"
        stopping = trio.Event()
        async with trio.open_nursery() as nursery:
            await nursery.start(self._announce, self._redis_url, stopping)
            task_status.started()
            try:
                await trio.sleep_forever()
            finally:
                stopping.set()

    async def _announce(
        self, redis_url: str, stopping: trio.Event, *, task_status: trio.TaskStatus[None]
    ) -> None:
        """The heartbeat, and the Redis client it uses, until ``stopping`` is set.

        Shielded: cancelling the client's own tasks would close its connection
        before the heartbeat's last act, removing this host's record, which is
        bounded by :data:`~trioflix.cluster.members.LEAVE_TIMEOUT_S`.
        """
        with trio.CancelScope(shield=True):
            async with _redis(redis_url) as client:
                self._membership = Membership(client)
                self._leases = OriginLeases(client)
                self._hls = SiteHLS(client)
                try:
                    # The origin leases are held here too (claim_origin): cancelled
                    # with the heartbeat, each releases its lease on the client.
                    async with trio.open_nursery() as beats:
                        await beats.start(heartbeat, self._membership, self.describe, MEMBER_TTL_S)
                        beats.start_soon(self._read_peers, self._membership)
                        self._holders = beats
                        task_status.started()
                        await stopping.wait()
                        beats.cancel_scope.cancel()
                finally:
                    self._membership = self._leases = self._holders = None
                    self._hls = None

    @property
    def hls(self) -> SiteHLS | None:
        """The live HLS state the hosts share (``None`` on a single host, or while the
        heartbeat is not running)."""
        return self._hls

    async def remote_origin(self, channel: str) -> Origin | None:
        """``channel``'s origin if it is another host of the site, else ``None``.

        Raises:
            SiteUnavailable: in a cluster, Redis does not answer within
                :data:`LOOKUP_TIMEOUT_S` (or the heartbeat is not running).
        """
        if self.mode is Mode.SINGLE_HOST:
            return None
        if self._leases is None:
            raise SiteUnavailable("this host's heartbeat is not running")
        try:
            with trio.fail_after(LOOKUP_TIMEOUT_S):
                origin = await self._leases.current(channel)
        except redis_errors() as exc:  # TooSlowError among them
            raise SiteUnavailable(f"Redis does not answer: {exc!r}") from None
        return origin if origin is not None and origin.host != self.host.id else None

    async def stop_on_origin(self, channel: str, reason: str) -> bool:
        """Ask ``channel``'s origin, if another host, to stop it; wait for its answer.

        Returns:
            Whether the origin stopped the channel; ``False`` also when no other
            host is its origin (a single host, no lease, or this host's own).

        Raises:
            SiteUnavailable: Redis or the origin did not answer within
                :data:`STOP_TIMEOUT_S`, or the origin refused the request.
        """
        tokens = self._stop_tokens
        origin = await self.remote_origin(channel)
        if origin is None or tokens is None:
            return False
        with trio.move_on_after(STOP_TIMEOUT_S):
            try:
                token = tokens.issue(channel, time.time())
                path = STOP_PATH.replace("<channel>", quote(channel, safe=""))
                async with httpx.AsyncClient() as client:
                    response = await client.post(
                        origin.advertise_url + path,
                        headers={STOP_TOKEN_HEADER: token},
                        json={"reason": reason},
                    )
            except httpx.HTTPError as exc:
                raise SiteUnavailable(f"cannot stop {channel} on its origin: {exc!r}") from None
            if response.status_code != 200:
                raise SiteUnavailable(
                    f"the origin of {channel} at {origin.advertise_url} refused to stop it:"
                    f" {response.status_code} {response.text[:200]}"
                )
            return bool(response.json().get("stopped"))
        raise SiteUnavailable(f"the origin of {channel} did not answer within {STOP_TIMEOUT_S} s")

    def check_stop_token(self, token: str, channel: str) -> None:
        """Accept a request from another host to stop ``channel`` here, or say why not.

        Raises:
            PullTokenRejected: the token is not a stop token of this site for
                ``channel`` that is still good (a single host accepts none).
        """
        if self._stop_tokens is None:
            raise PullTokenRejected(Rejection.BAD_SIGNATURE, "a single host takes no stop requests")
        self._stop_tokens.verify(token, channel, time.time())

    def ingest(self, channel: str) -> dict[str, IngestFigure] | None:
        """``channel``'s ingest figures from its origin's last heartbeat, if another
        host of the site is its origin (``None`` otherwise, or when unknown)."""
        if trio.current_time() - self._peers_read_at > MEMBER_TTL_S:
            return None
        for peer in self._peers:
            if channel in peer.ingest:
                return dict(peer.ingest[channel])
        return None

    def origin_serves_ll_hls(self, channel: str) -> bool:
        """Whether ``channel``'s origin, another host of the site, serves its LL-HLS.

        As the origin's last heartbeat says; until this host has read a record naming
        the channel (up to a heartbeat after it goes live), as this host does: the
        hosts of a site are set up alike, and assuming so makes every host give the
        same answer at once rather than the edges a heartbeat late.
        """
        if trio.current_time() - self._peers_read_at <= MEMBER_TTL_S:
            origins = [peer.ll_hls for peer in self._peers if channel in peer.channels]
            if origins:
                return any(origins)
        return self._ll_hls

    async def _read_peers(self, membership: Membership) -> None:
        """Read the other hosts' records once per heartbeat, for :meth:`viewers`."""
        interval = MEMBER_TTL_S / BEATS_PER_TTL
        while True:
            read_at = trio.current_time()
            with trio.move_on_after(interval):
                try:
                    members = await membership.members()
                except redis_errors() as exc:
                    logger.debug("could not read the other hosts' records: %r", exc)
                else:
                    self._peers = [m for m in members if m.host != self.host.id]
                    self._peers_read_at = read_at
            await trio.sleep_until(read_at + interval)

    async def claim_origin(
        self,
        channel: str,
        same_key: Callable[[], Awaitable[bool]],
        on_superseded: Callable[[], object],
        resume: Callable[[int], Awaitable[bool]],
    ) -> OriginClaim:
        """Become ``channel``'s origin (a cluster only) and hold the lease until released.

        Args:
            channel: The channel a publisher starts on this host.
            same_key: Whether the publisher uses the stream key the channel is live
                from now (on the host holding the lease): asked only when another
                host holds it.
            on_superseded: Called once if another host takes the channel over
                later: this host must then stop serving it.
            resume: Asked, with the new epoch, when a lease that expired is granted
                again: whether the session is still this host's to serve (it may
                have been ended meanwhile by another host, which saw no origin).

        Returns:
            The claim, with its epoch; release it when the channel's session ends.

        Raises:
            LeaseRefused: another host serves the channel from another key.
            SiteUnavailable: Redis does not answer (or the heartbeat is not running).

        Error handling:
            A lease that expires because Redis stayed out of reach is not a loss
            of the channel: the claim is marked not held (the session goes on
            serving this host's viewers, not the site's) and the lease asked for
            again until Redis answers. Granted, the claim holds the new lease,
            with its larger epoch; refused (another host took the channel
            meanwhile) or not resumed, ``on_superseded`` is called.
        """
        leases, holders = self._leases, self._holders
        if leases is None or holders is None:
            raise SiteUnavailable("this host's heartbeat is not running")
        try:
            with trio.fail_after(CLAIM_TIMEOUT_S):
                try:
                    lease = await leases.acquire(channel, self.host, ORIGIN_TTL_S)
                except LeaseRefused:
                    if not await same_key():
                        raise
                    # The same key on another host moves the channel here.
                    lease = await leases.take_over(channel, self.host, ORIGIN_TTL_S)
        except redis_errors() as exc:
            raise SiteUnavailable(f"Redis does not answer: {exc!r}") from None

        claim = OriginClaim(lease)
        holders.start_soon(self._hold_origin, claim, leases, on_superseded, resume)
        return claim

    async def _hold_origin(
        self,
        claim: OriginClaim,
        leases: OriginLeases,
        on_superseded: Callable[[], object],
        resume: Callable[[int], Awaitable[bool]],
    ) -> None:
        """:func:`~trioflix.cluster.lease.hold` the claim's lease, asking for it again
        after it expired, until the claim is released or superseded."""
        channel = claim.lease.channel
        with claim._scope:
            while True:
                lost: list[LossReason] = []
                await hold(leases, claim.lease, lost.append)
                if lost == [LossReason.SUPERSEDED]:
                    break
                claim.held = False
                logger.warning(
                    "%s: origin lease expired; serving this host's viewers only until"
                    " Redis grants it again",
                    channel,
                )
                regained = await self._regain(leases, claim.lease)
                if regained is None:
                    break
                if not await resume(regained.origin.epoch):
                    logger.warning("%s: the session ended while Redis was out of reach", channel)
                    with trio.move_on_after(RELEASE_TIMEOUT_S):
                        try:
                            await leases.release(regained)
                        except redis_errors() as exc:
                            logger.info("releasing the origin lease of %r failed: %r", channel, exc)
                    break
                claim.lease, claim.held = regained, True
                logger.warning("%s: origin again, epoch %d", channel, claim.epoch)
            on_superseded()

    async def _regain(self, leases: OriginLeases, lost: Lease) -> Lease | None:
        """Ask for an expired lease again until Redis answers.

        Returns:
            The lease granted now (a larger epoch, or ``lost`` itself if Redis still
            had it), or ``None`` if another host holds the channel.
        """
        while True:
            asked_at = trio.current_time()
            try:
                with trio.fail_after(CLAIM_TIMEOUT_S):
                    try:
                        return await leases.acquire(lost.channel, self.host, lost.ttl_s)
                    except LeaseRefused as exc:
                        if exc.holder != lost.origin:
                            return None
                    # Redis was slow, not gone: it still has this lease. Refreshed
                    # now, its TTL counts from before this refresh was sent.
                    if await leases.refresh(lost):
                        return dataclasses.replace(lost, granted_at=asked_at)
                    return None
            except redis_errors() as exc:  # TooSlowError among them
                logger.debug("asking again for the origin lease of %r: %r", lost.channel, exc)
            await trio.sleep_until(asked_at + lost.ttl_s / RETRY_FRACTION)


def _redis(url: str) -> coredis.Redis[bytes]:
    # Loaded by join_site already: a host without Redis never imports it (see
    # redis_errors).
    import coredis
    from coredis.retry import NoRetryPolicy

    # No retries: a failed heartbeat is retried at the next beat, and a join that
    # cannot ask Redis is refused at once.
    client: coredis.Redis[bytes] = coredis.Redis.from_url(
        url, decode_responses=False, retry_policy=NoRetryPolicy()
    )
    return client


async def join_site(
    settings: Settings,
    serving: Serving,
    ingesting: Ingesting = _no_ingest,
    relaying: Serving = _no_relays,
) -> Site:
    """This host's :class:`Site`, after the start-up checks of its settings and peers.

    On a single host (neither ``REDIS_URL`` nor an advertise URL) nothing is
    checked or written, and the record has no advertise URL, secret fingerprint or
    storage id. In a cluster, the storage id is read (or created) in the
    object store (media on S3) or the data directory (media on local disk), and
    this host's record is checked against the live members'.

    Args:
        settings: This host's settings (a cluster's include its ``JWT_SECRET``).
        serving: Reads the channels live on this host and their viewers.
        ingesting: Reads the ingest figures of the channels live on this host.
        relaying: Reads the channels this host relays from their origins, with
            their viewers here.

    Raises:
        ClusterConfigError: the settings would split the site, or this host's
            secret or storage differs from the live members'.
        StorageProbeError: the object store does not work, or its id cannot be read.
        SiteUnavailable: in a cluster, Redis could not be asked who the members are.
    """
    mode = site_mode(settings)
    if mode is Mode.SINGLE_HOST:
        return Site(
            mode=mode,
            host=Host.new(""),
            fingerprint="",
            storage="",
            redis_url=None,
            serving=serving,
        )
    assert settings.advertise_url and settings.redis_url and settings.jwt_secret
    # coredis loads here, on a host that joins a cluster: in a worker thread (its
    # modules take seconds to import on a busy machine) and before the join's
    # time limit starts, which is for Redis' answer.
    await trio.to_thread.run_sync(importlib.import_module, "coredis")
    storage = await cluster_storage_id(settings)
    site = Site(
        mode=mode,
        host=Host.new(check_advertise_url(settings.advertise_url)),
        fingerprint=secret_fingerprint(settings.jwt_secret),
        storage=storage,
        redis_url=settings.redis_url,
        serving=serving,
        secret=settings.jwt_secret,
        ingesting=ingesting,
        relaying=relaying,
        ll_hls=settings.hls and settings.hls_part is not None,
    )
    check_peers(site.describe(), await _live_members(settings.redis_url))
    return site


async def _live_members(redis_url: str) -> list[Member]:
    """The members Redis lists now, on a connection of its own.

    Raises:
        SiteUnavailable: Redis does not answer within :data:`JOIN_TIMEOUT_S`.
    """
    found: list[Member] = []
    failure: BaseException | None = None
    try:
        with trio.fail_after(JOIN_TIMEOUT_S):
            async with _redis(redis_url) as client:
                found = await Membership(client).members()
    # The client's task group raises what its body raised inside a group.
    except* redis_errors() as group:
        failure = group.exceptions[0]
    if failure is not None:
        raise SiteUnavailable(
            f"cannot reach Redis (REDIS_URL) to join the cluster: {failure!r}; start Redis,"
            " or unset REDIS_URL to run a single host"
        )
    return found
