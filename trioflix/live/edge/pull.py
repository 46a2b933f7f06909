"""The internal pull's wire contract, shared by the origin's route and the edge.

An edge asks ``GET {origin}/internal/live/{channel}.flv`` with a pull token
(:mod:`trioflix.cluster.pull_auth`) in :data:`PULL_TOKEN_HEADER`. The origin
answers with the same FLV stream as the public HTTP-FLV route, and with headers
naming the live session, so the edge's copy of the channel carries the same
session as the origin's (:func:`session_headers`, :func:`stream_from_headers`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from trioflix.live.channel.stream import LiveStream

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["PULL_TOKEN_HEADER", "pull_url", "session_headers", "stream_from_headers"]

PULL_TOKEN_HEADER = "x-trioflix-pull-token"
_USER, _SESSION, _KEY, _STARTED = (
    "x-trioflix-user-id",
    "x-trioflix-session-id",
    "x-trioflix-key-id",
    "x-trioflix-started-at",
)


def pull_url(origin_url: str, channel: str) -> str:
    """Where an edge pulls ``channel`` from the origin at ``origin_url`` (its advertise URL)."""
    return f"{origin_url.rstrip('/')}/internal/live/{quote(channel, safe='')}.flv"


def session_headers(live: LiveStream) -> dict[str, str]:
    """The response headers that tell an edge which live session it pulls."""
    return {
        _USER: str(live.user_id),
        _SESSION: str(live.session_id),
        _KEY: str(live.key_id),
        _STARTED: repr(live.started_at),
    }


def stream_from_headers(
    channel: str, headers: Mapping[str, str], *, gop_cache_bytes: int
) -> LiveStream:
    """The edge's copy of ``channel``, for the session the origin's headers name.

    Raises:
        ValueError: a header is missing or does not parse (not a host of this site).
    """
    try:
        return LiveStream(
            channel=channel,
            user_id=int(headers[_USER]),
            session_id=int(headers[_SESSION]),
            key_id=int(headers[_KEY]),
            started_at=float(headers[_STARTED]),
            gop_cache_bytes=gop_cache_bytes,
        )
    except KeyError as exc:
        raise ValueError(f"the origin's answer lacks {exc}") from None
