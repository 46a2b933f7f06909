"""tus 1.0.0 requests answered for any transport: the ASGI routes and ``trioflix serve``'s own.

Every tus decision (versions, headers, extensions, offsets, limits, response
headers) is made by :mod:`protocols.tus`; this module stores and streams. A
request arrives as a :class:`TusCall` (method, headers, a body read in batches,
its trailers) and leaves as a :class:`TusAnswer`; :mod:`trioflix.api.uploads`
and :mod:`trioflix.direct.tus` carry them over Quart and over the socket.
Every tus request except ``OPTIONS`` needs a bearer token, and an upload is
visible only to its creator (anyone else gets 404). Errors carry the tus status
code, ``Tus-Resumable`` and the API's JSON error body.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from protocols import tus
from trioflix.auth.bearer import user_for_authorization
from trioflix.errors import APIError
from trioflix.storage import StorageUnavailable
from trioflix.store import StoreUnavailable
from trioflix.uploads import records
from trioflix.uploads.appends import (
    after_release,
    owned_upload,
    receive_upload,
    terminate_upload,
)
from trioflix.uploads.appends import now as _now
from trioflix.uploads.completion import assemble_final
from trioflix.uploads.service import TUS_PATH
from trioflix.uploads.transfer import Body, ExpectedChecksum

if TYPE_CHECKING:
    from collections.abc import Callable

    from trioflix.auth.bearer import Verifier
    from trioflix.store.users import User
    from trioflix.uploads.service import Uploads

__all__ = ["STORAGE_RETRY_AFTER_S", "TusAnswer", "TusBody", "TusCall", "handle_tus"]

logger = logging.getLogger(__name__)

_CORS_ALLOW_HEADERS = ", ".join((*tus.CORS_ALLOW_HEADERS, "Authorization", "X-Request-ID"))
_CORS_EXPOSE_HEADERS = ", ".join((*tus.CORS_EXPOSE_HEADERS, "X-Request-ID"))
CORS_MAX_AGE_S = 86400  # browsers cache the preflight for a day
# A restarting S3 server is back within seconds; clients wait at least this long.
STORAGE_RETRY_AFTER_S = 5


class TusBody(Body, Protocol):
    """A request body read in batches, that knows when it has ended."""

    @property
    def complete(self) -> bool:
        """Every byte of the body has arrived (some may still be buffered)."""


@dataclass(frozen=True)
class TusCall:
    """One tus request, whatever carried it.

    Attributes:
        method: The request method (before ``X-HTTP-Method-Override``, which tus applies).
        headers: The request headers; repeated fields once per occurrence.
        body: The request body.
        trailers: Once the body has ended, its trailer fields (lower-case names);
            ``None`` if this transport cannot deliver trailers.
    """

    method: str
    headers: tus.HeaderSource
    body: TusBody
    trailers: Callable[[], list[tuple[bytes, bytes]] | None]


@dataclass(frozen=True)
class TusAnswer:
    """The response: status, headers (CORS included) and body (JSON for errors)."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""


# --- answers ---------------------------------------------------------------


def _cors(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    # Bearer tokens, not cookies, authenticate: any origin may call, no credentials mode.
    return [
        *headers,
        ("Access-Control-Allow-Origin", "*"),
        ("Access-Control-Expose-Headers", _CORS_EXPOSE_HEADERS),
    ]


def _reply(answer: tus.TusResponse) -> TusAnswer:
    return TusAnswer(answer.status, _cors(list(answer.headers)))


def _error(
    head: bool, status: int, code: str, message: str, headers: list[tuple[str, str]]
) -> TusAnswer:
    body = b"" if head else json.dumps({"error": {"code": code, "message": message}}).encode()
    return TusAnswer(
        status,
        _cors(
            [("Tus-Resumable", tus.TUS_RESUMABLE), *headers, ("Content-Type", "application/json")]
        ),
        body,
    )


def _preflight() -> TusAnswer:
    return TusAnswer(
        204,
        _cors(
            [
                ("Access-Control-Allow-Methods", ", ".join(tus.CORS_ALLOW_METHODS)),
                ("Access-Control-Allow-Headers", _CORS_ALLOW_HEADERS),
                ("Access-Control-Max-Age", str(CORS_MAX_AGE_S)),
            ]
        ),
    )


# --- requests --------------------------------------------------------------


async def handle_tus(
    service: Uploads,
    app_state: Verifier,
    call: TusCall,
    resource: tus.Resource,
    upload_id: str | None,
) -> TusAnswer:
    """Answer one tus request for the creation URL or for upload ``upload_id``.

    Raises:
        Exception: Only bugs; every error a client can cause is an answer.
    """
    if call.method == "OPTIONS" and _header(call.headers, "Access-Control-Request-Method"):
        return _preflight()
    head = call.method == "HEAD"
    try:
        req = tus.parse_request(call.method, call.headers, service.config, resource=resource)
        if isinstance(req, tus.OptionsRequest):
            return _reply(tus.options_response(service.config))
        user = await user_for_authorization(app_state, _header(call.headers, "Authorization"))
        if isinstance(req, tus.CreationRequest):
            return await _create(service, user, call, req)
        assert upload_id is not None
        if isinstance(req, tus.HeadRequest):
            return await _head(service, user, upload_id)
        if isinstance(req, tus.PatchRequest):
            return await _patch(service, user, call, upload_id, req)
        return await _terminate(service, user, upload_id)
    except tus.TusError as exc:
        return _error(head, exc.status, exc.code, exc.message, list(exc.headers))
    except APIError as exc:
        return _error(head, exc.status, exc.code, exc.message, list(exc.headers.items()))
    except StoreUnavailable as exc:
        logger.warning("database unavailable: %s", exc)
        return _error(
            head,
            503,
            "database_unavailable",
            "the database is unavailable; try again shortly",
            [("Retry-After", "1")],
        )
    except StorageUnavailable as exc:
        # Nothing acknowledged is lost: the committed offset names stored bytes only,
        # and the client resumes from HEAD once the storage is back.
        logger.warning("object storage unavailable: %s", exc)
        return _error(
            head,
            503,
            "storage_unavailable",
            "the media storage is unavailable; resume the upload shortly",
            [("Retry-After", str(STORAGE_RETRY_AFTER_S))],
        )


def _header(headers: tus.HeaderSource, name: str) -> str:
    """The last value of header ``name`` (any case); empty if it was not sent."""
    wanted = name.lower()
    found = ""
    for key, value in headers.items():
        if key.lower() == wanted:
            found = value
    return found


async def _create(
    service: Uploads, user: User, call: TusCall, req: tus.CreationRequest
) -> TusAnswer:
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
    else:
        await service.quota.check(service.db, user.id, req.length)
    now = time.time()
    expires_at = datetime.fromtimestamp(now + service.expiry_s, UTC)
    new_state = tus.UploadState.from_creation(req, final_length=final_length, expires_at=expires_at)
    upload_id = records.new_upload_id()
    multipart_id = await service.files.create(upload_id, final=isinstance(req.concat, tus.Final))
    async with service.db.transaction() as tx:
        upload = await records.create_upload(
            tx,
            upload_id=upload_id,
            user_id=user.id,
            state=new_state,
            expires_at=expires_at.timestamp(),
            multipart_id=multipart_id,
        )
        await records.add_parts(tx, upload_id, partial_ids)
    location = f"{TUS_PATH}/{upload_id}"
    logger.info("upload %s created (length %s)", upload_id, new_state.length)

    if isinstance(req.concat, tus.Final):
        await assemble_final(service, upload_id)
    elif req.has_body:
        async with service.locks.hold(upload_id) as holder:
            try:
                patch = req.as_patch()
                checksum = _expected_checksum(call, patch, service.config)
                upload = await receive_upload(service, call.body, upload, patch, holder, checksum)
            except (tus.TusError, APIError) as exc:
                # The upload exists either way: answer with its Location and the
                # bytes kept, and the client resumes with HEAD and PATCH.
                logger.info("creation-with-upload %s kept partial data: %s", upload_id, exc)
                upload = await owned_upload(service, user, upload_id)
        await after_release(service, upload)
    upload = await owned_upload(service, user, upload_id)
    return _reply(
        tus.creation_response(location=location, state=upload.tus_state(), with_upload=req.has_body)
    )


async def _head(service: Uploads, user: User, upload_id: str) -> TusAnswer:
    async with service.locks.hold(upload_id):
        upload = await owned_upload(service, user, upload_id)
    current = upload.tus_state()
    current.check_available(_now())
    return _reply(tus.head_response(current))


async def _patch(
    service: Uploads, user: User, call: TusCall, upload_id: str, req: tus.PatchRequest
) -> TusAnswer:
    async with service.locks.hold(upload_id) as holder:
        upload = await owned_upload(service, user, upload_id)
        upload = await receive_upload(
            service, call.body, upload, req, holder, _expected_checksum(call, req, service.config)
        )
    await after_release(service, upload)
    return _reply(tus.patch_response(upload.tus_state()))


def _expected_checksum(
    call: TusCall, req: tus.PatchRequest, config: tus.TusConfig
) -> ExpectedChecksum | None:
    """What the body must match: ``Upload-Checksum`` from the head, or from the trailer."""
    if req.checksum is not None:
        return ExpectedChecksum.given(req.checksum)
    if not req.checksum_trailer:
        return None

    def from_trailer() -> tus.Checksum:
        trailers = call.trailers()
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


async def _terminate(service: Uploads, user: User, upload_id: str) -> TusAnswer:
    await terminate_upload(service, user, upload_id)
    return _reply(tus.termination_response())
