"""WHIP publishers: an encoder pushing WebRTC, live like an RTMP publisher.

A publisher's session is a Trio task in the nursery inside the WebRTC loop
(:meth:`WHEPSessions.start_on_loop <trioflix.live.webrtc.sessions.WHEPSessions.start_on_loop>`,
the loop WHEP viewers use too). The stream key has passed the key rules
(:func:`trioflix.live.channel.authorize.authorize_publish`) before the session
starts; the session answers the offer, then takes the channel from the stream
registry as an RTMP publisher does (one publisher per channel, the same key
takes over, reconnect grace, the stop API), and feeds the media, made into FLV
tag bodies (:mod:`trioflix.live.webrtc.ingest_media`), into the same
:class:`~trioflix.live.channel.stream.LiveStream` path: HLS and the ladder,
HTTP-FLV, RTMP play, recording, viewer counts and webhooks follow unchanged.

The session ends, frees its peer connection (UDP socket, aiortc's tasks and
threads) and gives the channel back when the encoder sends ``DELETE`` (a
deliberate end: the session ends at once), when the connection fails or closes
(ICE consent lost: a vanished encoder within about 30 s, RFC 7675; the grace
window applies, as for an RTMP publisher that drops), when ICE has not connected
``ICE_CONNECT_TIMEOUT_S`` after the answer, or when the registry stops the
publisher (``POST /api/streaming/stop``, a takeover by the same key).

While no keyframe has come for ``KEYFRAME_INTERVAL_S``, the publisher is asked
for one (RTCP PLI): HLS cuts segments at keyframes, and a new viewer starts at one.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import trio

from trioflix.live.channel.packets import Kind
from trioflix.live.channel.registry import PublisherHandle, PublishRefused
from trioflix.live.webrtc.ingest_media import H264ToFLV, OpusToAAC
from trioflix.live.webrtc.sessions import CLEANUP_TIMEOUT_S, ICE_CONNECT_TIMEOUT_S, Answer
from trioflix.live.webrtc.sessions import SessionRefused as SessionRefused
from trioflix.store import StoreUnavailable

if TYPE_CHECKING:
    from protocols.sdpfrag import Fragment
    from trioflix.config import Settings
    from trioflix.live.channel.authorize import Publisher
    from trioflix.live.channel.registry import StreamRegistry
    from trioflix.live.channel.stream import LiveStream
    from trioflix.live.webrtc.sessions import WHEPSessions

__all__ = ["WHIPSessions"]

logger = logging.getLogger(__name__)

# HLS's segments are cut at keyframes; an encoder's own interval may be 10 s (aiortc's
# and libx264's default) or "auto" in OBS. Asking every 2 s gives segments near the
# usual target without asking an encoder that already sends them that often.
KEYFRAME_INTERVAL_S = 2.0
# Opus packets (20 ms each) waiting for the AAC encoder's thread: 2 s. More means the
# thread cannot keep up, and the oldest audio is dropped rather than queued without end.
AUDIO_QUEUE_PACKETS = 100
MAX_PUBLISHERS = 100  # each holds a UDP socket, aiortc tasks and two threads


@dataclass(eq=False)
class _Publish:
    channel: str
    handle: PublisherHandle
    ended: trio.Event = field(default_factory=trio.Event)
    deliberate: bool = False  # DELETE: no grace window
    pc: Any = None  # aiortc's RTCPeerConnection, typed loosely: aiortc loads lazily


class WHIPSessions:
    """Every WHIP publisher of this host.

    Args:
        settings: ICE servers and TURN credentials (the loop's network settings are
            WHEP's, see ``webrtc``).
        webrtc: The WebRTC loop's host (WHEP's sessions).
    """

    def __init__(self, settings: Settings, webrtc: WHEPSessions) -> None:
        self._settings = settings
        self._webrtc = webrtc
        self._sessions: dict[str, _Publish] = {}

    @property
    def sessions(self) -> int:
        """Publishers connected or connecting now."""
        return len(self._sessions)

    def peer_connections(self) -> list[Any]:
        """The publishers' aiortc peer connections (for inspection)."""
        return [s.pc for s in self._sessions.values() if s.pc is not None]

    async def open(
        self, registry: StreamRegistry, publisher: Publisher, offer: str, remote: str
    ) -> Answer:
        """Answer ``offer`` with a new session publishing ``publisher``'s channel.

        Raises:
            SessionRefused: 400 the offer is no usable SDP (no H.264); 409 the
                registry refused (another key is live, the streamer stopped the
                stream); 503 too many publishers or the service is stopping.
        """
        if len(self._sessions) >= MAX_PUBLISHERS:
            raise SessionRefused(503, "webrtc_full", "too many WebRTC publishers on this host")
        answer: Answer = await self._webrtc.start_on_loop(
            self._serve, registry, publisher, offer, remote
        )
        return answer

    def end(self, session_id: str) -> bool:
        """End a session (the encoder's DELETE); ``False`` if there is none by that id."""
        session = self._sessions.get(session_id)
        if session is None:
            return False
        session.deliberate = True
        session.ended.set()
        return True

    def has(self, session_id: str) -> bool:
        """Whether ``session_id`` is an open session."""
        return session_id in self._sessions

    async def trickle(self, session_id: str, fragment: Fragment) -> None:
        """Add an encoder's trickled candidates to its session (the encoder's PATCH).

        Raises:
            SessionRefused: 404 no such session; what
                :func:`~trioflix.live.webrtc.trickle.add_candidates` raises.
        """
        import trio_asyncio

        from trioflix.live.webrtc.trickle import add_candidates

        session = self._sessions.get(session_id)
        if session is None:
            raise SessionRefused(404, "no_session", "no such WHIP session")
        loop = self._webrtc.loop
        await trio_asyncio.aio_as_trio(add_candidates, loop=loop)(session.pc, fragment)

    async def _serve(
        self,
        registry: StreamRegistry,
        publisher: Publisher,
        offer: str,
        remote: str,
        *,
        task_status: trio.TaskStatus[Answer],
    ) -> None:
        import trio_asyncio

        from trioflix.live.webrtc.whip_peer import accept

        loop = self._webrtc.loop
        trio_asyncio.current_loop.set(loop)
        settings = self._settings
        session_id = secrets.token_urlsafe(16)
        session = _Publish(publisher.channel, PublisherHandle(trio.CancelScope(), remote))
        connected = trio.Event()

        def on_state(state: str) -> None:
            if state == "connected":
                connected.set()
            elif state in ("failed", "closed"):
                session.ended.set()

        try:
            session.pc, tracks = await trio_asyncio.aio_as_trio(accept, loop=loop)(
                offer,
                on_state,
                settings.ice_servers,
                settings.turn_username,
                settings.turn_credential,
            )
        except ValueError as exc:
            raise SessionRefused(400, "bad_sdp", f"the SDP offer was refused: {exc}") from None
        live: LiveStream | None = None
        try:
            try:
                live = await registry.start_publishing(
                    channel=publisher.channel,
                    user_id=publisher.user_id,
                    key_id=publisher.key_id,
                    handle=session.handle,
                )
            except PublishRefused as refused:
                raise SessionRefused(409, "publish_refused", refused.description) from None
            self._sessions[session_id] = session
            task_status.started(Answer(session_id, session.pc.localDescription.sdp))
            logger.info("WHIP %s: publishing %s", remote, publisher.channel)
            with session.handle.cancel_scope:
                async with trio.open_nursery() as nursery:
                    if "audio" in tracks:
                        # The AAC configuration goes first: HLS decides a segment's
                        # tracks when it opens it, by the configurations it has.
                        transcoder = await trio.to_thread.run_sync(OpusToAAC)
                        live.publish(Kind.AUDIO, 0, transcoder.sequence_header())
                        nursery.start_soon(self._audio, live, tracks["audio"], transcoder, session)
                    video = H264ToFLV()
                    nursery.start_soon(self._video, live, tracks["video"], video, session)
                    nursery.start_soon(self._keyframes, session.pc, video, loop)
                    with trio.move_on_after(ICE_CONNECT_TIMEOUT_S):
                        await connected.wait()
                    if connected.is_set():
                        await session.ended.wait()
                    nursery.cancel_scope.cancel()
            logger.info(
                "WHIP %s: %s ended (%s)",
                remote,
                publisher.channel,
                session.handle.kicked
                or ("deleted" if session.deliberate else "connection lost or never made"),
            )
        finally:
            with trio.move_on_after(CLEANUP_TIMEOUT_S, shield=True):
                await trio_asyncio.aio_as_trio(session.pc.close, loop=loop)()
                if live is not None:
                    try:
                        await registry.stop_publishing(
                            live, session.handle, deliberate=session.deliberate
                        )
                    except StoreUnavailable:
                        logger.warning(
                            "WHIP %s: could not record the end of %s", remote, live.channel
                        )
            # Last: a session is listed until everything it held is freed.
            self._sessions.pop(session_id, None)

    @staticmethod
    async def _video(live: LiveStream, track: Any, video: H264ToFLV, session: _Publish) -> None:
        import trio_asyncio
        from aiortc.mediastreams import MediaStreamError

        recv = trio_asyncio.aio_as_trio(track.recv)
        try:
            while True:
                frame = await recv()
                for timestamp, body in video.convert(frame.data, frame.timestamp):
                    live.publish(Kind.VIDEO, timestamp, body)
                live.flush()
        except MediaStreamError:
            session.ended.set()  # the track ended: the connection closed

    @staticmethod
    async def _audio(
        live: LiveStream, track: Any, transcoder: OpusToAAC, session: _Publish
    ) -> None:
        import trio_asyncio
        from aiortc.mediastreams import MediaStreamError

        send, receive = trio.open_memory_channel[tuple[bytes, int]](AUDIO_QUEUE_PACKETS)

        recv = trio_asyncio.aio_as_trio(track.recv)
        async with trio.open_nursery() as nursery, send:
            nursery.start_soon(WHIPSessions._transcode, live, receive, transcoder)
            try:
                while True:
                    frame = await recv()
                    try:
                        send.send_nowait((frame.data, frame.timestamp))
                    except trio.WouldBlock:
                        logger.info(
                            "%s: WHIP audio transcoder behind; packet dropped", live.channel
                        )
            except MediaStreamError:
                session.ended.set()

    @staticmethod
    async def _transcode(
        live: LiveStream,
        receive: trio.MemoryReceiveChannel[tuple[bytes, int]],
        transcoder: OpusToAAC,
    ) -> None:
        """Opus packets from ``receive`` as AAC into ``live``, a batch per worker-thread call."""
        async with receive:
            async for packet in receive:
                batch = [packet]
                while len(batch) < AUDIO_QUEUE_PACKETS:
                    try:
                        batch.append(receive.receive_nowait())
                    except trio.WouldBlock:
                        break
                for timestamp, body in await trio.to_thread.run_sync(transcoder.transcode, batch):
                    live.publish(Kind.AUDIO, timestamp, body)
                live.flush()

    @staticmethod
    async def _keyframes(pc: Any, video: H264ToFLV, loop: Any) -> None:
        import trio_asyncio

        from trioflix.live.webrtc.whip_peer import request_keyframe

        seen = -1
        while True:
            await trio.sleep(KEYFRAME_INTERVAL_S)
            if video.keyframes == seen:
                await trio_asyncio.aio_as_trio(request_keyframe, loop=loop)(pc)
            seen = video.keyframes
