"""The application's state: the services and what routes read at run time.

:func:`trioflix.services.build_state` builds an :class:`AppState` from the
settings and :func:`trioflix.app.create_app` hands it to the app; routes find it
with :func:`state`. This module sits just above the domain packages and imports
nothing above them, so routes, the front door and the services all import it
without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

from quart import current_app
from quart_trio import QuartTrio

from trioflix.auth.ratelimit import FailureLimiter
from trioflix.live.edge.recent_origins import RecentOrigins
from trioflix.metrics import Metrics

if TYPE_CHECKING:
    import trio

    from trioflix.auth.tokens import TokenIssuer
    from trioflix.chat.hub import ChatHub
    from trioflix.cluster.pull_auth import PullTokens
    from trioflix.cluster.site import Site
    from trioflix.config import Settings
    from trioflix.jobs.worker import JobWorkers
    from trioflix.live.channel.registry import StreamRegistry
    from trioflix.live.channel.webhooks import Webhooks
    from trioflix.live.edge.hls_proxy import HLSProxy
    from trioflix.live.edge.lookup import LiveChannels
    from trioflix.live.hls.hub import HLSHub
    from trioflix.live.recording.recorder import Recorder
    from trioflix.live.rtmp.read_clock import ReadClock
    from trioflix.live.webrtc.publishers import WHIPSessions
    from trioflix.live.webrtc.sessions import WHEPSessions
    from trioflix.media.live_thumbnails import ThumbnailCache
    from trioflix.storage import ObjectStore
    from trioflix.store import Database
    from trioflix.uploads.service import Uploads

__all__ = ["AppState", "TrioflixApp", "state"]

LOGIN_FAILURES_PER_NAME = 5  # per 5 minutes: slows guessing to ~1,400 tries a day
LOGIN_FAILURES_PER_ADDRESS = 20
LOGIN_WINDOW_S = 300.0


@dataclass(kw_only=True)
class AppState:
    """What routes need at run time.

    The services that need no I/O to build are here from the start; ``db``,
    ``tokens``, ``pull_tokens``, ``registry``, ``channels``, ``chat``, ``site`` and
    ``objects`` exist while the services run (from ASGI lifespan startup to shutdown).

    Attributes:
        settings: The server's settings.
        hls: All live HLS output.
        jobs: The processing workers.
        uploads: The tus uploads of this process.
        thumbnails: The live thumbnails of each channel.
        webhooks: Live-event webhook deliveries.
        whep: The WebRTC (WHEP) viewers; also the host of the WebRTC loop.
        whip: The WebRTC (WHIP) publishers.
        publish_key_guesses: Wrong stream keys per address, for every ingest
            protocol (``TRIOFLIX_RTMP_KEY_FAILURES`` in ``TRIOFLIX_RTMP_KEY_WINDOW``).
        recorder: Records live sessions into the video library.
        rtmp_read_clock: Paces the publishers' reads; None with
            ``TRIOFLIX_RTMP_READ_INTERVAL_MS=0``.
        metrics: What ``/metrics`` serves.
        rtmp_address: The RTMP listener's address as bound (port 0 becomes a real port).
        direct_connections: Connections served on the socket by ``trioflix serve``
            (:mod:`trioflix.direct`); 0 under hypercorn.
        request_trailers: Request trailers reach the app (``trioflix serve``):
            tus checksum-trailer.
    """

    settings: Settings
    hls: HLSHub
    jobs: JobWorkers
    uploads: Uploads
    thumbnails: ThumbnailCache
    webhooks: Webhooks
    whep: WHEPSessions
    whip: WHIPSessions
    publish_key_guesses: FailureLimiter
    recorder: Recorder
    rtmp_read_clock: ReadClock | None
    metrics: Metrics = field(default_factory=Metrics)
    login_names: FailureLimiter = field(
        default_factory=lambda: FailureLimiter(
            limit=LOGIN_FAILURES_PER_NAME, window_s=LOGIN_WINDOW_S
        )
    )
    login_addresses: FailureLimiter = field(
        default_factory=lambda: FailureLimiter(
            limit=LOGIN_FAILURES_PER_ADDRESS, window_s=LOGIN_WINDOW_S
        )
    )
    _db: Database | None = None
    _tokens: TokenIssuer | None = None
    _pull_tokens: PullTokens | None = None
    _registry: StreamRegistry | None = None
    _channels: LiveChannels | None = None
    _chat: ChatHub | None = None
    _site: Site | None = None
    _objects: ObjectStore | None = None
    #: In a cluster, the live HLS of channels whose origin is another host.
    hls_proxy: HLSProxy | None = None
    #: ... and which host that is, as lately read, for the LL-HLS requests relayed.
    recent_origins: RecentOrigins = field(default_factory=RecentOrigins)
    rtmp_address: tuple[str, int] | None = None
    direct_connections: int = 0
    request_trailers: bool = False

    @property
    def db(self) -> Database:
        assert self._db is not None, "services not started"
        return self._db

    @property
    def tokens(self) -> TokenIssuer:
        assert self._tokens is not None, "services not started"
        return self._tokens

    @property
    def pull_tokens(self) -> PullTokens:
        """Checks the tokens of other hosts' internal pulls (signed with this host's secret)."""
        assert self._pull_tokens is not None, "services not started"
        return self._pull_tokens

    @property
    def channels(self) -> LiveChannels:
        """The live channels viewers can watch here: published here or relayed."""
        assert self._channels is not None, "services not started"
        return self._channels

    @property
    def registry(self) -> StreamRegistry:
        assert self._registry is not None, "services not started"
        return self._registry

    @property
    def chat(self) -> ChatHub:
        assert self._chat is not None, "services not started"
        return self._chat

    @property
    def site(self) -> Site:
        assert self._site is not None, "services not started"
        return self._site

    @property
    def objects(self) -> ObjectStore:
        """The object store of ``TRIOFLIX_STORAGE_URL``, probed at start-up."""
        assert self._objects is not None, "services not started"
        return self._objects


class TrioflixApp(QuartTrio):
    """The quart-trio app with its :class:`AppState` and the services' lifetime."""

    trioflix: AppState
    services_scope: trio.CancelScope | None = None
    services_done: trio.Event | None = None
    #: Why the services did not start, if they did not (``trioflix serve`` reports it).
    startup_error: Exception | None = None


def state() -> AppState:
    """The running app's :class:`AppState` (inside a request or lifespan context)."""
    return cast("TrioflixApp", current_app).trioflix
