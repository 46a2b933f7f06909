"""tus 1.0.0 at ``/api/upload/video/tus`` and the upload status routes.

Every tus decision (versions, headers, extensions, offsets, limits, response
headers) is made by :mod:`protocols.tus`; this module stores and streams.
Every tus request except ``OPTIONS`` needs a bearer token, and an upload is
visible only to its creator (anyone else gets 404). Errors carry the tus
status code, ``Tus-Resumable`` and the API's JSON error body.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

import trio
from quart import Blueprint, Response, request
from werkzeug.datastructures import Headers

from protocols import tus
from trioflix.api._http import current_user
from trioflix.app import state
from trioflix.auth.tokens import InvalidToken
from trioflix.direct.trailers import request_trailers
from trioflix.errors import APIError
from trioflix.jobs.worker import JobWorkers, install_job_workers
from trioflix.media.library import get_video
from trioflix.store.users import get_user
from trioflix.uploads import records
from trioflix.uploads.completion import (
    assemble_final,
    assemble_waiting_finals,
    complete_upload,
)
from trioflix.uploads.http_body import FlowControlledBody, install_flow_control
from trioflix.uploads.service import TUS_PATH, install_uploads, uploads
from trioflix.uploads.transfer import ExpectedChecksum, receive_body

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from quart import Quart
    from quart.blueprints import BlueprintSetupState

    from trioflix.app import AppState
    from trioflix.store.users import User
    from trioflix.uploads.locks import Holder
    from trioflix.uploads.records import Upload
    from trioflix.uploads.service import Uploads

__all__ = ["blueprint"]

logger = logging.getLogger(__name__)

blueprint = Blueprint("uploads", __name__)

# Every method reaches the handler, so that tus (not the router) answers 405
# with Allow, and X-HTTP-Method-Override works from POST.
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_CORS_ALLOW_HEADERS = ", ".join((*tus.CORS_ALLOW_HEADERS, "Authorization", "X-Request-ID"))
_CORS_EXPOSE_HEADERS = ", ".join((*tus.CORS_EXPOSE_HEADERS, "X-Request-ID"))
CORS_MAX_AGE_S = 86400  # browsers cache the preflight for a day
STATUS_STREAM_HEARTBEAT_S = 15.0  # an SSE comment line keeps proxies from closing the stream
STATUS_STREAM_MAX_S = 3600.0  # EventSource reconnects by itself; this bounds one response


@blueprint.record_once
def _install(setup: BlueprintSetupState) -> None:
    app = cast("Quart", setup.app)
    app_state: AppState = app.trioflix  # type: ignore[attr-defined]
    workers = JobWorkers(lambda: app_state.db, concurrency=app_state.settings.media_workers)
    install_job_workers(app, workers)
    install_uploads(app, app_state).job_enqueued = workers.wake
    install_flow_control(app, (TUS_PATH,))


# --- responses -------------------------------------------------------------


def _cors(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    # Bearer tokens, not cookies, authenticate: any origin may call, no credentials mode.
    return [
        *headers,
        ("Access-Control-Allow-Origin", "*"),
        ("Access-Control-Expose-Headers", _CORS_EXPOSE_HEADERS),
    ]


def _reply(answer: tus.TusResponse) -> Response:
    response = Response(b"", status=answer.status, headers=Headers(_cors(list(answer.headers))))
    del response.headers["Content-Type"]  # there is no body to type
    return response


def _error(status: int, code: str, message: str, headers: list[tuple[str, str]]) -> Response:
    body = (
        b""
        if request.method == "HEAD"
        else json.dumps({"error": {"code": code, "message": message}}).encode()
    )
    if _body_unread():
        # hypercorn stops reading a request once the app has answered, so the
        # unread rest of this body would wedge a kept-alive connection.
        headers = [*headers, ("Connection", "close")]
    return Response(
        body,
        status=status,
        headers=Headers(_cors([("Tus-Resumable", tus.TUS_RESUMABLE), *headers])),
        content_type="application/json",
    )


def _body_unread() -> bool:
    body = request.body
    complete = isinstance(body, FlowControlledBody) and body.complete
    return not complete and (
        bool(request.content_length)
        or "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    )


def _preflight() -> Response:
    return Response(
        b"",
        status=204,
        headers=Headers(
            _cors(
                [
                    ("Access-Control-Allow-Methods", ", ".join(tus.CORS_ALLOW_METHODS)),
                    ("Access-Control-Allow-Headers", _CORS_ALLOW_HEADERS),
                    ("Access-Control-Max-Age", str(CORS_MAX_AGE_S)),
                ]
            )
        ),
    )


# --- routes ----------------------------------------------------------------


@blueprint.route(TUS_PATH, methods=_METHODS)
async def tus_creation() -> Response:
    return await _handle("creation", None)


@blueprint.route(f"{TUS_PATH}/<upload_id>", methods=_METHODS)
async def tus_upload(upload_id: str) -> Response:
    return await _handle("upload", upload_id)


async def _handle(resource: tus.Resource, upload_id: str | None) -> Response:
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        return _preflight()
    service = uploads()
    try:
        req = tus.parse_request(request.method, request.headers, service.config, resource=resource)
        if isinstance(req, tus.OptionsRequest):
            return _reply(tus.options_response(service.config))
        user = await current_user()
        if isinstance(req, tus.CreationRequest):
            return await _create(service, user, req)
        assert upload_id is not None
        if isinstance(req, tus.HeadRequest):
            return await _head(service, user, upload_id)
        if isinstance(req, tus.PatchRequest):
            return await _patch(service, user, upload_id, req)
        return await _terminate(service, user, upload_id)
    except tus.TusError as exc:
        return _error(exc.status, exc.code, exc.message, list(exc.headers))
    except APIError as exc:
        return _error(exc.status, exc.code, exc.message, list(exc.headers.items()))


def _now() -> datetime:
    return datetime.now(UTC)


async def _owned(service: Uploads, user: User, upload_id: str) -> Upload:
    """The caller's upload, or 404 (unknown, or someone else's) / 410 (terminated or expired)."""
    upload = await records.get_upload(service.db, upload_id, user.id)
    if upload is None:
        raise APIError(404, "not_found", "no such upload")
    if upload.state == "expired":
        raise tus.TusError(410, tus.ErrorCode.UPLOAD_EXPIRED, "this upload has expired")
    if upload.state == "terminated":
        raise APIError(410, "upload_terminated", "this upload was terminated")
    return upload


async def _create(service: Uploads, user: User, req: tus.CreationRequest) -> Response:
    final_length: int | None = None
    partial_ids: tuple[str, ...] = ()
    if isinstance(req.concat, tus.Final):
        partial_ids = req.concat.upload_ids(TUS_PATH)
        parts = []
        for number, partial_id in enumerate(partial_ids, start=1):
            part = await records.get_upload(service.db, partial_id, user.id)
            if part is None or part.gone or part.state == "consumed":
                raise tus.TusError(
                    400,
                    tus.ErrorCode.INVALID_CONCATENATION,
                    f"upload #{number} in Upload-Concat does not exist or is already used",
                )
            parts.append(part.tus_state())
        final_length = tus.final_length(parts, service.config)
    now = time.time()
    expires_at = datetime.fromtimestamp(now + service.expiry_s, UTC)
    new_state = tus.UploadState.from_creation(req, final_length=final_length, expires_at=expires_at)
    upload_id = records.new_upload_id()
    await service.files.create(upload_id)
    async with service.db.transaction() as tx:
        upload = await records.create_upload(
            tx,
            upload_id=upload_id,
            user_id=user.id,
            state=new_state,
            expires_at=expires_at.timestamp(),
        )
        await records.add_parts(tx, upload_id, partial_ids)
    location = f"{TUS_PATH}/{upload_id}"
    logger.info("upload %s created (length %s)", upload_id, new_state.length)

    if isinstance(req.concat, tus.Final):
        await assemble_final(service, upload_id)
    elif req.has_body:
        async with service.locks.hold(upload_id) as holder:
            try:
                upload = await _receive(service, upload, req.as_patch(), holder)
            except (tus.TusError, APIError) as exc:
                # The upload exists either way: answer with its Location and the
                # bytes kept, and the client resumes with HEAD and PATCH.
                logger.info("creation-with-upload %s kept partial data: %s", upload_id, exc)
                upload = await _owned(service, user, upload_id)
        await _after_release(service, upload)
    upload = await _owned(service, user, upload_id)
    return _reply(
        tus.creation_response(location=location, state=upload.tus_state(), with_upload=req.has_body)
    )


async def _head(service: Uploads, user: User, upload_id: str) -> Response:
    async with service.locks.hold(upload_id):
        upload = await _owned(service, user, upload_id)
    current = upload.tus_state()
    current.check_available(_now())
    return _reply(tus.head_response(current))


async def _patch(service: Uploads, user: User, upload_id: str, req: tus.PatchRequest) -> Response:
    async with service.locks.hold(upload_id) as holder:
        upload = await _owned(service, user, upload_id)
        upload = await _receive(service, upload, req, holder)
    await _after_release(service, upload)
    return _reply(tus.patch_response(upload.tus_state()))


async def _receive(
    service: Uploads, upload: Upload, req: tus.PatchRequest, holder: Holder
) -> Upload:
    """Stream the request body into ``upload`` (held); returns the upload as stored after."""
    plan = upload.tus_state().plan_patch(req, service.config, now=_now())
    if plan.declared_length is not None:
        await records.set_length(service.db, upload.id, plan.declared_length)
    holder.received = upload.offset

    async def commit(offset: int) -> None:
        await records.commit_offset(service.db, upload.id, offset, time.time() + service.expiry_s)

    body = request.body
    assert isinstance(body, FlowControlledBody)  # installed with this blueprint
    data = await service.files.open_at(upload.id, upload.offset)
    try:
        await receive_body(
            body,
            data,
            plan=plan,
            checksum=_expected_checksum(req, service.config),
            holder=holder,
            commit=commit,
            progress=lambda: service.hub.notify(upload.user_id),
        )
    finally:
        await data.aclose()
    stored = await records.get_upload(service.db, upload.id, None)
    assert stored is not None
    if stored.tus_state().finished and stored.state == "uploading":
        await complete_upload(service, stored)
        stored = await records.get_upload(service.db, upload.id, None)
        assert stored is not None
    return stored


def _expected_checksum(req: tus.PatchRequest, config: tus.TusConfig) -> ExpectedChecksum | None:
    """What the body must match: ``Upload-Checksum`` from the head, or from the trailer."""
    if req.checksum is not None:
        return ExpectedChecksum.given(req.checksum)
    if not req.checksum_trailer:
        return None
    scope = request.scope

    def from_trailer() -> tus.Checksum:
        trailers = request_trailers(scope)
        if trailers is None:
            raise tus.TusError(
                400,
                tus.ErrorCode.EXTENSION_NOT_SUPPORTED,
                "trailers do not reach the server over this connection (HTTP/2): "
                "send Upload-Checksum as a header",
            )
        values = [value for name, value in trailers if name == b"upload-checksum"]
        return tus.parse_checksum_trailer(values[-1].decode("latin-1") if values else None, config)

    return ExpectedChecksum(config.checksum_algorithms, from_trailer)


async def _after_release(service: Uploads, upload: Upload) -> None:
    """Work that needs other uploads' locks, done once this upload is released."""
    if upload.is_partial and upload.state == "complete":
        await assemble_waiting_finals(service, upload.id)


async def _terminate(service: Uploads, user: User, upload_id: str) -> Response:
    async with service.locks.hold(upload_id):
        upload = await _owned(service, user, upload_id)
        await records.mark(service.db, upload_id, "terminated")
        if upload.state == "uploading" or (upload.state == "complete" and upload.is_partial):
            # A finished ordinary upload's bytes already belong to its video.
            await service.files.remove(upload_id)
    logger.info("upload %s terminated", upload_id)
    return _reply(tus.termination_response())


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
        "reason": None,
        "video_id": upload.video_id,
        "filename": upload.metadata_text("filename"),
        "expires_at": upload.expires_at if upload.state == "uploading" else None,
    }
    if upload.state == "expired":
        out.update(state="failed", reason="the upload expired before all bytes arrived")
    elif upload.video_id is not None:
        video = await get_video(service.db, upload.video_id)
        if video is None:
            out.update(state="failed", reason="the video was deleted")
        else:
            out["state"] = video.state
            out["processing_percent"] = round(video.progress * 100, 1)
            out["reason"] = video.failure
    return out


async def _status_user() -> User:
    """The caller, from ``Authorization`` or, for EventSource (which cannot set
    headers), a ``token`` query parameter."""
    token = request.args.get("token")
    if token is None:
        return await current_user()
    app_state = state()
    try:
        user_id = app_state.tokens.verify(token)
    except InvalidToken as exc:
        raise APIError(401, "invalid_token", str(exc)) from None
    user = await get_user(app_state.db, user_id)
    if user is None:
        raise APIError(401, "invalid_token", "the token's user does not exist")
    return user


async def _visible(service: Uploads, user: User, upload_id: str) -> Upload:
    upload = await records.get_upload(service.db, upload_id, user.id)
    if upload is None or upload.state == "terminated":
        raise APIError(404, "not_found", "no such upload")
    return upload


@blueprint.get("/api/upload/status/<upload_id>")
async def upload_status(upload_id: str) -> dict[str, Any]:
    service = uploads()
    user = await _status_user()
    return {"upload": await _status(service, await _visible(service, user, upload_id))}


@blueprint.get("/api/upload/status/<upload_id>/events")
async def upload_status_events(upload_id: str) -> Response:
    """Server-sent events: the status object each time it changes, until ready or failed."""
    service = uploads()
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
