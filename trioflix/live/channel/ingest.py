"""What a live channel's encoder sends, in figures: the status API's ``ingest``.

The channel's origin computes them; in a cluster it also publishes them in its
member record, so that every host's status answer carries the same figures.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trioflix.cluster.members import IngestFigure
    from trioflix.live.channel.stream import LiveStream

__all__ = ["ingest_figures"]


def ingest_figures(live: LiveStream) -> dict[str, IngestFigure]:
    """``live``'s codecs, picture size, frame rate, bitrate and counters now."""
    now = time.monotonic()
    stats = live.stats
    return {
        "video_codec": stats.video_codec,
        "audio_codec": stats.audio_codec,
        "width": stats.width,
        "height": stats.height,
        "fps": stats.fps(now) or stats.declared_fps,
        "bitrate_kbps": round(stats.bitrate_bps(now) / 1000, 1),
        "bytes_in": stats.bytes_in,
        "video_frames": stats.video_frames,
        "audio_frames": stats.audio_frames,
        "timestamp_discontinuities": live.timeline.discontinuities,
        # Video frames no output could use (before the first keyframe, malformed);
        # frames the encoder itself dropped never reach us (OBS shows those).
        "dropped_frames": stats.dropped_frames,
        "viewer_skipped_packets": live.dropped_total,
    }
