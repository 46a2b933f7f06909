"""The media work of a ``video.process`` job, in one decoding pass (runs in a child process).

``process({"source", "output"}, report)`` probes the source, then decodes it
once and feeds every decoded picture to the HLS rendition writers, the
thumbnail picker and the sprite sheet, and every audio frame (resampled once)
to the renditions' AAC encoders. Output, in the video's directory:

- ``master.m3u8`` and ``<rung>/index.m3u8`` + ``<rung>/seg_NNNNN.ts``;
- ``thumb_<p>.jpg`` at each of :data:`THUMBNAIL_POINTS` percent, and
  ``poster.jpg``: the first of them, in order of preference, that is not a
  black or blank frame;
- ``sprite.jpg`` (seek-preview tiles) and ``sprite.vtt`` (its WebVTT index).

A live recording is playable as streamed before this runs
(:mod:`trioflix.media.remux`): its payload's ``listed`` holds that ``source``
rendition's master playlist entry, which the master playlist lists after the
ladder, so that a player that loaded the first master playlist keeps working
and a new one can pick the source too.

Run it through :mod:`trioflix.jobs.child`, never in the server process.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av
from av.audio.fifo import AudioFifo
from av.audio.resampler import AudioResampler

from protocols.hls import render_master_playlist
from trioflix.jobs.errors import PermanentJobError
from trioflix.media.images import SpriteSheet, brightness, encode_jpeg, fit_width
from trioflix.media.ladder import AUDIO_RATE, RenditionWriter, output_fps, plan_ladder
from trioflix.media.library import THUMBNAIL_POINTS
from trioflix.media.probe import NotPlayable, probe
from trioflix.media.remux import variant_from_fields

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["process"]

THUMBNAIL_WIDTH = 640
POSTER_WIDTH = 1280
POSTER_PREFERENCE = (25, 50, 10, 75, 90)  # a quarter in is rarely a title card or a fade
SPRITE_TILE_WIDTH = 160
SPRITE_COLUMNS = 10
SPRITE_MAX_TILES = 100  # one 1600x900-ish sheet for 16:9
SPRITE_MIN_INTERVAL_S = 1.0
AAC_FRAME_SAMPLES = 1024
PROGRESS_EVERY_S = 1.0  # of media time between progress reports


# Clockwise rotation -> the filters that turn a picture upright (what players do).
_UPRIGHT_FILTERS: dict[int, tuple[str, ...]] = {
    90: ("transpose=clock",),
    180: ("hflip", "vflip"),
    270: ("transpose=cclock",),
}


class _Rotator:
    """Turns pictures upright according to the probed rotation."""

    def __init__(self, rotation: int, stream: av.VideoStream) -> None:
        self._graph: av.filter.Graph | None = None
        self._filters = _UPRIGHT_FILTERS.get(rotation, ())
        self._stream = stream

    def __call__(self, frame: av.VideoFrame) -> av.VideoFrame:
        if not self._filters:
            return frame
        if self._graph is None:
            graph = av.filter.Graph()
            node = graph.add_buffer(
                template=self._stream,
                width=frame.width,
                height=frame.height,
                format=frame.format,
                time_base=frame.time_base,
            )
            for description in self._filters:
                name, _, args = description.partition("=")
                next_node = graph.add(name, args or None)
                node.link_to(next_node)
                node = next_node
            node.link_to(graph.add("buffersink"))
            graph.configure()
            self._graph = graph
        self._graph.push(frame)
        rotated = self._graph.pull()
        assert isinstance(rotated, av.VideoFrame)
        return rotated


def process(payload: dict[str, Any], report: Callable[[float], None]) -> dict[str, Any]:
    """Make a video's renditions, thumbnails and sprite from its source, decoding it once.

    Args:
        payload: ``{"source": path of the upload, "output": the video's directory}``,
            and optionally ``listed``: master playlist entries of renditions already
            stored (:func:`trioflix.media.remux.variant_fields`), listed after the ladder.
        report: Told the progress, 0 to 1.

    Returns:
        What the library records: the probed media, the renditions, the thumbnails.

    Raises:
        PermanentJobError: The source is not a playable video.
    """
    source = Path(payload["source"])
    output = Path(payload["output"])
    try:
        info = probe(source)
    except NotPlayable as exc:
        raise PermanentJobError(str(exc)) from None
    report(0.01)
    fps = output_fps(info)
    duration = info.duration
    width, height = info.video.display_width, info.video.display_height
    stills = _StillPicker(duration)
    sprite = SpriteSheet(
        *fit_width(width, height, SPRITE_TILE_WIDTH), SPRITE_COLUMNS, SPRITE_MAX_TILES
    )
    sprite_interval = max(SPRITE_MIN_INTERVAL_S, duration / SPRITE_MAX_TILES)
    next_report = 0.0

    with av.open(str(source)) as container:
        has_audio = bool(container.streams.audio)
        writers = [RenditionWriter(output, rung, fps, has_audio) for rung in plan_ladder(info)]
        audio = _AudioEncoder(writers)
        for at, picture in _decode(container, info.video.rotation, audio):
            pts = round(at * fps)
            for writer in writers:
                writer.video(picture, pts)
            stills.offer(at, picture)
            if at >= len(sprite) * sprite_interval:
                sprite.add(picture, at)
            if at >= next_report:
                report(0.02 + 0.95 * min(at / duration, 1.0))
                next_report = at + PROGRESS_EVERY_S
        if has_audio:
            audio.flush()
        for writer in writers:
            writer.close()

    if not stills.picked:
        raise PermanentJobError("the video has no decodable pictures")
    thumbnails = _write_stills(output, stills.picked, width, height)
    image, index = sprite.render(duration, "sprite.jpg")
    (output / "sprite.jpg").write_bytes(image)
    (output / "sprite.vtt").write_text(index)
    listed = [variant_from_fields(fields) for fields in payload.get("listed", [])]
    master = render_master_playlist(
        [*(w.variant(fps) for w in writers), *listed], independent_segments=True
    )
    (output / "master.m3u8").write_text(master)
    report(1.0)
    return {
        "media": info.as_dict(),
        "renditions": [w.describe() for w in writers],
        "thumbnails": thumbnails,
    }


def _decode(
    container: av.container.InputContainer, rotation: int, audio: _AudioEncoder
) -> Iterator[tuple[float, av.VideoFrame]]:
    """The decoding pass: every picture, upright, with its time from the first one.

    The audio frames met on the way go to ``audio``; a packet that does not
    decode is skipped, as players do.
    """
    video_stream = container.streams.video[0]
    video_stream.thread_type = "AUTO"
    streams = [video_stream, *container.streams.audio[:1]]
    rotate = _Rotator(rotation, video_stream)
    start: float | None = None
    for packet in container.demux(*streams):
        try:
            frames = packet.decode()
        except av.error.InvalidDataError:
            continue  # one damaged packet: skip it, as players do
        for frame in frames:
            if isinstance(frame, av.AudioFrame):
                audio.encode(frame)
                continue
            assert isinstance(frame, av.VideoFrame)
            if frame.time is None:
                continue
            if start is None:
                start = frame.time
            yield frame.time - start, rotate(frame)


class _AudioEncoder:
    """Resamples the source's audio once and hands it to every rendition in AAC-sized frames."""

    def __init__(self, writers: list[RenditionWriter]) -> None:
        self._writers = writers
        self._resampler = AudioResampler(format="fltp", layout="stereo", rate=AUDIO_RATE)
        self._fifo = AudioFifo()
        self._samples = 0

    def encode(self, frame: av.AudioFrame) -> None:
        self._write(self._resampler.resample(frame))

    def flush(self) -> None:
        """The resampler's and the FIFO's last samples, at the end of the source."""
        self._write(self._resampler.resample(None))
        rest = self._fifo.read()
        if rest is not None:
            self._send(rest)

    def _write(self, frames: list[av.AudioFrame]) -> None:
        for resampled in frames:
            resampled.pts = None
            self._fifo.write(resampled)
        while (chunk := self._fifo.read(AAC_FRAME_SAMPLES)) is not None:
            self._send(chunk)

    def _send(self, chunk: av.AudioFrame) -> None:
        chunk.pts = self._samples
        chunk.time_base = Fraction(1, AUDIO_RATE)
        self._samples += chunk.samples
        for writer in self._writers:
            writer.audio(chunk)


class _StillPicker:
    """Keeps the first picture at or past each of :data:`THUMBNAIL_POINTS` percent."""

    def __init__(self, duration: float) -> None:
        self._targets = {p: duration * p / 100 for p in THUMBNAIL_POINTS}
        self.picked: dict[int, av.VideoFrame] = {}

    def offer(self, at: float, picture: av.VideoFrame) -> None:
        for point, target in self._targets.items():
            if point not in self.picked and at >= target:
                self.picked[point] = picture


def _write_stills(
    output: Path, stills: dict[int, av.VideoFrame], width: int, height: int
) -> dict[str, Any]:
    # A point past the last decoded picture (a short or truncated file) reuses the last one.
    last = stills[max(stills)]
    thumb_size = fit_width(width, height, THUMBNAIL_WIDTH)
    for point in THUMBNAIL_POINTS:
        frame = stills.get(point, last)
        (output / f"thumb_{point}.jpg").write_bytes(encode_jpeg(frame, *thumb_size))
    poster_point = next(
        (p for p in POSTER_PREFERENCE if p in stills and brightness(stills[p]).usable),
        max(stills, key=lambda p: brightness(stills[p]).spread),
    )
    poster = stills[poster_point]
    (output / "poster.jpg").write_bytes(
        encode_jpeg(poster, *fit_width(width, height, POSTER_WIDTH))
    )
    return {"poster_from": poster_point, "points": list(THUMBNAIL_POINTS)}
