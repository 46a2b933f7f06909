"""A multitrack publisher's message, split into one plain message per track.

An enhanced RTMP v2 encoder (OBS's Enhanced Broadcasting, ffmpeg 9 with several video
outputs) sends several encodings of one picture in one connection: track 0, the default,
and further tracks in Multitrack messages. Every output of the channel that exists for
one picture (HTTP-FLV, RTMP play, recording, the HLS source) reads the default track as
plain legacy/single-track messages, so it works unchanged; the other tracks are kept per
track (see ``LiveStream.track``). HTTP-FLV, WS-FLV and RTMP viewers ask for another track
with ``?track=N`` (:func:`requested_track`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from protocols import flv
from trioflix.live.channel.packets import Kind

if TYPE_CHECKING:
    from trioflix.live.channel.stream import LiveStream

__all__ = ["MAX_TRACKS", "TrackNotFound", "requested_track", "split_tracks"]

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


class TrackNotFound(LookupError):
    """A viewer asked for a track the publisher does not send (or no track id at all)."""


def requested_track(live: LiveStream, value: str | None) -> LiveStream:
    """The stream a viewer's ``track`` query parameter (``None`` if absent) names.

    Raises:
        TrackNotFound: ``value`` is not a track id, or the publisher sends no such track.
    """
    if value is None:
        return live
    if not (value.isascii() and value.isdigit() and len(value) <= 3):
        raise TrackNotFound(f"track must be a track id (0-255), not {value[:20]!r}")
    track = live.track(int(value))
    if track is None:
        raise TrackNotFound(f"{live.channel} sends no track {int(value)}")
    return track
