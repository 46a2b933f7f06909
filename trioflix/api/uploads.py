"""tus 1.0.0 at ``/api/upload/video/tus`` over ASGI, and the upload status routes.

The tus requests are answered by :mod:`trioflix.uploads.tus_handler`; this
module carries them over Quart, with the request body read under backpressure
(:mod:`trioflix.uploads.http_body`). ``trioflix serve`` answers tus requests on
the socket itself when they open a connection (:mod:`trioflix.direct.tus`).
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any, cast

import trio
from quart import Blueprint, Response, request
from werkzeug.datastructures import Headers

from trioflix.api._http import current_user
from trioflix.asgi_internals import interim_sender, request_trailers
from trioflix.auth.bearer import user_for_token
from trioflix.errors import APIError
from trioflix.media.library import get_video, with_queue
from trioflix.state import state
from trioflix.uploads import records
from trioflix.uploads.http_body import FlowControlledBody, install_flow_control
from trioflix.uploads.resumable_handler import (
    RESUMABLE_PATH,
    RESUMABLE_UPLOAD_ROUTE,
    ResumableCall,
    handle_resumable,
)
from trioflix.uploads.service import TUS_PATH, TUS_UPLOAD_ROUTE
from trioflix.uploads.tus_handler import TusCall, handle_tus

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from quart import Quart
    from quart.blueprints import BlueprintSetupState

    from protocols import resumable, tus
    from trioflix.store.users import User
    from trioflix.uploads.records import Upload
    from trioflix.uploads.service import Uploads

__all__ = ["blueprint"]

logger = logging.getLogger(__name__)

blueprint = Blueprint("uploads", __name__)

# Every method reaches the handler, so that tus (not the router) answers 405
# with Allow, and X-HTTP-Method-Override works from POST.
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
STATUS_STREAM_HEARTBEAT_S = 15.0  # an SSE comment line keeps proxies from closing the stream
STATUS_STREAM_MAX_S = 3600.0  # EventSource reconnects by itself; this bounds one response
UNFINISHED_LISTED = 50  # more unfinished uploads than a page can sensibly show


@blueprint.record_once
def _install_flow_control(setup: BlueprintSetupState) -> None:
    # The upload routes read their bodies under backpressure, past the JSON size limit.
    install_flow_control(cast("Quart", setup.app), (TUS_PATH, RESUMABLE_PATH))


# --- tus --------------------------------------------------------------------


@blueprint.route(TUS_PATH, methods=_METHODS)
async def tus_creation() -> Response:
    return await _tus("creation", None)


@blueprint.route(TUS_UPLOAD_ROUTE, methods=_METHODS)
async def tus_upload(upload_id: str) -> Response:
    return await _tus("upload", upload_id)


async def _tus(resource: tus.Resource, upload_id: str | None) -> Response:
    body = request.body
    assert isinstance(body, FlowControlledBody)  # installed with this blueprint
    scope = request.scope
    call = TusCall(
        method=request.method,
        headers=request.headers,
        body=body,
        trailers=lambda: request_trailers(scope),
    )
    app_state = state()
    answer = await handle_tus(app_state.uploads, app_state, call, resource, upload_id)
    return _response(body, answer.status, answer.headers, answer.body)


def _response(
    body: FlowControlledBody, status: int, header_list: list[tuple[str, str]], content: bytes
) -> Response:
    """An upload route's answer as a Quart response."""
    headers = Headers(header_list)
    if (
        not body.complete
        and request.http_version.startswith("1.")  # h2 has no Connection field; the stream ends
        and (
            request.content_length
            or "chunked" in request.headers.get("Transfer-Encoding", "").lower()
        )
    ):
        # hypercorn stops reading a request once the app has answered, so the
        # unread rest of this body would wedge a kept-alive connection.
        headers.add("Connection", "close")
    response = Response(content, status=status, headers=headers)
    if "Content-Type" not in headers:
        del response.headers["Content-Type"]  # Quart's default; there is no body to type
    return response


# --- Resumable Uploads for HTTP ---------------------------------------------


@blueprint.route(RESUMABLE_PATH, methods=_METHODS)
async def resumable_creation() -> Response:
    return await _resumable("creation", None)


@blueprint.route(RESUMABLE_UPLOAD_ROUTE, methods=_METHODS)
async def resumable_upload(upload_id: str) -> Response:
    return await _resumable("upload", upload_id)


async def _resumable(resource: resumable.Resource, upload_id: str | None) -> Response:
    body = request.body
    assert isinstance(body, FlowControlledBody)  # installed with this blueprint
    call = ResumableCall(
        method=request.method,
        headers=request.headers,
        body=body,
        interim=interim_sender(request.scope),
    )
    app_state = state()
    answer = await handle_resumable(app_state.uploads, app_state, call, resource, upload_id)
    return _response(body, answer.status, answer.headers, answer.body)


# --- status ----------------------------------------------------------------


async def _status(service: Uploads, upload: Upload) -> dict[str, Any]:
    holder = service.locks.holder(upload.id)
    received = max(holder.received, upload.offset) if holder is not None else upload.offset
    length = upload.length
    percent = round(100 * received / length, 1) if length else (100.0 if length == 0 else None)
    out: dict[str, Any] = {
        "id": upload.id,
        "received": received,
        "length": length,
        "percent": percent,
        "state": "uploading",
        "processing_percent": None,
        "queue": None,
        "reason": None,
        "video_id": upload.video_id,
        "filename": upload.metadata_text("filename"),
        "expires_at": upload.expires_at if upload.state == "uploading" else None,
    }
    if upload.state == "expired":
        out.update(state="failed", reason="the upload expired before all bytes arrived")
    elif upload.state == "complete" and upload.video_id is None and not upload.is_partial:
        # Deleting a video sets its upload's video_id to NULL.
        out.update(state="failed", reason="the video was deleted")
    elif upload.video_id is not None:
        video = await get_video(service.db, upload.video_id)
        if video is None:
            out.update(state="failed", reason="the video was deleted")
        else:
            out["state"] = video.state
            out["processing_percent"] = round(video.progress * 100, 1)
            out["reason"] = video.failure
            (video,) = await with_queue(service.db, [video])
            out["queue"] = video.public()["queue"]
    return out


async def _status_user() -> User:
    """The caller, from ``Authorization`` or, for EventSource (which cannot set
    headers), a ``token`` query parameter."""
    token = request.args.get("token")
    if token is None:
        return await current_user()
    return await user_for_token(state(), token)


async def _visible(service: Uploads, user: User, upload_id: str) -> Upload:
    upload = await records.get_upload(service.db, upload_id, user.id)
    if upload is None or upload.state == "terminated":
        raise APIError(404, "not_found", "no such upload")
    return upload


@blueprint.get("/api/upload/status/<upload_id>")
async def upload_status(upload_id: str) -> dict[str, Any]:
    service = state().uploads
    user = await _status_user()
    return {"upload": await _status(service, await _visible(service, user, upload_id))}


@blueprint.get("/api/upload/unfinished")
async def unfinished_uploads() -> dict[str, Any]:
    """The caller's uploads still waiting for bytes (newest first), as status objects:
    what the studio lists for resuming or deleting (tus ``DELETE`` on the upload URL)."""
    service = state().uploads
    user = await current_user()
    uploads = await records.list_unfinished(service.db, user.id, UNFINISHED_LISTED)
    return {"uploads": [await _status(service, upload) for upload in uploads]}


@blueprint.get("/api/upload/status/<upload_id>/events")
async def upload_status_events(upload_id: str) -> Response:
    """Server-sent events: the status object each time it changes, until ready or failed."""
    service = state().uploads
    user = await _status_user()
    await _visible(service, user, upload_id)

    async def events() -> AsyncIterator[bytes]:
        last: dict[str, Any] | None = None
        deadline = trio.current_time() + STATUS_STREAM_MAX_S
        while trio.current_time() < deadline:
            upload = await records.get_upload(service.db, upload_id, user.id)
            if upload is None or upload.state == "terminated":
                return
            status = await _status(service, upload)
            if status != last:
                yield f"event: status\ndata: {json.dumps(status)}\n\n".encode()
                last = status
            if status["state"] in ("ready", "failed"):
                return
            with trio.move_on_after(STATUS_STREAM_HEARTBEAT_S) as idle:
                await service.hub.wait_changed(user.id)
            if idle.cancelled_caught:
                yield b": keep-alive\n\n"

    response = Response(
        events(),
        content_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
    response.timeout = None
    return response
