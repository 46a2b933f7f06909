"""One channel's live session: the publisher's media in, every viewer's queue out.

All methods run on the Trio thread and never block: the publisher's connection
task calls :meth:`LiveStream.publish` per message, and viewers' tasks drain their
own :class:`~trioflix.live.channel.fanout.Subscriber` queues.

A new viewer must start at once, on a keyframe, with the decoder configured. The
stream keeps what that takes: the ``onMetaData`` properties, the latest audio and
video sequence headers, and the current group of pictures (from the last
keyframe on), capped at ``gop_cache_bytes``; past the cap the cache is dropped
until the next keyframe, and new viewers wait for it.

A multitrack publisher (enhanced RTMP v2) sends several encodings of the picture:
the default track (0) is this stream, as plain messages, and every other track is a
child stream of its own (:meth:`LiveStream.track`) with its own sequence headers, GOP
cache, statistics and viewers, on the same timeline. A track without audio of its own
carries the default track's audio.

The ABR ladder's rungs are child streams too (:meth:`LiveStream.add_rendition`): the
ladder publishes each rung's encoded video on one, on the channel's timeline, so that a
viewer can be sent a rung as it is sent the source (WebRTC plays them, docs/webrtc.md).
They carry video only. Viewers of every child stream count as the channel's viewers.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from time import monotonic
from typing import TYPE_CHECKING

import trio

from protocols import flv
from protocols.flv import (
    classify_audio_tag,
    classify_video_tag,
    is_multitrack_audio,
    is_multitrack_video,
)
from trioflix.live.channel.fanout import (
    DEFAULT_QUEUE_BYTES,
    VIEWER_PROTOCOLS,
    Audience,
    Subscriber,
    Transport,
)
from trioflix.live.channel.packets import Kind, Packet, metadata_packet
from trioflix.live.channel.timeline import Timeline
from trioflix.live.channel.tracks import MAX_TRACKS, split_tracks

if TYPE_CHECKING:
    from collections.abc import Iterator

    from protocols.amf import AMFValue

__all__ = ["DEFAULT_GOP_CACHE_BYTES", "IngestStats", "LiveStream"]

# Ten seconds of a 6 Mbit/s stream: a long GOP still fits; a runaway one cannot eat memory.
DEFAULT_GOP_CACHE_BYTES = 8 * 1024 * 1024
RATE_WINDOW_S = 5.0  # bitrate and frame rate are averaged over the last few seconds
# Recent traffic is counted per step this long, not per message: an entry per message
# was ~385 tuples per 3 Mbit/s channel, 1 MiB for 25 channels (docs/benchmarks.md,
# "Footprint"); per step it is at most 21 small lists.
RATE_STEP_S = 0.25


@dataclass
class IngestStats:
    """What the publisher is sending, for the status API, the studio and metrics."""

    video_codec: str | None = None
    audio_codec: str | None = None
    width: int | None = None
    height: int | None = None
    declared_fps: float | None = None
    bytes_in: int = 0
    video_frames: int = 0
    audio_frames: int = 0
    # Video frames no output could use: inter frames before the publisher's first
    # keyframe (the GOP cache, HLS and the ladder all start at a keyframe) and video
    # messages too malformed to parse (the HLS segmenter skips them).
    dropped_frames: int = 0
    # Recent traffic, for the rates: per RATE_STEP_S with packets, [step number, the
    # monotonic time of its first packet, bytes, video frames].
    _recent: deque[list[float]] = field(default_factory=deque, repr=False)

    def record(self, now: float, size: int, video_frame: bool) -> None:
        self.bytes_in += size
        recent = self._recent
        step = now // RATE_STEP_S
        if recent and recent[-1][0] == step:
            last = recent[-1]
            last[2] += size
            last[3] += video_frame
            return
        recent.append([step, now, size, video_frame])
        horizon = now - RATE_WINDOW_S
        while recent[0][1] < horizon:  # stops at the entry just added, at the latest
            recent.popleft()

    def _span(self, now: float) -> float:
        if not self._recent:
            return 0.0
        return max(now - self._recent[0][1], 1e-3)

    def bitrate_bps(self, now: float) -> int:
        span = self._span(now)
        return int(sum(entry[2] for entry in self._recent) * 8 / span) if span else 0

    def fps(self, now: float) -> float:
        span = self._span(now)
        frames = sum(entry[3] for entry in self._recent)
        return round(frames / span, 2) if span and frames > 1 else 0.0


class LiveStream:
    """A channel that is live (or reconnecting within the grace window).

    Attributes:
        channel: The channel (user) name.
        user_id: The owner.
        session_id: The stored live session this media belongs to.
        key_id: The stream key publishing it.
        started_at: Wall-clock start of the session (seconds since the epoch).
        peak_viewers: Most viewers at once in this session.
    """

    def __init__(
        self,
        *,
        channel: str,
        user_id: int,
        session_id: int,
        key_id: int,
        started_at: float,
        gop_cache_bytes: int = DEFAULT_GOP_CACHE_BYTES,
    ) -> None:
        self.channel = channel
        self.user_id = user_id
        self.session_id = session_id
        self.key_id = key_id
        self.started_at = started_at
        self.gop_cache_bytes = gop_cache_bytes
        self.timeline = Timeline()
        self.stats = IngestStats()
        self.peak_viewers = 0
        self.metadata: Packet | None = None
        self.video_config: Packet | None = None
        self.audio_config: Packet | None = None
        self._gop: list[Packet] = []
        self._gop_bytes = 0
        self._gop_valid = False
        self._awaiting_keyframe = True  # this publisher has sent no keyframe yet
        self._audience = Audience()  # viewers: gone when the publisher drops
        self._subscribers = self._audience.members
        # The session's consumers (HLS, recording, edge pulls): they stay for a reconnect.
        # An audience too, so that one with a writer (an edge's pull) is written to at
        # flush like an HTTP-FLV viewer, not woken for every read.
        self._session_audience = Audience()
        self._session_subscribers = self._session_audience.members
        self._external_viewers: dict[str, int] = {}  # counted elsewhere (HLS playback sessions)
        self.ended_reason: str | None = None  # set by end()
        self.generation = 0
        self.bytes_out = 0  # to viewers, all protocols, this session
        self.dropped = 0  # packets viewers lost by skipping ahead (those who left)
        self._tracks: dict[int, LiveStream] = {}  # a multitrack publisher's tracks 1..n
        self._new_track_video: trio.Event | None = None  # see wait_for_new_track
        self._renditions: dict[str, LiveStream] = {}  # the ladder's rungs, by name
        # The channel's stream: the viewers, bytes and drops of a track or a rung count
        # there, so a viewer of any of them is one of the channel's viewers.
        self._channel_stream = self
        self._own_audio = False  # a track stream: its publisher sent audio for this track

    # --- publisher side ----------------------------------------------------------------

    def new_publisher(self) -> None:
        """A (re)connected publisher starts: its timestamps are stitched onto the timeline."""
        self.timeline.new_publisher()
        self.generation += 1
        # The new encoder sends its own headers; stale ones must not reach new viewers.
        self.metadata = self.video_config = self.audio_config = None
        self._gop = []
        self._gop_bytes = 0
        self._gop_valid = False
        self._awaiting_keyframe = True
        # The new encoder may send other tracks, or none: viewers of the old ones finish.
        self._end_tracks("the publisher reconnected")

    def set_metadata(self, properties: dict[str, AMFValue]) -> None:
        # @setDataFrame wrappers and encoder-specific keys pass through untouched.
        self.metadata = metadata_packet(dict(properties), generation=self.generation)
        width, height, fps = (properties.get(k) for k in ("width", "height", "framerate"))
        if isinstance(width, float) and isinstance(height, float):
            self.stats.width, self.stats.height = int(width), int(height)
        if isinstance(fps, float):
            self.stats.declared_fps = fps
        self._fan_out(self.metadata)

    def publish(self, kind: Kind, timestamp: int, payload: bytes) -> Packet | None:
        """Take one audio or video message from the publisher and hand it to every viewer.

        Returns:
            The default track's packet, or ``None`` for a Multitrack message without one.
        """
        out_ts = self.timeline.map(kind, timestamp)
        if is_multitrack_video(payload) if kind is Kind.VIDEO else is_multitrack_audio(payload):
            return self._publish_tracks(kind, out_ts, payload)
        packet = self._publish_at(kind, out_ts, payload)
        if self._tracks and kind is Kind.AUDIO:
            self._share_audio(packet)
        return packet

    def track(self, track_id: int) -> LiveStream | None:
        """The stream of a multitrack publisher's track ``track_id`` (0 is this stream),
        or ``None`` while the publisher has sent no video for it."""
        if track_id == 0:
            return self
        child = self._tracks.get(track_id)
        return child if child is not None and child.video_config is not None else None

    @property
    def track_ids(self) -> list[int]:
        """The tracks viewers can ask for: 0 and every other track with video, in order."""
        return [0, *sorted(t for t, child in self._tracks.items() if child.video_config)]

    async def wait_for_new_track(self) -> None:
        """Wait until a track joins :attr:`track_ids` (its first video sequence header):
        what serves every track waits here rather than polling."""
        if self._new_track_video is None:
            self._new_track_video = trio.Event()
        await self._new_track_video.wait()

    def add_rendition(self, name: str) -> LiveStream:
        """A new child stream for the ladder's rung ``name``, which publishes its video on
        it with :meth:`publish_video` (its timestamps are on this stream's timeline)."""
        child = self._renditions[name] = self._new_track()
        child.audio_config = None  # video only: a rung's viewer takes the channel's audio
        return child

    def rendition(self, name: str) -> LiveStream | None:
        """The rung ``name``'s stream once it has sent its first keyframe; ``None`` before
        (or for a name the ladder never planned: see :attr:`rendition_names`)."""
        child = self._renditions.get(name)
        return child if child is not None and child.latest_keyframe() is not None else None

    @property
    def rendition_names(self) -> list[str]:
        """The rungs planned for this session and not dropped, producing or not."""
        return list(self._renditions)

    def end_rendition(self, name: str, reason: str) -> None:
        """The ladder dropped rung ``name``: its viewers finish."""
        child = self._renditions.pop(name, None)
        if child is not None:
            child.end(reason)

    def publish_video(self, timestamp: int, payload: bytes) -> Packet:
        """A rung's video message (an FLV video tag body at ``timestamp`` ms on the
        channel's timeline), to this child stream's viewers."""
        return self._publish_at(Kind.VIDEO, timestamp, payload)

    def _publish_tracks(self, kind: Kind, out_ts: int, payload: bytes) -> Packet | None:
        tracks = split_tracks(kind, payload)
        if tracks is None:
            if kind is Kind.VIDEO:
                self.stats.dropped_frames += 1  # as a malformed single-track frame counts
            return None
        packet = None
        for track_id, body in tracks:
            if track_id == 0:
                packet = self._publish_at(kind, out_ts, body)
                if kind is Kind.AUDIO:
                    self._share_audio(packet)
                continue
            child = self._tracks.get(track_id)
            if child is None:
                if len(self._tracks) >= MAX_TRACKS - 1:
                    continue
                child = self._tracks[track_id] = self._new_track()
            if kind is Kind.AUDIO:
                child._own_audio = True
            had_video = child.video_config is not None
            child._publish_at(kind, out_ts, body)
            if not had_video and child.video_config is not None:
                self._announce_new_track()
        return packet

    def _announce_new_track(self) -> None:
        if self._new_track_video is not None:
            self._new_track_video.set()
            self._new_track_video = None

    def _new_track(self) -> LiveStream:
        child = LiveStream(
            channel=self.channel,
            user_id=self.user_id,
            session_id=self.session_id,
            key_id=self.key_id,
            started_at=self.started_at,
            gop_cache_bytes=self.gop_cache_bytes,
        )
        child.generation = self.generation
        child._channel_stream = self
        child.audio_config = self.audio_config  # until the track sends audio of its own
        return child

    def _share_audio(self, packet: Packet) -> None:
        """The default track's audio also plays on the tracks that have none."""
        for child in self._tracks.values():
            if not child._own_audio:
                if packet.config:
                    child.audio_config = packet
                child._fan_out(packet)

    def _end_tracks(self, reason: str) -> None:
        for child in self._tracks.values():
            child.end(reason)
        self._tracks.clear()

    def _publish_at(self, kind: Kind, out_ts: int, payload: bytes) -> Packet:
        # Runs for every message of every publisher: the tag flags are read without
        # parsing (copying) the body, the FLV tag's header is encoded only if a viewer
        # needs it (Packet.flv_parts), and the common steps (stats, GOP cache) are inlined.
        stats = self.stats
        video = kind is Kind.VIDEO
        if video:
            flags = classify_video_tag(payload)
            keyframe, config = (False, False) if flags is None else flags
            keyframe = keyframe and not config
            packet = Packet(kind, out_ts, payload, keyframe, config, None, self.generation)
            if config:
                self.video_config = packet
                self._describe_video(payload)
            else:
                stats.video_frames += 1
                if keyframe:
                    self._awaiting_keyframe = False
                elif self._awaiting_keyframe or flags is None:
                    stats.dropped_frames += 1
        else:
            keyframe = False
            config = classify_audio_tag(payload) is True
            packet = Packet(kind, out_ts, payload, False, config, None, self.generation)
            if config:
                self.audio_config = packet
                self._describe_audio(payload)
            else:
                stats.audio_frames += 1
        stats.record(monotonic(), len(payload), video and not config)
        if not config:
            # The GOP cache: a keyframe starts it again; past gop_cache_bytes it is
            # dropped until the next keyframe (inlined: this runs for every message).
            if keyframe:
                self._gop = []
                self._gop_bytes = 0
                self._gop_valid = True
            if self._gop_valid:
                size = packet.size
                if self._gop_bytes + size > self.gop_cache_bytes:
                    self._gop = []
                    self._gop_bytes = 0
                    self._gop_valid = False
                else:
                    self._gop.append(packet)
                    self._gop_bytes += size
        if self._subscribers or self._session_subscribers:
            self._fan_out(packet)
        return packet

    def flush(self) -> None:
        """Write what is queued for every direct-idle viewer and edge pull, one write each.

        The publisher's task calls this once per socket read, after publishing all
        of it (:meth:`Audience.flush`). Never raises, never blocks.
        """
        sent = self._audience.flush() + self._session_audience.flush()
        if sent:
            self.count_sent(sent)
        for child in self._tracks.values():
            child.flush()

    def latest_keyframe(self) -> Packet | None:
        """The keyframe that opens the current GOP (with :attr:`video_config`, enough to
        decode one picture), or ``None`` before the first one or while the GOP is over
        the cache's cap."""
        if self._gop_valid and self._gop and self._gop[0].keyframe:
            return self._gop[0]
        return None

    def current_gop(self) -> tuple[Packet, ...]:
        """The current group of pictures, from its keyframe (empty before the first one
        or while the GOP is over the cache's cap): what a new viewer gets after the
        headers."""
        return tuple(self._gop)

    def _fan_out(self, packet: Packet) -> None:
        self.dropped += self._audience.offer(packet) + self._session_audience.offer(packet)

    def _describe_video(self, payload: bytes) -> None:
        try:
            tag = flv.parse_video_tag(payload)
            if tag.fourcc == "avc1":
                config = flv.parse_avc_config(tag.data)
                self.stats.video_codec = config.codec_string
                if config.sps:
                    sps = flv.parse_h264_sps(config.sps[0])
                    self.stats.width, self.stats.height = sps.width, sps.height
            elif tag.fourcc == "hvc1":
                self.stats.video_codec = flv.parse_hevc_config(tag.data).codec_string
            else:
                self.stats.video_codec = tag.fourcc  # av01, vp09: passed through as they are
        except flv.FLVError:
            pass  # an exotic or broken header: media still flows, the status just lacks it

    def _describe_audio(self, payload: bytes) -> None:
        try:
            tag = flv.parse_audio_tag(payload)
            self.stats.audio_codec = flv.parse_audio_specific_config(tag.data).codec_string
        except flv.FLVError:
            pass

    # --- viewer side -------------------------------------------------------------------

    def _children(self) -> list[LiveStream]:
        return [*self._tracks.values(), *self._renditions.values()]

    def _viewer_subscribers(self) -> Iterator[Subscriber]:
        """The viewers of this stream and of every track and rung of it."""
        yield from self._subscribers
        for child in self._children():
            yield from child._subscribers

    @property
    def viewers(self) -> int:
        """Viewers of the channel: of every track and rung, and those counted elsewhere."""
        return sum(1 for _ in self._viewer_subscribers()) + sum(self._external_viewers.values())

    def viewers_by_protocol(self) -> dict[str, int]:
        counts = dict.fromkeys(VIEWER_PROTOCOLS, 0)
        for subscriber in self._viewer_subscribers():
            counts[subscriber.protocol.value] += 1
        counts.update(self._external_viewers)
        return counts

    def set_external_viewers(self, protocol: str, count: int) -> None:
        """Viewers that hold no subscriber (HLS playback sessions, counted by requests)."""
        self._external_viewers[protocol] = count
        self.peak_viewers = max(self.peak_viewers, self.viewers)

    def subscribe(self, protocol: Transport, *, max_bytes: int = DEFAULT_QUEUE_BYTES) -> Subscriber:
        """Add a viewer, primed with metadata, sequence headers and the current GOP."""
        subscriber = Subscriber(protocol, max_bytes=max_bytes)
        if self.ended_reason is not None:
            # Looked up just before the session ended: the viewer sees the end at once.
            subscriber.close(self.ended_reason)
            return subscriber
        for packet in (self.metadata, self.video_config, self.audio_config):
            if packet is not None:
                subscriber.offer(packet)
        for packet in self._gop:
            subscriber.offer(packet)
        self._audience.add(subscriber)
        channel = self._channel_stream
        channel.peak_viewers = max(channel.peak_viewers, channel.viewers)
        return subscriber

    def subscribe_session(self, *, max_bytes: int = DEFAULT_QUEUE_BYTES) -> Subscriber:
        """A consumer for the whole session (HLS writer, recorder, an edge's pull): it
        stays subscribed across publisher reconnects and is closed only when the session
        ends. Packets of a new publisher carry a new ``generation``. One that attaches a
        writer (:meth:`Subscriber.attach_writer`) is written to at :meth:`flush` while
        its task is idle, as a viewer is."""
        subscriber = Subscriber(Transport.INTERNAL, max_bytes=max_bytes)
        if self.ended_reason is not None:
            # A session worker that starts after a very short session ended must not wait
            # for an end that already happened.
            subscriber.close(self.ended_reason)
            return subscriber
        for packet in (self.metadata, self.video_config, self.audio_config, *self._gop):
            if packet is not None:
                subscriber.offer(packet)
        self._session_audience.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        if subscriber in self._subscribers or subscriber in self._session_subscribers:
            self._channel_stream.dropped += subscriber.dropped
        self._audience.remove(subscriber)
        self._session_audience.remove(subscriber)

    def count_sent(self, size: int) -> None:
        """A viewer wrote ``size`` bytes (for metrics; a track's count as the channel's)."""
        self._channel_stream.bytes_out += size

    @property
    def dropped_total(self) -> int:
        """Packets skipped by viewers of every track, present and past."""
        return self.dropped + sum(s.dropped for s in self._viewer_subscribers())

    def disconnect_viewers(self, reason: str) -> None:
        """The publisher is gone: viewers drain what is queued and finish; the session's
        consumers, which stay for a reconnect, are nudged."""
        for subscriber in tuple(self._subscribers):
            subscriber.close(reason)
        for subscriber in self._session_subscribers:
            subscriber.nudge()
        self._audience.clear()
        for child in self._children():
            child.disconnect_viewers(reason)

    def end(self, reason: str) -> None:
        """The session is over: every viewer and session consumer finishes."""
        self.ended_reason = self.ended_reason or reason
        self.disconnect_viewers(reason)
        for subscriber in tuple(self._session_subscribers):
            subscriber.close(reason)
        self._session_audience.clear()
        self._end_tracks(reason)
        for child in self._renditions.values():
            child.end(reason)
        self._renditions.clear()
