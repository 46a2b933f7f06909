"""WHEP sessions: one WebRTC viewer each, from the offer to the last packet.

aiortc is asyncio code. It runs on a trio-asyncio loop that :meth:`WHEPSessions.run`
opens with the first session (so a server nobody watches over WebRTC never loads
aiortc) and keeps until shutdown; every session is a Trio task in the nursery
inside that loop, so the loop outlives each session's shielded clean-up.

A session's task owns everything of its viewer: the subscriber to the channel
(counted as a ``webrtc`` viewer, with the bounded queue and the slow-viewer rule of
every viewer, :mod:`trioflix.live.channel.fanout`), its place on the channel's
video feed (one Trio task that moves every viewer's video to its track,
:mod:`trioflix.live.webrtc.video_feed`) and shared Opus feed, and the peer
connection. It ends, and frees all of them, when
the viewer sends DELETE, when the connection fails (ICE consent lost: RFC 7675
gives a silent peer 30 s) or closes, when ICE has not connected
``ICE_CONNECT_TIMEOUT_S`` after the answer, or when the channel's stream ends for
it (session over, viewer too slow, B-frames appearing).

A viewer watches one rendition, chosen at connect time: the source (the default),
a ladder rung (its H.264 as the ladder's encoder made it, published on a child
stream of the channel, ``LiveStream.rendition``) or a multitrack publisher's track.
Each is passed through alike; the audio is always the channel's Opus.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import trio

from trioflix.asyncio_loop import open_asyncio_loop
from trioflix.live.channel.fanout import Transport
from trioflix.live.channel.viewer_lifecycle import watching
from trioflix.live.webrtc.aiortc_version import check_aiortc
from trioflix.live.webrtc.opus import OpusFeed
from trioflix.live.webrtc.video import unsupported_reason
from trioflix.live.webrtc.video_feed import VideoFeed, ViewerVideo

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from protocols.sdpfrag import Fragment
    from trioflix.config import Settings
    from trioflix.live.channel.stream import LiveStream
    from trioflix.live.channel.webhooks import Webhooks
    from trioflix.live.webrtc.outlet import Outlet

__all__ = ["SOURCE", "Answer", "SessionRefused", "WHEPSessions", "rendition_stream", "renditions"]

# A channel's Opus or video feed: started with its first viewer, run until its last leaves.
_FeedT = TypeVar("_FeedT", OpusFeed, VideoFeed)

logger = logging.getLogger(__name__)

# ICE checks run within a few seconds of the answer on any working path; a viewer
# still not connected after this never will be (blocked UDP: the player falls back).
ICE_CONNECT_TIMEOUT_S = 20.0
CLEANUP_TIMEOUT_S = 5.0  # closing a peer connection sends a DTLS alert and stops tasks
# Each session holds a UDP socket per address and a few aiortc tasks: a bound on
# what a flood of offers can take.
MAX_SESSIONS = 500
# The rendition names, as the HLS master playlist's directories: the publisher's own
# encoding, ``track<N>`` for a multitrack publisher's other tracks, the rungs by name.
SOURCE = "source"
TRACK_PREFIX = "track"


class SessionRefused(Exception):
    """A WHEP offer that gets no session: ``status``, ``code`` and the message say why."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True, slots=True)
class Answer:
    """A new session: its id (the last part of its URL) and the SDP answer."""

    session_id: str
    sdp: str


def rendition_stream(live: LiveStream, name: str | None) -> LiveStream:
    """The stream whose video a viewer of rendition ``name`` of ``live`` is sent
    (``None``: the source).

    Raises:
        SessionRefused: 404 the channel has no such rendition; 503 a rung the ladder
            is starting, which has sent no keyframe yet.
    """
    if name is None or name == SOURCE:
        return live
    number = name.removeprefix(TRACK_PREFIX)
    if number != name and number.isascii() and number.isdigit() and len(number) <= 3:
        track = live.track(int(number))
        if track is not None:
            return track
    rung = live.rendition(name)
    if rung is not None:
        return rung
    if name in live.rendition_names:
        raise SessionRefused(
            503,
            "rendition_starting",
            f"the {name} rendition is starting (no keyframe yet); try again in a few seconds",
        )
    offered = ", ".join(name for name, _ in renditions(live))
    raise SessionRefused(
        404,
        "no_such_rendition",
        f"{live.channel} has no rendition {name[:40]!r} (it has {offered})",
    )


def renditions(live: LiveStream) -> list[tuple[str, LiveStream]]:
    """Every rendition of ``live`` that has video now, by name: the source, the
    publisher's other tracks, the ladder's producing rungs."""
    found = [(SOURCE, live)]
    for track_id in live.track_ids[1:]:
        track = live.track(track_id)
        if track is not None:
            found.append((f"{TRACK_PREFIX}{track_id}", track))
    for name in live.rendition_names:
        rung = live.rendition(name)
        if rung is not None:
            found.append((name, rung))
    return found


@dataclass(eq=False)
class _Session:
    channel: str
    ended: trio.Event
    pc: Any = None  # aiortc's RTCPeerConnection, typed loosely: aiortc loads lazily


class WHEPSessions:
    """Every WHEP viewer of this host.

    Args:
        settings: ICE servers, TURN credentials, candidate addresses, UDP ports.
        webhooks: Told of each viewer's start and end, as for every protocol.
    """

    def __init__(self, settings: Settings, webhooks: Webhooks | None) -> None:
        self._settings = settings
        self._webhooks = webhooks
        self._sessions: dict[str, _Session] = {}
        self._feeds: dict[LiveStream, OpusFeed] = {}
        self._video_feeds: dict[LiveStream, VideoFeed] = {}
        self._wanted = trio.Event()
        self._ready = trio.Event()
        self._loop: Any = None
        self._nursery: trio.Nursery | None = None

    @property
    def sessions(self) -> int:
        """Sessions open now."""
        return len(self._sessions)

    def feeds(self) -> int:
        """Opus feeds running now: one per channel with WebRTC viewers, whatever their number."""
        return sum(1 for feed in self._feeds.values() if feed.running)

    def video_feeds(self) -> int:
        """Video feeds running now: one per rendition with WebRTC viewers, whatever their
        number (the source, a track or a rung)."""
        return sum(1 for feed in self._video_feeds.values() if feed.running)

    def peer_connections(self) -> list[Any]:
        """The sessions' aiortc peer connections (for inspection)."""
        return [s.pc for s in self._sessions.values() if s.pc is not None]

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Open the asyncio loop when the first session wants it, then host every session.

        Raises:
            RuntimeError: Another aiortc than the one WebRTC was written for is
                installed (:func:`~trioflix.live.webrtc.aiortc_version.check_aiortc`),
                before the server starts.
        """
        check_aiortc()
        task_status.started()
        await self._wanted.wait()
        from trioflix.live.webrtc.peer import configure_network

        async with open_asyncio_loop(logger) as loop:
            configure_network(loop, self._settings.webrtc_addresses, self._settings.webrtc_ports)
            async with trio.open_nursery() as nursery:
                self._loop, self._nursery = loop, nursery
                self._ready.set()
                try:
                    await trio.sleep_forever()
                finally:
                    self._nursery = None

    async def open(
        self, live: LiveStream, offer: str, remote: str | None, rendition: str | None = None
    ) -> Answer:
        """Answer ``offer`` with a new session watching ``live``'s ``rendition`` (by
        name, :func:`rendition_stream`; ``None``: the source).

        Raises:
            SessionRefused: 404 no such rendition, 503 one not producing yet; 409 the
                video cannot be passed through (the message says why: B-frames,
                codec); 400 the offer is no usable SDP; 503 too many sessions or the
                service is stopping.
        """
        video = rendition_stream(live, rendition)
        reason = self.refusal(video)
        if reason is not None:
            raise SessionRefused(409, "webrtc_unsupported_stream", reason)
        if len(self._sessions) >= MAX_SESSIONS:
            raise SessionRefused(503, "webrtc_full", "too many WebRTC viewers on this host")
        answer: Answer = await self.start_on_loop(self._serve, live, video, offer, remote)
        return answer

    async def start_on_loop(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        """Start ``fn(*args, task_status=...)`` in the nursery inside the asyncio loop
        (opened now if this is the first WebRTC session, WHEP or WHIP), and return
        what it reports started.

        Raises:
            SessionRefused: 503, the service is stopping.
        """
        self._wanted.set()
        await self._ready.wait()
        if self._nursery is None:
            raise SessionRefused(503, "webrtc_stopping", "the server is stopping")
        return await self._nursery.start(fn, *args)

    @property
    def loop(self) -> Any:
        """The trio-asyncio loop (once :meth:`start_on_loop` has opened it)."""
        return self._loop

    def refusal(self, live: LiveStream) -> str | None:
        """Why a viewer could not watch ``live`` (a channel's stream or one of its
        renditions) over WebRTC now (B-frames, the codec, WebRTC turned off), or ``None``."""
        if not self._settings.webrtc:
            return "WebRTC playback is turned off on this server"
        return unsupported_reason(live.video_config, live.current_gop())

    def playable(self, live: LiveStream) -> list[tuple[str, LiveStream]]:
        """The renditions of ``live`` a viewer can watch over WebRTC now, by name."""
        return [(name, stream) for name, stream in renditions(live) if self.refusal(stream) is None]

    def has(self, channel: str, session_id: str) -> bool:
        """Whether ``session_id`` is an open session of ``channel``."""
        session = self._sessions.get(session_id)
        return session is not None and session.channel == channel

    async def trickle(self, channel: str, session_id: str, fragment: Fragment) -> None:
        """Add a viewer's trickled candidates to its session (the viewer's PATCH).

        Raises:
            SessionRefused: 404 no such session; what
                :func:`~trioflix.live.webrtc.trickle.add_candidates` raises.
        """
        import trio_asyncio

        from trioflix.live.webrtc.trickle import add_candidates

        if not self.has(channel, session_id):
            raise SessionRefused(404, "no_session", "no such WebRTC session")
        pc = self._sessions[session_id].pc
        await trio_asyncio.aio_as_trio(add_candidates, loop=self._loop)(pc, fragment)

    def end(self, channel: str, session_id: str) -> bool:
        """End a session (the viewer's DELETE); ``False`` if there is none by that id."""
        if not self.has(channel, session_id):
            return False
        self._sessions[session_id].ended.set()
        return True

    def _feed(
        self, feeds: dict[LiveStream, _FeedT], live: LiveStream, kind: type[_FeedT]
    ) -> _FeedT:
        """The channel's running feed of ``kind`` in ``feeds``, started now if there is none."""
        feed = feeds.get(live)
        if feed is None or not feed.running:
            feed = feeds[live] = kind(live)
            assert self._nursery is not None
            self._nursery.start_soon(self._run_feed, feeds, feed)
        return feed

    async def _run_feed(self, feeds: dict[LiveStream, _FeedT], feed: _FeedT) -> None:
        try:
            await feed.run()
        finally:
            if feeds.get(feed.live) is feed:
                del feeds[feed.live]

    async def _serve(
        self,
        live: LiveStream,
        shown: LiveStream,
        offer: str,
        remote: str | None,
        *,
        task_status: trio.TaskStatus[Answer],
    ) -> None:
        import trio_asyncio

        from trioflix.live.webrtc.peer import answer

        # This task was started from a request's task and has its context: aiortc's
        # callbacks made from here (a UDP socket's reads) find the loop through it.
        trio_asyncio.current_loop.set(self._loop)
        settings = self._settings
        session_id = secrets.token_urlsafe(16)
        session = _Session(live.channel, trio.Event())
        connected = trio.Event()

        def on_state(state: str) -> None:
            if state == "connected":
                connected.set()
            elif state in ("failed", "closed"):
                session.ended.set()

        listening: list[tuple[OpusFeed, Outlet]] = []

        def listen() -> Outlet:
            # Only for an offer that asks for audio: the channel's feed starts with
            # its first listener.
            feed = self._feed(self._feeds, live, OpusFeed)
            listening.append((feed, feed.listen()))
            return listening[-1][1]

        try:
            with watching(shown, Transport.WEBRTC, remote, self._webhooks) as subscriber:
                video = ViewerVideo(subscriber, session.ended)
                try:
                    session.pc = await trio_asyncio.aio_as_trio(answer, loop=self._loop)(
                        offer,
                        video.outlet,
                        listen,
                        on_state,
                        settings.ice_servers,
                        settings.turn_username,
                        settings.turn_credential,
                    )
                except ValueError as exc:
                    raise SessionRefused(
                        400, "bad_sdp", f"the SDP offer was refused: {exc}"
                    ) from None
                self._sessions[session_id] = session
                # One feed per rendition watched: it wakes on that rendition's packets.
                video_feed = self._feed(self._video_feeds, shown, VideoFeed)
                video_feed.join(video)
                try:
                    task_status.started(Answer(session_id, session.pc.localDescription.sdp))
                    with trio.move_on_after(ICE_CONNECT_TIMEOUT_S):
                        await connected.wait()
                    if connected.is_set():
                        await session.ended.wait()
                    logger.info(
                        "webrtc viewer left",
                        extra={
                            "channel": live.channel,
                            "connected": connected.is_set(),
                            "reason": video.end_reason,
                        },
                    )
                finally:
                    # The track's media ends first, so that aiortc's sender is not left
                    # waiting inside it while the connection closes.
                    video_feed.leave(video)
                    subscriber.close("viewer left")
                    video.end("viewer left")
                    with trio.move_on_after(CLEANUP_TIMEOUT_S, shield=True):
                        await trio_asyncio.aio_as_trio(session.pc.close, loop=self._loop)()
        finally:
            # Last: a session is listed until everything it held is freed.
            self._sessions.pop(session_id, None)
            for feed, listener in listening:
                feed.leave(listener)
