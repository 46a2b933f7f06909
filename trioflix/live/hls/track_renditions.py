"""A multitrack publisher's other tracks as HLS variants, passed through like the source.

Rules / theory of operation
---------------------------
1. Every track the publisher sends besides the default one (``LiveStream.track_ids``) gets
   a rendition named ``track<N>`` beside the source's, listed in the master playlist once
   it has a segment, with the track's picture size and measured bit rate. Nothing is
   decoded: the track's FLV tags go through a :class:`protocols.hls.Segmenter` as the
   source's do.
2. One encoder makes every track from the same pictures and places their keyframes at the
   same timestamps (OBS's Enhanced Broadcasting, ffmpeg with one GOP setting); segmenters
   with the same target duration fed the same keyframes cut at the same timestamps, so a
   player switches variants at segment boundaries as it does between ladder rungs.
3. The ABR ladder transcodes only the rungs whose height no track already has
   (:func:`covered_heights`).
4. A track's worker ends when its track does (the publisher reconnected or the session
   ended); the session ends, pauses and resumes its rendition with the others'.
5. With LL-HLS on, the track's tags also go, after its segmenter, to the track's
   :class:`~trioflix.live.hls.cmaf.CMAFRendition`, whose parts follow the source's (the
   same encoder's keyframes and timestamps, so the same part numbers).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

import trio

from protocols import flv, hls
from trioflix.live.channel.packets import Kind

if TYPE_CHECKING:
    from trioflix.live.channel.stream import LiveStream
    from trioflix.live.hls.rendition import Rendition
    from trioflix.live.hls.writer import HLSSession

__all__ = ["covered_heights", "serve_tracks"]

logger = logging.getLogger(__name__)

# Half of the 2 s in which every playlist ends (``trioflix.live.hls.writer.ENDLIST_DEADLINE_S``):
# the rest is for ending the playlists.
TRACK_FLUSH_S: Final = 1.0
# A session's track queue, as the source's: a slow disk is ridden out, memory bounded.
TRACK_QUEUE_BYTES: Final = 32 * 1024 * 1024


def covered_heights(stream: LiveStream) -> set[int]:
    """The picture heights the publisher's other tracks already offer (rule 3)."""
    heights = set()
    for track_id in stream.track_ids[1:]:
        track = stream.track(track_id)
        if track is not None and track.stats.height:
            heights.add(track.stats.height)
    return heights


async def serve_tracks(session: HLSSession) -> None:
    """Pass every other track of the session's publisher through to a rendition.

    Runs in the session's nursery, cancelled with it.
    """
    serving: set[int] = set()  # id() of the track streams being served
    async with trio.open_nursery() as nursery:
        while True:
            stream = session.stream
            for track_id in stream.track_ids[1:]:
                track = stream.track(track_id)
                if track is not None and id(track) not in serving:
                    serving.add(id(track))
                    nursery.start_soon(_pass_through, session, track_id, track, serving)
            await stream.wait_for_new_track()


async def _rendition(session: HLSSession, name: str, track: LiveStream) -> Rendition:
    rendition = session.rungs.get(name)
    if rendition is None:
        stats = track.stats
        size = (stats.width, stats.height) if stats.width and stats.height else None
        rendition = session.new_rung(name, nominal_bps=0, resolution=size)
        await trio.to_thread.run_sync(
            lambda: rendition.directory.mkdir(parents=True, exist_ok=True),
            limiter=session.hub.limiter,
        )
    return rendition


async def _pass_through(
    session: HLSSession, track_id: int, track: LiveStream, serving: set[int]
) -> None:
    name = f"track{track_id}"
    rendition = await _rendition(session, name, track)
    ll = session.low_latency(name)
    hub = session.hub
    segmenter = hls.Segmenter(target_duration_ms=hub.target_ms, max_duration_ms=hub.max_segment_ms)
    subscriber = track.subscribe_session(max_bytes=TRACK_QUEUE_BYTES)
    frames = 0
    try:
        while batch := await subscriber.next_batch():
            for packet in batch:
                if packet.kind is Kind.SCRIPT:
                    continue
                try:
                    if packet.kind is Kind.VIDEO:
                        tag = flv.parse_video_tag(packet.payload)
                        events = segmenter.push_video(tag, packet.timestamp)
                        frames += not packet.config
                        if ll is not None:
                            video, audio = segmenter.video_config, segmenter.audio_config
                            ll.push_video(tag, packet.timestamp, video=video, audio=audio)
                    else:
                        audio_tag = flv.parse_audio_tag(packet.payload)
                        events = segmenter.push_audio(audio_tag, packet.timestamp)
                        if ll is not None:
                            ll.push_audio(audio_tag, packet.timestamp)
                except (flv.FLVError, hls.HLSError) as exc:
                    logger.debug(
                        "%s track %d: skipping a bad tag: %s", track.channel, track_id, exc
                    )
                    continue
                for event in events:
                    if isinstance(event, hls.SegmentFinished):
                        await _add(session, rendition, track, segmenter, event, frames)
                        frames = 0
                rendition.newest_ms = packet.timestamp
        # The track ended with the session or the publisher: its last segment is listed
        # before the session ends every playlist, even as the session cancels this task.
        with trio.move_on_after(TRACK_FLUSH_S, shield=True):
            for event in segmenter.finish():
                if isinstance(event, hls.SegmentFinished):
                    await _add(session, rendition, track, segmenter, event, frames)
    finally:
        track.unsubscribe(subscriber)
        serving.discard(id(track))


async def _add(
    session: HLSSession,
    rendition: Rendition,
    track: LiveStream,
    segmenter: hls.Segmenter,
    segment: hls.SegmentFinished,
    frames: int,
) -> None:
    stats = track.stats
    rendition.codecs = segmenter.codecs
    if stats.width and stats.height:
        rendition.resolution = (stats.width, stats.height)
    if rendition.frame_rate is None and segment.duration_ms > 0 and frames > 1:
        rendition.frame_rate = round(frames * 1000 / segment.duration_ms, 3)
    first = not rendition.segments_added
    await rendition.add(segment, session.program_date_time(segment.start_ms))
    if first and rendition.segments_added:
        await session.rung_changed()
