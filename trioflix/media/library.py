"""The video library: rows in ``videos``; their files are objects under the video's prefix.

A video is made by the processing pipeline from an upload or a live recording.
States: ``processing`` (with ``progress`` 0..1), ``ready`` (playable: HLS
ladder, thumbnails, sprite) and ``failed`` (``failure`` says why).

A live recording is ready first as it was streamed (one ``source`` rendition,
no thumbnails yet) with ``ladder_state`` ``pending``: its ladder and thumbnails
are being made, ``progress`` counting them. Then ``ladder_state`` is NULL
(complete), or ``failed`` if that step gave up: the video stays playable from
its source rendition.

Every object of a video lives under ``videos/ID-TOKEN/`` in the object store
(:attr:`Video.prefix`): ``TOKEN`` is random and kept in the row, so one
``delete_prefix`` removes the video and no URL of it can be guessed from its id.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from trioflix.jobs.queue import queue_spots

if TYPE_CHECKING:
    from trioflix.jobs.queue import QueueSpot
    from trioflix.store import Row, Transaction

__all__ = [
    "THUMBNAIL_POINTS",
    "LadderState",
    "Video",
    "VideoState",
    "create_video",
    "delete_video",
    "get_video",
    "list_videos",
    "new_media_token",
    "set_failed",
    "set_ladder_done",
    "set_ladder_failed",
    "set_progress",
    "set_ready",
    "update_video",
    "video_prefix",
    "video_subject",
    "with_queue",
]

VideoState = Literal["processing", "ready", "failed"]
LadderState = Literal["pending", "failed"]
#: Where thumbnails are taken, in percent of the duration; files are ``thumb_<p>.jpg``.
THUMBNAIL_POINTS: tuple[int, ...] = (10, 25, 50, 75, 90)

_COLUMNS = (
    "v.id, v.user_id, u.name AS channel, v.title, v.description, v.origin, v.state, v.failure,"
    " v.progress, v.duration, v.width, v.height, v.media, v.renditions, v.created_at,"
    " v.updated_at, v.media_token, v.ladder_state"
)
_FROM = "FROM videos v JOIN users u ON u.id = v.user_id"


@dataclass(frozen=True, slots=True, kw_only=True)
class Video:
    id: int
    user_id: int
    channel: str
    title: str
    description: str
    origin: str
    state: VideoState
    failure: str | None
    progress: float
    duration: float | None
    width: int | None
    height: int | None
    media: dict[str, Any] | None
    renditions: list[dict[str, Any]]
    created_at: float
    updated_at: float
    media_token: str | None
    ladder_state: LadderState | None
    #: Its unfinished processing job's place in the queue, when read with :func:`with_queue`.
    queue: QueueSpot | None = None

    @property
    def prefix(self) -> str:
        """The key prefix of every object of this video: ``videos/ID-TOKEN/``."""
        assert self.media_token is not None, "videos get their token at start-up"
        return video_prefix(self.id, self.media_token)

    def public(self, *, detail: bool = False) -> dict[str, Any]:
        """The video as the API shows it; ``detail`` adds the probed media facts."""
        base = f"/videos/{self.id}"
        ready = self.state == "ready"
        # Thumbnails and the sprite are made with the ladder.
        pictures = ready and self.ladder_state is None
        out: dict[str, Any] = {
            "id": self.id,
            "channel": self.channel,
            "title": self.title,
            "description": self.description,
            "origin": self.origin,
            "state": self.state,
            "progress": round(self.progress * 100, 1),
            "failure": self.failure,
            "duration": self.duration,
            "width": self.width,
            "height": self.height,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "thumbnails": {
                "poster": f"{base}/poster.jpg",
                "points": {str(p): f"{base}/thumb_{p}.jpg" for p in THUMBNAIL_POINTS},
                "sprite": f"{base}/sprite.jpg",
                "sprite_vtt": f"{base}/sprite.vtt",
            }
            if pictures
            else None,
            "playback": {"hls": f"{base}/master.m3u8"} if ready else None,
            "ladder": self.ladder_state,
            "queue": None
            if self.queue is None
            else {
                "state": self.queue.state,
                "ahead": self.queue.ahead,
                "retry_at": self.queue.run_after
                if self.queue.state == "queued" and self.queue.run_after > time.time()
                else None,
            },
        }
        if detail:
            out["media"] = self.media
            out["renditions"] = self.renditions
        return out


#: Random bytes in a media token: 128 bits, as unguessable as a session token.
MEDIA_TOKEN_BYTES = 16


def new_media_token() -> str:
    return secrets.token_hex(MEDIA_TOKEN_BYTES)


def video_prefix(video_id: int, media_token: str) -> str:
    return f"videos/{video_id}-{media_token}/"


def video_subject(video_id: int) -> str:
    """The ``subject`` of a video's jobs (deleting the video cancels them)."""
    return f"video:{video_id}"


async def with_queue(db: Transaction, videos: list[Video]) -> list[Video]:
    """``videos`` with :attr:`Video.queue` filled in for those still being processed."""
    busy = [v for v in videos if v.state == "processing" or v.ladder_state == "pending"]
    spots = await queue_spots(db, [video_subject(v.id) for v in busy])
    return [replace(v, queue=spots.get(video_subject(v.id))) for v in videos]


def _video(row: Row | None) -> Video | None:
    if row is None:
        return None
    return Video(
        **{
            **row,
            "media": json.loads(row["media"]) if row["media"] else None,
            "renditions": json.loads(row["renditions"]) if row["renditions"] else [],
        }
    )


async def create_video(
    db: Transaction, *, user_id: int, title: str, description: str, origin: str
) -> int:
    now = time.time()
    video_id = await db.fetchval(
        "INSERT INTO videos (user_id, title, description, origin, state, progress,"
        " created_at, updated_at, media_token)"
        " VALUES ($1, $2, $3, $4, 'processing', 0, $5, $5, $6) RETURNING id",
        user_id,
        title,
        description,
        origin,
        now,
        new_media_token(),
    )
    assert isinstance(video_id, int)
    return video_id


async def get_video(db: Transaction, video_id: int) -> Video | None:
    return _video(await db.fetchrow(f"SELECT {_COLUMNS} {_FROM} WHERE v.id = $1", video_id))


async def list_videos(
    db: Transaction,
    *,
    user_id: int | None,
    ready_only: bool,
    before_id: int | None,
    limit: int,
    origin: str | None = None,
) -> list[Video]:
    """Newest first; ``before_id`` continues a page (keyset pagination); ``origin``
    keeps only recordings (``"live"``) or uploads (``"upload"``); with
    :attr:`Video.queue` filled in."""
    rows = await db.fetch(
        f"SELECT {_COLUMNS} {_FROM}"
        " WHERE (CAST($1 AS BIGINT) IS NULL OR v.user_id = $1)"
        " AND (NOT $2 OR v.state = 'ready')"
        " AND (CAST($3 AS BIGINT) IS NULL OR v.id < $3)"
        " AND (CAST($5 AS TEXT) IS NULL OR v.origin = $5)"
        " ORDER BY v.id DESC LIMIT $4",
        user_id,
        ready_only,
        before_id,
        limit,
        origin,
    )
    return await with_queue(db, [v for row in rows if (v := _video(row)) is not None])


async def update_video(
    db: Transaction,
    video_id: int,
    user_id: int,
    *,
    title: str | None,
    description: str | None,
) -> Video | None:
    changed = await db.execute(
        "UPDATE videos SET title = COALESCE($3, title), description = COALESCE($4, description),"
        " updated_at = $5 WHERE id = $1 AND user_id = $2",
        video_id,
        user_id,
        title,
        description,
        time.time(),
    )
    return await get_video(db, video_id) if changed else None


async def set_progress(db: Transaction, video_id: int, progress: float) -> None:
    """The processing's progress, or the ladder's of a video ready as streamed."""
    await db.execute(
        "UPDATE videos SET progress = $2, updated_at = $3"
        " WHERE id = $1 AND (state = 'processing' OR ladder_state = 'pending')",
        video_id,
        progress,
        time.time(),
    )


async def set_ready(
    db: Transaction, video_id: int, result: dict[str, Any], *, ladder_pending: bool = False
) -> None:
    """Store the pipeline's result (see :mod:`trioflix.media.pipeline`) and publish the video.

    Args:
        ladder_pending: It is playable as streamed (:mod:`trioflix.media.remux`); its
            ladder and thumbnails come next.
    """
    media = result["media"]
    await db.execute(
        "UPDATE videos SET state = 'ready', progress = $8, failure = NULL, duration = $2,"
        " width = $3, height = $4, media = $5, renditions = $6, updated_at = $7,"
        " ladder_state = $9 WHERE id = $1 AND state = 'processing'",
        video_id,
        media["duration"],
        media["video"]["display_width"],
        media["video"]["display_height"],
        json.dumps(media),
        json.dumps(result["renditions"]),
        time.time(),
        0.0 if ladder_pending else 1.0,
        "pending" if ladder_pending else None,
    )


async def set_ladder_done(db: Transaction, video_id: int, renditions: list[dict[str, Any]]) -> None:
    """The ladder of a video ready as streamed is complete: ``renditions`` are all of them."""
    await db.execute(
        "UPDATE videos SET ladder_state = NULL, progress = 1, renditions = $2, updated_at = $3"
        " WHERE id = $1 AND ladder_state = 'pending'",
        video_id,
        json.dumps(renditions),
        time.time(),
    )


async def set_ladder_failed(db: Transaction, video_id: int) -> None:
    """The ladder step gave up; the video stays playable as streamed."""
    await db.execute(
        "UPDATE videos SET ladder_state = 'failed', updated_at = $2"
        " WHERE id = $1 AND ladder_state = 'pending'",
        video_id,
        time.time(),
    )


async def set_failed(db: Transaction, video_id: int, reason: str) -> None:
    await db.execute(
        "UPDATE videos SET state = 'failed', failure = $2, updated_at = $3"
        " WHERE id = $1 AND state = 'processing'",
        video_id,
        reason,
        time.time(),
    )


async def delete_video(db: Transaction, video_id: int, user_id: int) -> bool:
    return (
        await db.execute("DELETE FROM videos WHERE id = $1 AND user_id = $2", video_id, user_id) > 0
    )
