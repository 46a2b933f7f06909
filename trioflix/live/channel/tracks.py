"""A multitrack publisher's message, split into one plain message per track.

An enhanced RTMP v2 encoder (OBS's Enhanced Broadcasting, ffmpeg 9 with several video
outputs) sends several encodings of one picture in one connection: track 0, the default,
and further tracks in Multitrack messages. Every output of the channel that exists for
one picture (HTTP-FLV, RTMP play, recording, the HLS source) reads the default track as
plain legacy/single-track messages, so it works unchanged; the other tracks are kept per
track (see ``LiveStream.track``).
"""

from __future__ import annotations

from typing import Final

from protocols import flv
from trioflix.live.channel.packets import Kind

__all__ = ["MAX_TRACKS", "split_tracks"]

# Track ids are a UI8; a ladder has a handful of rungs. Tracks past this many are ignored
# so a hostile publisher cannot make the server keep 256 GOP caches.
MAX_TRACKS: Final = 8


def split_tracks(kind: Kind, payload: bytes) -> list[tuple[int, bytes]] | None:
    """``(track id, plain body)`` for every track a Multitrack body carries.

    A track whose packet has no plain form (an AAC MultichannelConfig) is left out.

    Returns:
        The tracks in body order, or ``None`` when the body is malformed.
    """
    try:
        if kind is Kind.VIDEO:
            video = flv.parse_multitrack_video(payload)
            bodies = [(t.track_id, flv.single_track_video(video, t.track_id)) for t in video.tracks]
        else:
            audio = flv.parse_multitrack_audio(payload)
            bodies = [(t.track_id, flv.single_track_audio(audio, t.track_id)) for t in audio.tracks]
    except flv.FLVError:
        return None
    return [(track_id, body) for track_id, body in bodies if body is not None]
