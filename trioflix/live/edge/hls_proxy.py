"""Live HLS on an edge: the origin's playlists and segments, fetched once and cached.

Rules / theory of operation:

- An edge serves a channel's HLS by fetching each object from the channel's origin
  (:meth:`HLSProxy.get`), so segment names, media sequence numbers and playlists are
  the origin's on every host: a player whose requests a balancer spreads over the
  hosts sees one stream.
- **Request coalescing**: players asking for an object that is being fetched wait for
  that fetch (singleflight): fifty players at once cost the origin one request. The
  fetch runs in the proxy's own nursery, so a player that goes away does not cancel
  it for the others.
- **Cache**: an answer ``200`` is kept for the time its caller gives: segments a
  while (a name never changes content), playlists a fraction of the target duration
  (they change with every segment). The cache is bounded in bytes, least recently
  used out first; other answers (the origin's ``404``) are passed on, not kept.
- **Bounded**: one object is at most :data:`MAX_OBJECT_BYTES`, fetches at once at most
  :data:`MAX_FETCHES`, players waiting for fetches of one channel at most
  :data:`MAX_WAITERS` (a blocking LL-HLS reload waits seconds), and a fetch at most its
  limit: an origin that does not answer gives :class:`OriginUnavailable` (the route's
  ``502``/``503``/``504``), never a hang.
- **Blocking requests** (LL-HLS ``_HLS_msn``/``_HLS_part`` reloads, the hinted part) are
  fetched the same way: the origin holds the one fetch until it can answer, and every
  player asking the same URL meanwhile gets that answer.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

import trio

from trioflix.slim_imports import hidden

with hidden("rich", "pygments"):  # httpx's command-line client, which the server never runs
    import httpx

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "CONNECT_TIMEOUT_S",
    "MAX_CACHE_BYTES",
    "MAX_FETCHES",
    "MAX_OBJECT_BYTES",
    "MAX_WAITERS",
    "PASSED_HEADERS",
    "Fetched",
    "HLSProxy",
    "OriginUnavailable",
]

logger = logging.getLogger(__name__)

# Another host of the site answers a connection in a millisecond: longer is a dead host.
CONNECT_TIMEOUT_S: Final = 2.0
# About 25 s of a 6 Mbit/s source per channel window, for a few dozen channels.
MAX_CACHE_BYTES: Final = 256 * 1024 * 1024
# A segment of 10 s (the longest target) at 12 Mbit/s is 15 MB: more is not a segment.
MAX_OBJECT_BYTES: Final = 16 * 1024 * 1024
# Distinct objects fetched at once; players beyond it get 503 rather than queue.
MAX_FETCHES: Final = 256
# Players of one channel waiting for fetches, as many as the origin lets block there
# (trioflix.live.hls.cmaf.MAX_WAITERS): each holds a task and a socket.
MAX_WAITERS: Final = 1000
#: The origin's headers an edge passes on with the body.
PASSED_HEADERS: Final = ("content-type", "cache-control", "access-control-allow-origin")


class OriginUnavailable(Exception):
    """The origin did not answer as it should; ``status`` and ``code`` for the player.

    Attributes:
        status: 502 (unreachable, or a bad answer), 503 (too many fetches), 504 (too slow).
        code: The API error code.
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True, slots=True)
class Fetched:
    """The origin's answer: status, body, and the headers an edge passes on."""

    status: int
    body: bytes
    headers: Mapping[str, str]


@dataclass(eq=False)
class _Flight:
    done: trio.Event = field(default_factory=trio.Event)
    result: Fetched | None = None
    error: OriginUnavailable | None = None


@dataclass(slots=True)
class _Entry:
    fetched: Fetched
    expires_at: float


class HLSProxy:
    """The origin's HLS objects as this host fetched them: coalesced, cached, bounded.

    Args:
        max_cache_bytes: The cache's bound (bodies only).
        max_waiters: The bound of players waiting for fetches, per channel.

    Resource handling:
        :meth:`run` is a service task: it owns the HTTP client and the fetches.

    Attributes:
        fetches: Upstream fetches made since start (what coalescing saves shows here).
    """

    def __init__(
        self, *, max_cache_bytes: int = MAX_CACHE_BYTES, max_waiters: int = MAX_WAITERS
    ) -> None:
        self._max_cache_bytes = max_cache_bytes
        self._max_waiters = max_waiters
        self._waiters: dict[str, int] = {}  # channel -> players waiting; none: absent
        self._cache: OrderedDict[str, _Entry] = OrderedDict()
        self._cache_bytes = 0
        self._flights: dict[str, _Flight] = {}
        self._client: httpx.AsyncClient | None = None
        self._nursery: trio.Nursery | None = None
        self.fetches = 0

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve fetches until cancelled."""
        # Each fetch has its limit (a cancel scope); the origin may hold a master playlist
        # back until the stream has a segment.
        timeout = httpx.Timeout(None, connect=CONNECT_TIMEOUT_S)
        async with httpx.AsyncClient(timeout=timeout) as client, trio.open_nursery() as nursery:
            self._client, self._nursery = client, nursery
            task_status.started()
            try:
                await trio.sleep_forever()
            finally:
                self._client = self._nursery = None

    async def get(
        self,
        url: str,
        *,
        channel: str,
        keep_s: float,
        limit_s: float,
        headers: Mapping[str, str],
    ) -> Fetched:
        """The object at ``url``: from the cache, from a fetch under way, or fetched now.

        Args:
            url: The object on the origin.
            channel: Whose object it is: the bound of waiting players is per channel.
            keep_s: How long a ``200`` answer is served from the cache.
            limit_s: How long the fetch may take in all. The fetch is shared by every
                player asking meanwhile, so its limit is the object's, not one caller's.
            headers: Sent to the origin (the internal token).

        Raises:
            OriginUnavailable: the origin is unreachable, too slow or answered badly,
                or too many fetches are under way, or too many players of ``channel``
                wait for fetches.
        """
        entry = self._cache.get(url)
        if entry is not None:
            if entry.expires_at > trio.current_time():
                self._cache.move_to_end(url)
                return entry.fetched
            self._forget(url)
        waiting = self._waiters.get(channel, 0)
        if waiting >= self._max_waiters:
            raise OriginUnavailable(
                503, "too_many_waiters", "too many players wait for the origin of this channel"
            )
        flight = self._flights.get(url)
        if flight is None:
            nursery = self._nursery
            if nursery is None:
                raise OriginUnavailable(503, "origin_unavailable", "this host is stopping")
            if len(self._flights) >= MAX_FETCHES:
                raise OriginUnavailable(503, "origin_busy", "too many fetches from origins")
            flight = self._flights[url] = _Flight()
            nursery.start_soon(self._fetch, url, keep_s, limit_s, dict(headers), flight)
        self._waiters[channel] = waiting + 1
        try:
            await flight.done.wait()
        finally:
            if (left := self._waiters[channel] - 1) > 0:
                self._waiters[channel] = left
            else:
                del self._waiters[channel]
        if flight.error is not None:
            raise flight.error
        assert flight.result is not None
        return flight.result

    async def _fetch(
        self, url: str, keep_s: float, limit_s: float, headers: dict[str, str], flight: _Flight
    ) -> None:
        try:
            self.fetches += 1
            with trio.fail_after(limit_s):
                flight.result = await self._download(url, headers)
            if flight.result.status == 200 and keep_s > 0:
                self._keep(url, flight.result, trio.current_time() + keep_s)
        except trio.TooSlowError:
            flight.error = OriginUnavailable(
                504, "origin_timeout", f"the origin did not answer within {limit_s:g} s"
            )
        except OriginUnavailable as exc:
            flight.error = exc
        except httpx.HTTPError as exc:
            logger.info("edge: cannot fetch %s: %r", url, exc)
            flight.error = OriginUnavailable(502, "origin_unreachable", "the origin is unreachable")
        finally:
            del self._flights[url]
            flight.done.set()

    async def _download(self, url: str, headers: dict[str, str]) -> Fetched:
        assert self._client is not None
        async with self._client.stream("GET", url, headers=headers) as response:
            # trioflix answers HLS objects with a length; h11 reads exactly that many
            # bytes, so checking it bounds the body before any of it is read.
            length = response.headers.get("content-length", "")
            if not length.isdigit() or int(length) > MAX_OBJECT_BYTES:
                raise OriginUnavailable(
                    502,
                    "origin_bad_answer",
                    f"the origin's answer has no length or more than {MAX_OBJECT_BYTES} bytes",
                )
            body = await response.aread()
            passed = {k: v for k in PASSED_HEADERS if (v := response.headers.get(k)) is not None}
            return Fetched(response.status_code, body, passed)

    def _keep(self, url: str, fetched: Fetched, expires_at: float) -> None:
        size = len(fetched.body)
        if size > self._max_cache_bytes:
            return
        self._forget(url)
        self._cache[url] = _Entry(fetched, expires_at)
        self._cache_bytes += size
        while self._cache_bytes > self._max_cache_bytes:
            oldest = next(iter(self._cache))
            self._forget(oldest)

    def _forget(self, url: str) -> None:
        entry = self._cache.pop(url, None)
        if entry is not None:
            self._cache_bytes -= len(entry.fetched.body)
