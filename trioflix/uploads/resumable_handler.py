"""Resumable Uploads for HTTP (draft-ietf-httpbis-resumable-upload-12) at
``/api/upload/video/resumable``, on the same upload store as tus.

Every protocol decision is made by :mod:`protocols.resumable`; the bytes go
where tus's go (:mod:`trioflix.uploads.appends`), so an upload has the same
bearer auth, ownership (anyone else's upload is 404), fsync before an offset
is acknowledged, lock takeover, expiry and processing, and shows in
``/api/upload/status/{id}``. Errors are problem details (RFC 9457,
``application/problem+json``) with the draft's problem types where it has
them. :mod:`trioflix.api.uploads` carries the requests over Quart.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from protocols import resumable, tus
from trioflix.auth.bearer import user_for_authorization
from trioflix.errors import APIError
from trioflix.storage import StorageUnavailable
from trioflix.store import StoreUnavailable
from trioflix.uploads import records, running_digest
from trioflix.uploads.appends import (
    after_release,
    finish_upload,
    now,
    owned_upload,
    receive_upload,
    terminate_upload,
)
from trioflix.uploads.running_digest import RunningSha256
from trioflix.uploads.transfer import ExpectedChecksum, ExpectedRepresentation
from trioflix.uploads.tus_handler import CORS_MAX_AGE_S, STORAGE_RETRY_AFTER_S

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from trioflix.auth.bearer import Verifier
    from trioflix.store.users import User
    from trioflix.uploads.locks import Holder
    from trioflix.uploads.records import Upload
    from trioflix.uploads.service import Uploads
    from trioflix.uploads.tus_handler import TusBody

__all__ = [
    "RESUMABLE_PATH",
    "RESUMABLE_UPLOAD_ROUTE",
    "ResumableAnswer",
    "ResumableCall",
    "handle_resumable",
]

logger = logging.getLogger(__name__)

#: Where uploads are created; each upload is ``RESUMABLE_PATH/<id>``.
RESUMABLE_PATH = "/api/upload/video/resumable"
#: The upload URLs' route, as Quart names it.
RESUMABLE_UPLOAD_ROUTE = f"{RESUMABLE_PATH}/<upload_id>"
#: 104 (Upload Resumption Supported): the draft's interim response to a creation.
UPLOAD_RESUMPTION_SUPPORTED = 104

_FIELDS = ("Upload-Offset", "Upload-Complete", "Upload-Length", "Upload-Limit")
_CORS_EXPOSE = ", ".join(("Location", *_FIELDS, "X-Request-ID"))
_CORS_ALLOW_HEADERS = ", ".join(
    (
        "Authorization",
        "Content-Type",
        "Content-Digest",
        "Repr-Digest",
        *_FIELDS[:3],
        "X-Request-ID",
    )
)


@dataclass(frozen=True)
class ResumableCall:
    """One request, whatever carried it.

    Attributes:
        method: The request method.
        headers: The request headers.
        body: The request body.
        interim: Sends an interim response (status, headers) ahead of the final
            one; ``None`` where the connection cannot (HTTP/1.0, plain hypercorn).
    """

    method: str
    headers: resumable.HeaderSource
    body: TusBody
    interim: Callable[[int, list[tuple[str, str]]], Awaitable[None]] | None = None


@dataclass(frozen=True)
class ResumableAnswer:
    """The response: status, headers (CORS included) and body (problem JSON for errors)."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""


def _cors(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    # Bearer tokens, not cookies, authenticate: any origin may call, no credentials mode.
    return [
        *headers,
        ("Access-Control-Allow-Origin", "*"),
        ("Access-Control-Expose-Headers", _CORS_EXPOSE),
    ]


def _problem(
    head: bool, body: dict[str, object], headers: list[tuple[str, str]]
) -> ResumableAnswer:
    status = body["status"]
    assert isinstance(status, int)
    content = b"" if head else json.dumps(body).encode()
    return ResumableAnswer(
        status, _cors([*headers, ("Content-Type", resumable.PROBLEM_JSON)]), content
    )


def _preflight() -> ResumableAnswer:
    return ResumableAnswer(
        204,
        _cors(
            [
                ("Access-Control-Allow-Methods", "POST, HEAD, PATCH, DELETE"),
                ("Access-Control-Allow-Headers", _CORS_ALLOW_HEADERS),
                ("Access-Control-Max-Age", str(CORS_MAX_AGE_S)),
            ]
        ),
    )


async def handle_resumable(
    service: Uploads,
    app_state: Verifier,
    call: ResumableCall,
    resource: resumable.Resource,
    upload_id: str | None,
) -> ResumableAnswer:
    """Answer one request for the creation URL or for upload ``upload_id``.

    Raises:
        Exception: Only bugs; every error a client can cause is an answer.
    """
    if call.method == "OPTIONS":
        return _preflight()
    head = call.method == "HEAD"
    location: list[tuple[str, str]] = []
    try:
        req = resumable.parse_request(call.method, call.headers, resource)
        user = await user_for_authorization(app_state, _header(call.headers, "Authorization"))
        if isinstance(req, resumable.Creation):
            return await _create(service, user, call, req, location)
        assert upload_id is not None
        if isinstance(req, resumable.OffsetRetrieval):
            return await _head(service, user, upload_id)
        if isinstance(req, resumable.Append):
            return await _append(service, user, call, upload_id, req)
        await terminate_upload(service, user, upload_id)
        return ResumableAnswer(204, _cors([]))
    except resumable.ResumableError as exc:
        allow = [("Allow", "POST" if resource == "creation" else "HEAD, PATCH, DELETE")]
        return _problem(head, exc.problem(), [*location, *(allow if exc.status == 405 else [])])
    except tus.TusError as exc:
        body = resumable.problem(exc.status, exc.code, exc.message)
        return _problem(head, body, [*location, *exc.headers])
    except APIError as exc:
        body = resumable.problem(exc.status, exc.code, exc.message)
        return _problem(head, body, [*location, *exc.headers.items()])
    except StoreUnavailable as exc:
        logger.warning("database unavailable: %s", exc)
        body = resumable.problem(
            503, "database_unavailable", "the database is unavailable; try again shortly"
        )
        return _problem(head, body, [("Retry-After", "1")])
    except StorageUnavailable as exc:
        # Nothing acknowledged is lost: the committed offset names stored bytes only.
        logger.warning("object storage unavailable: %s", exc)
        body = resumable.problem(
            503, "storage_unavailable", "the media storage is unavailable; resume shortly"
        )
        return _problem(head, body, [*location, ("Retry-After", str(STORAGE_RETRY_AFTER_S))])


def _header(headers: resumable.HeaderSource, name: str) -> str:
    """The last value of header ``name`` (any case); empty if it was not sent."""
    wanted = name.lower()
    found = ""
    for key, value in headers.items():
        if key.lower() == wanted:
            found = value
    return found


def _progress(upload: Upload) -> resumable.Progress:
    return resumable.Progress(
        offset=upload.offset, length=upload.length, complete=upload.state != "uploading"
    )


def _limit(service: Uploads, upload: Upload) -> list[tuple[str, str]]:
    expires_s = None
    if upload.state == "uploading" and upload.expires_at is not None:
        expires_s = int(upload.expires_at - time.time())
    value = resumable.limit_header(max_size=service.config.max_size, expires_s=expires_s)
    return [] if value is None else [("Upload-Limit", value)]


async def _create(
    service: Uploads,
    user: User,
    call: ResumableCall,
    req: resumable.Creation,
    location: list[tuple[str, str]],
) -> ResumableAnswer:
    # A creation too large for the server is refused before the upload exists.
    fresh = resumable.Progress(offset=0, length=None, complete=False)
    length = fresh.plan_append(req.as_append(), service.config.max_size).declared_length
    await service.quota.check(service.db, user.id, length)
    expires_at = time.time() + service.expiry_s
    upload_id = records.new_upload_id()
    multipart_id = await service.files.create(upload_id, final=False)
    async with service.db.transaction() as tx:
        upload = await records.create_upload(
            tx,
            upload_id=upload_id,
            user_id=user.id,
            state=tus.UploadState(
                length=length, expires_at=datetime.fromtimestamp(expires_at, UTC)
            ),
            expires_at=expires_at,
            multipart_id=multipart_id,
        )
        if running_digest.available():
            # Its running sha-256 starts with it, so a Repr-Digest can be checked at the end.
            await records.save_digest(tx, upload_id, 0, RunningSha256().state())
            upload = replace(upload, digest_state=RunningSha256().state(), digest_offset=0)
    # From here on every answer names the upload, so the client can resume it.
    location.append(("Location", f"{RESUMABLE_PATH}/{upload_id}"))
    logger.info("resumable upload %s created (length %s)", upload_id, length)
    if call.interim is not None:
        # A client cut off while the content arrives resumes at this Location.
        await call.interim(UPLOAD_RESUMPTION_SUPPORTED, [*location, *_limit(service, upload)])
    async with service.locks.hold(upload_id) as holder:
        upload = await _receive(service, call, upload, req.as_append(), holder)
    await after_release(service, upload)
    return ResumableAnswer(
        201,
        _cors(
            [*location, *resumable.progress_headers(_progress(upload)), *_limit(service, upload)]
        ),
    )


async def _head(service: Uploads, user: User, upload_id: str) -> ResumableAnswer:
    # Holding the lock evicts a request still appending (lock takeover), so the
    # offset answered is final until the client appends again.
    async with service.locks.hold(upload_id):
        upload = await owned_upload(service, user, upload_id)
    upload.tus_state().check_available(now())
    return ResumableAnswer(
        204,
        _cors(
            [
                *resumable.progress_headers(_progress(upload)),
                *_limit(service, upload),
                ("Cache-Control", "no-store"),
            ]
        ),
    )


async def _append(
    service: Uploads, user: User, call: ResumableCall, upload_id: str, req: resumable.Append
) -> ResumableAnswer:
    async with service.locks.hold(upload_id) as holder:
        upload = await owned_upload(service, user, upload_id)
        upload = await _receive(service, call, upload, req, holder)
    await after_release(service, upload)
    return ResumableAnswer(204, _cors(list(resumable.progress_headers(_progress(upload)))))


async def _receive(
    service: Uploads, call: ResumableCall, upload: Upload, req: resumable.Append, holder: Holder
) -> Upload:
    """Stream the body into ``upload`` (held) as ``req`` says; the upload as stored after."""
    plan = _progress(upload).plan_append(req, service.config.max_size)
    upload.tus_state().check_available(now())
    content_sha256 = req.sha256
    if content_sha256 is None and req.offset == 0 and req.complete:
        # The content is the whole upload: its Repr-Digest is the content's digest
        # too, so a mismatch keeps nothing of it, as Content-Digest's does.
        content_sha256 = req.repr_sha256
    sha256 = None
    if content_sha256 is not None:
        sha256 = tus.Checksum(algorithm="sha256", digest=content_sha256)
    patch = tus.PatchRequest(
        offset=upload.offset,
        length=plan.declared_length,
        content_length=req.content_length,
        checksum=sha256,
    )
    if req.repr_sha256 is not None:
        # Checked when the upload is complete, whichever request completes it.
        await records.expect_sha256(service.db, upload.id, req.repr_sha256)
    running = _running_digest(upload)
    representation = _representation(upload, req, plan, running)
    try:
        stored = await receive_upload(
            service,
            call.body,
            upload,
            patch,
            holder,
            None if sha256 is None else ExpectedChecksum.given(sha256),
            running,
            representation,
        )
    except tus.TusError as exc:
        if exc.code != tus.ErrorCode.CHECKSUM_MISMATCH:
            raise
        raise resumable.ResumableError(400, "digest_mismatch", exc.message) from exc
    if plan.complete and stored.state == "uploading":
        if stored.length is not None:
            raise resumable.ResumableError(
                400,
                "inconsistent_upload_length",
                f"Upload-Complete: ?1 but the content ended at {stored.offset} of "
                f"{stored.length} bytes",
                resumable.INCONSISTENT_UPLOAD_LENGTH,
            )
        # A chunked body completing an upload of unknown length: it is as long as it got.
        await records.set_length(service.db, stored.id, stored.offset)
        length_known = await records.get_upload(service.db, stored.id, None)
        assert length_known is not None
        stored = await finish_upload(service, length_known)
    return stored


def _running_digest(upload: Upload) -> RunningSha256 | None:
    """The upload's running sha-256 at its committed offset; ``None`` if it has none there.

    It has none if tus created it, or if the server stopped between committing
    an offset and storing the digest for it (a crash): the bytes it missed
    cannot be read back from an unfinished multipart upload, so it is given up.
    """
    if upload.digest_state is None or upload.digest_offset != upload.offset:
        return None
    return RunningSha256(upload.digest_state)


def _representation(
    upload: Upload,
    req: resumable.Append,
    plan: resumable.AppendPlan,
    running: RunningSha256 | None,
) -> ExpectedRepresentation | None:
    """What the whole upload must hash to, if this request may end it and a digest says."""
    expected = req.repr_sha256 or upload.repr_sha256
    if expected is None:
        return None
    if running is None and not running_digest.available():
        if req.offset == 0 and req.complete:
            return None  # the content is the whole upload: its own digest is checked
        raise resumable.ResumableError(
            501,
            "repr_digest_unavailable",
            "this server cannot keep a sha-256 across requests (no OpenSSL libcrypto):"
            " send Repr-Digest only with a request carrying the whole upload",
        )
    if running is None:
        logger.warning(
            "upload %s: its running digest was lost (a crash), Repr-Digest not checked", upload.id
        )
        return None
    length = plan.declared_length if plan.declared_length is not None else upload.length
    if length is None and not plan.complete:
        return None  # of unknown length and not its end: it cannot end here
    if length is not None and req.content_length is not None:
        if upload.offset + req.content_length < length:
            return None  # too short to end it: no need to hold its commits back
    return ExpectedRepresentation(running, expected, length)
