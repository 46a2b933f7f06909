"""The video library: ``/api/videos`` and VOD files at ``/videos/{id}/...``.

Ready videos are public (listed, described, playable without a token).
Videos still processing or failed are visible to their owner only; anyone else
gets 404, as for an id that does not exist.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
from quart import Blueprint, Response, request
from werkzeug.http import parse_range_header

from trioflix.api._http import Body, current_user, json_body, parse_id
from trioflix.errors import APIError
from trioflix.jobs.queue import cancel_jobs
from trioflix.media.library import (
    Video,
    delete_video,
    get_video,
    list_videos,
    update_video,
    with_queue,
)
from trioflix.media.processing import source_keys
from trioflix.media.stored import CONTENT_TYPES, cache_control
from trioflix.state import state
from trioflix.storage import ObjectNotFound
from trioflix.store.users import get_user_by_name

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from trioflix.storage import ObjectReader, ObjectStore
    from trioflix.store.users import User

__all__ = ["blueprint", "object_body"]

logger = logging.getLogger(__name__)

blueprint = Blueprint("videos", __name__)

PAGE_DEFAULT = 20
PAGE_MAX = 100
VIDEO_ORIGINS = ("live", "upload")  # a live session's recording, an uploaded file
# What a VOD directory serves: playlists, segments, thumbnails, the sprite and its
# index; one optional rendition directory deep (the ladder's, or a recording's
# rendition as streamed). Never the source file.
_VOD_FILE = re.compile(r"(?:[0-9]{3,4}p/|source/)?[a-z0-9_]{1,32}\.(?:m3u8|ts|jpg|vtt)")
_CORS = {"Access-Control-Allow-Origin": "*"}
#: Files redirected to a presigned URL when the store has them (S3); the rest are
#: streamed through the host. Chosen by measurement: docs/storage.md, "Serving".
_REDIRECTED = frozenset({"ts"})
PRESIGNED_S = 900
REDIRECT_CACHE_S = 300
STREAM_CHUNK_BYTES = 256 * 1024

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


def _origin_arg() -> str | None:
    origin = request.args.get("origin")
    if origin is not None and origin not in VIDEO_ORIGINS:
        raise APIError(422, "invalid_query", "origin must be live or upload")
    return origin


@blueprint.get("/api/videos")
async def list_() -> dict[str, Any]:
    """Newest first. ``?mine=1`` (token needed): the caller's videos in every state;
    ``?channel=NAME``: that channel's ready videos; else every ready video.
    ``?origin=live`` or ``upload``: recordings or uploads only."""
    before, limit = _page_args()
    origin = _origin_arg()
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
        db, user_id=owner, ready_only=ready_only, before_id=before, limit=limit, origin=origin
    )
    return {
        "videos": [v.public() for v in videos],
        "next_before": videos[-1].id if len(videos) == limit else None,
    }


@blueprint.get("/api/videos/<video_id>")
async def get_one(video_id: str) -> dict[str, Any]:
    video = await _visible_video(parse_id(video_id, "video"), await _optional_user())
    (video,) = await with_queue(state().db, [video])
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
    objects = app_state.objects
    # Its jobs' source objects (not yet processed, or kept by a failure) go with it. An
    # outage answers 503 before the row goes, so that deleting again finishes the work.
    for key in await source_keys(app_state.db, vid):
        await objects.delete(key)
    removed = await objects.delete_prefix(video.prefix)
    await delete_video(app_state.db, vid, user.id)
    logger.info("video %d deleted (%d jobs cancelled, %d objects)", vid, len(cancelled), removed)
    return "", 204


@blueprint.get("/videos/<video_id>/<path:name>")
async def vod_file(video_id: str, name: str) -> Response:
    """A ready video's playlists, segments and images, from the object store.

    Playlists and images are streamed through this host (the relative URIs in a
    playlist then resolve here), with range requests; segments too, unless the
    store can hand out a presigned URL (S3), to which they are redirected. With
    ``TRIOFLIX_MEDIA_BASE_URL`` set, every file is a redirect under it (a CDN).
    Any other video, and any other name, is 404: the store's keys carry the
    video's random token, which only a ready video's answers reveal.
    """
    if not _VOD_FILE.fullmatch(name):
        raise APIError(404, "not_found", "no such file")
    vid = parse_id(video_id, "video")
    app_state = state()
    video = await get_video(app_state.db, vid)
    if video is None or video.state != "ready":
        raise APIError(404, "not_found", "no such video")
    key = video.prefix + name
    extension = name.rsplit(".", 1)[1]
    base_url = app_state.settings.media_base_url
    if base_url is not None:
        return _redirect(f"{base_url}/{key}")
    if extension in _REDIRECTED:
        url = await app_state.objects.presign_get(key, expires_s=PRESIGNED_S)
        if url is not None:
            return _redirect(url)
    return await _stream(app_state.objects, key, extension)


def _redirect(url: str) -> Response:
    # Cached for less than the presigned URL lives: a player never follows a dead one.
    return Response(
        "",
        302,
        headers={"Location": url, "Cache-Control": f"private, max-age={REDIRECT_CACHE_S}", **_CORS},
    )


async def _stream(objects: ObjectStore, key: str, extension: str) -> Response:
    """The object through this host: whole, or the one byte range asked for (206/416)."""
    wanted = parse_range_header(request.headers.get("Range"))
    if wanted is not None and len(wanted.ranges) != 1:
        wanted = None  # several ranges: the whole object instead, as RFC 9110 allows
    try:
        if wanted is None:
            reader = await objects.open_read(key)
            info, span = reader.info, None
        else:
            info = await objects.head(key)
            span = wanted.range_for_length(info.size)
            if span is None:
                return Response("", 416, headers={"Content-Range": f"bytes */{info.size}", **_CORS})
            reader = await objects.open_read(key, offset=span[0], length=span[1] - span[0])
    except ObjectNotFound:
        raise APIError(404, "not_found", "no such file") from None
    headers = {
        "Content-Type": CONTENT_TYPES[extension],
        "Content-Length": str(reader.length),
        "Cache-Control": info.cache_control or cache_control(key),
        "Accept-Ranges": "bytes",
        "ETag": '"' + info.etag.strip('"') + '"',  # quoted on S3, bare on local disk
        **_CORS,
    }
    status = 200
    if span is not None:
        status = 206
        headers["Content-Range"] = f"bytes {span[0]}-{span[1] - 1}/{info.size}"
    if request.method == "HEAD":  # the headers alone: Quart would never start the body
        await reader.aclose()
        response = Response(b"", status, headers=headers)
        response.headers["Content-Length"] = headers["Content-Length"]  # the GET's, not b""'s
        return response
    return Response(object_body(reader), status, headers=headers)


async def object_body(reader: ObjectReader) -> AsyncIterator[bytes | bytearray]:
    """A response body of what ``reader`` reads, a bounded chunk at a time; closes it."""
    async with reader:
        while chunk := await reader.receive_some(STREAM_CHUNK_BYTES):
            yield chunk
