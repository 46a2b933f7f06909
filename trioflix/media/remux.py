"""A live recording as it was streamed, as HLS: its fast first step (runs in a child process).

``remux({"source", "output"}, report)`` probes the recorded FLV and copies its
H.264 and AAC packets, untouched, into MPEG-TS segments of a VOD media
playlist: no decoding, no encoding, so a 5-minute recording takes about a
second. Output, in the video's directory:

- ``source/index.m3u8`` + ``source/seg_NNNNN.ts``, cut at the encoder's
  keyframes, every :data:`~trioflix.media.ladder.SEGMENT_SECONDS` or more;
- ``master.m3u8`` listing that one rendition.

The ladder and the thumbnails come later, from the same source
(:mod:`trioflix.media.pipeline`, whose master playlist lists the source
rendition too). A source whose codecs a browser cannot play from TS is not
copied (``{"copied": false}``): its video waits for the ladder instead.

Run it through :mod:`trioflix.jobs.child`, never in the server process.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import av

from protocols.hls import Variant, render_master_playlist
from trioflix.jobs.errors import PermanentJobError
from trioflix.media.ladder import SEGMENT_SECONDS, avc_codec_string, measure_playlist
from trioflix.media.probe import NotPlayable, probe

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["SOURCE_RENDITION", "remux", "variant_fields", "variant_from_fields"]

SOURCE_RENDITION = "source"  # the rendition's directory, next to the ladder's "720p"...
COPIED_VIDEO = frozenset({"h264"})  # what every browser's MSE plays from MPEG-TS
COPIED_AUDIO = frozenset({"aac"})
AAC_CODEC_STRING = "mp4a.40.2"  # AAC-LC: what encoders send over RTMP
PROGRESS_EVERY_S = 10.0  # of media time between progress reports


def variant_fields(variant: Variant) -> dict[str, Any]:
    """A master playlist entry as JSON (the job result), for :class:`Variant` again."""
    return {
        "uri": variant.uri,
        "bandwidth": variant.bandwidth,
        "average_bandwidth": variant.average_bandwidth,
        "codecs": list(variant.codecs),
        "resolution": list(variant.resolution) if variant.resolution else None,
        "frame_rate": variant.frame_rate,
    }


def variant_from_fields(fields: dict[str, Any]) -> Variant:
    """The :class:`Variant` that :func:`variant_fields` wrote."""
    resolution = fields["resolution"]
    return Variant(
        uri=fields["uri"],
        bandwidth=fields["bandwidth"],
        average_bandwidth=fields["average_bandwidth"],
        codecs=tuple(fields["codecs"]),
        resolution=(resolution[0], resolution[1]) if resolution else None,
        frame_rate=fields["frame_rate"],
    )


def remux(payload: dict[str, Any], report: Callable[[float], None]) -> dict[str, Any]:
    """Copy a recording's packets into the ``source`` HLS rendition and its master playlist.

    Args:
        payload: ``{"source": path of the recording, "output": the video's directory}``.
        report: Told the progress, 0 to 1.

    Returns:
        ``{"copied": false}`` if the codecs are not copied; else ``copied``, the probed
        ``media``, the ``renditions`` (the source alone) and the source's master
        playlist entry (``variant``, see :func:`variant_fields`).

    Raises:
        PermanentJobError: The source is not a playable video.
    """
    source = Path(payload["source"])
    output = Path(payload["output"])
    try:
        info = probe(source)
    except NotPlayable as exc:
        raise PermanentJobError(str(exc)) from None
    audio_codec = info.audio.codec if info.audio is not None else None
    if info.video.codec not in COPIED_VIDEO or audio_codec not in (None, *COPIED_AUDIO):
        return {"copied": False}
    directory = output / SOURCE_RENDITION
    directory.mkdir(parents=True)
    playlist = directory / "index.m3u8"
    next_report = 0.0
    with av.open(str(source)) as container:
        video_in = container.streams.video[0]
        inputs = [video_in, *container.streams.audio[:1]]
        codecs = [avc_codec_string(video_in.codec_context.extradata or b"")]
        if len(inputs) > 1:
            codecs.append(AAC_CODEC_STRING)
        with av.open(
            str(playlist),
            "w",
            format="hls",
            options={
                "hls_time": str(SEGMENT_SECONDS),
                "hls_playlist_type": "vod",
                "hls_segment_filename": str(directory / "seg_%05d.ts"),
                "hls_flags": "independent_segments",
            },
        ) as muxer:
            outputs = {s.index: muxer.add_stream_from_template(s) for s in inputs}
            start: float | None = None
            for packet in container.demux(*inputs):
                if packet.dts is None:
                    continue  # the demuxer's flush packet at the end of each stream
                if packet.stream is video_in and packet.pts is not None:
                    at = float(packet.pts * packet.time_base)
                    start = at if start is None else start
                    if at - start >= next_report:
                        report(min((at - start) / info.duration, 1.0) * 0.95)
                        next_report = at - start + PROGRESS_EVERY_S
                packet.stream = outputs[packet.stream.index]
                muxer.mux(packet)
    peak, average = measure_playlist(playlist)
    variant = Variant(
        uri=f"{SOURCE_RENDITION}/index.m3u8",
        bandwidth=max(peak, 1),
        average_bandwidth=max(average, 1),
        codecs=tuple(codecs),
        resolution=(info.video.width, info.video.height),
        frame_rate=info.video.fps or None,
    )
    (output / "master.m3u8").write_text(
        render_master_playlist([variant], independent_segments=True)
    )
    report(1.0)
    return {
        "copied": True,
        "media": info.as_dict(),
        "renditions": [
            {
                "name": SOURCE_RENDITION,
                "width": info.video.width,
                "height": info.video.height,
                "bitrate": average,
                "playlist": variant.uri,
            }
        ],
        "variant": variant_fields(variant),
    }
