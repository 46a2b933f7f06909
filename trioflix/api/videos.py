"""The video library: ``/api/videos`` and VOD files at ``/videos/{id}/...``.

Ready videos are public (listed, described, playable without a token).
Videos still processing or failed are visible to their owner only; anyone else
gets 404, as for an id that does not exist.
"""

from __future__ import annotations

import logging
import re
import shutil
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
import trio
from quart import Blueprint, Response, request, send_file

from trioflix.api._http import Body, current_user, json_body, parse_id
from trioflix.errors import APIError
from trioflix.jobs.queue import cancel_jobs
from trioflix.media.library import (
    Video,
    delete_video,
    get_video,
    list_videos,
    update_video,
    video_dir,
)
from trioflix.state import state
from trioflix.store.users import get_user_by_name

if TYPE_CHECKING:
    from trioflix.store.users import User

__all__ = ["blueprint"]

logger = logging.getLogger(__name__)

blueprint = Blueprint("videos", __name__)

PAGE_DEFAULT = 20
PAGE_MAX = 100
# What a VOD directory serves: playlists, segments, thumbnails, the sprite and its
# index; one optional rendition directory deep. Never the source file.
_VOD_FILE = re.compile(r"(?:[0-9]{3,4}p/)?[a-z0-9_]{1,32}\.(?:m3u8|ts|jpg|vtt)")
_CONTENT_TYPES = {
    "m3u8": "application/vnd.apple.mpegurl",
    "ts": "video/mp2t",
    "jpg": "image/jpeg",
    "vtt": "text/vtt",
}

Title = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Description = Annotated[str, msgspec.Meta(max_length=5000)]


class UpdateVideoBody(Body):
    title: Title | None = None
    description: Description | None = None


async def _optional_user() -> User | None:
    if "Authorization" not in request.headers:
        return None
    return await current_user()


async def _visible_video(video_id: int, user: User | None) -> Video:
    video = await get_video(state().db, video_id)
    if video is None or (video.state != "ready" and (user is None or user.id != video.user_id)):
        raise APIError(404, "not_found", "no such video")
    return video


def _page_args() -> tuple[int | None, int]:
    before_text = request.args.get("before")
    before = parse_id(before_text, "page") if before_text is not None else None
    limit_text = request.args.get("limit", str(PAGE_DEFAULT))
    if not limit_text.isascii() or not limit_text.isdigit() or not 1 <= int(limit_text) <= PAGE_MAX:
        raise APIError(422, "invalid_query", f"limit must be 1..{PAGE_MAX}")
    return before, int(limit_text)


@blueprint.get("/api/videos")
async def list_() -> dict[str, Any]:
    """Newest first. ``?mine=1`` (token needed): the caller's videos in every state;
    ``?channel=NAME``: that channel's ready videos; else every ready video."""
    before, limit = _page_args()
    db = state().db
    owner: int | None = None
    ready_only = True
    if request.args.get("mine") in ("1", "true"):
        owner = (await current_user()).id
        ready_only = False
    elif (channel := request.args.get("channel")) is not None:
        user = await get_user_by_name(db, channel)
        if user is None:
            return {"videos": [], "next_before": None}
        owner = user.id
    videos = await list_videos(
        db, user_id=owner, ready_only=ready_only, before_id=before, limit=limit
    )
    return {
        "videos": [v.public() for v in videos],
        "next_before": videos[-1].id if len(videos) == limit else None,
    }


@blueprint.get("/api/videos/<video_id>")
async def get_one(video_id: str) -> dict[str, Any]:
    video = await _visible_video(parse_id(video_id, "video"), await _optional_user())
    return {"video": video.public(detail=True)}


@blueprint.patch("/api/videos/<video_id>")
async def patch(video_id: str) -> dict[str, Any]:
    user = await current_user()
    body = await json_body(UpdateVideoBody)
    video = await update_video(
        state().db,
        parse_id(video_id, "video"),
        user.id,
        title=body.title.strip() if body.title is not None else None,
        description=body.description,
    )
    if video is None:
        raise APIError(404, "not_found", "no such video")
    return {"video": video.public(detail=True)}


@blueprint.delete("/api/videos/<video_id>")
async def delete(video_id: str) -> tuple[str, int]:
    """Stop its processing, forget it, remove every file it has."""
    user = await current_user()
    vid = parse_id(video_id, "video")
    app_state = state()
    video = await get_video(app_state.db, vid)
    if video is None or video.user_id != user.id:
        raise APIError(404, "not_found", "no such video")
    cancelled = await cancel_jobs(app_state.db, f"video:{vid}")
    await app_state.jobs.cancel(cancelled)
    await delete_video(app_state.db, vid, user.id)
    directory = video_dir(app_state.settings.data_dir, vid)
    await trio.to_thread.run_sync(lambda: shutil.rmtree(directory, ignore_errors=True))
    logger.info("video %d deleted (%d jobs cancelled)", vid, len(cancelled))
    return "", 204


@blueprint.get("/videos/<video_id>/<path:name>")
async def vod_file(video_id: str, name: str) -> Response:
    """A ready video's playlists, segments and images; immutable once ready."""
    if not _VOD_FILE.fullmatch(name):
        raise APIError(404, "not_found", "no such file")
    vid = parse_id(video_id, "video")
    video = await get_video(state().db, vid)
    if video is None or video.state != "ready":
        raise APIError(404, "not_found", "no such video")
    path = video_dir(state().settings.data_dir, vid) / name
    if not await trio.Path(path).is_file():
        raise APIError(404, "not_found", "no such file")
    response = await send_file(path, mimetype=_CONTENT_TYPES[name.rsplit(".", 1)[1]])
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response
