"""WHIP: an encoder publishes its channel over WebRTC (RFC 9725), as OBS 30+ does.

``POST /api/whip`` takes the encoder's SDP offer with the stream key as the
bearer token (``Authorization: Bearer <stream key>``: OBS's WHIP output puts it
there) and answers ``201`` with the SDP answer, the session's URL in
``Location`` and the ICE servers in ``Link: <url>; rel="ice-server"`` headers.
The stream key passes the same rules as an RTMP publish
(:func:`trioflix.live.channel.authorize.authorize_publish`, then the stream
registry): 401 for a missing, unknown or disabled key, 429 for an address past
its wrong keys, 403 when the ``publish.authorize`` hook refuses, 409 when the
channel is live from another key or its streamer stopped it.

The session's URL takes ``DELETE`` (the encoder stops: the live session ends at
once) and ``PATCH`` with the encoder's trickled candidates, as WHEP's does
(:func:`trioflix.api.whep.trickle`: 204, 412 for a stale ``If-Match``, 422 for
an ICE restart, which is not supported). Errors are JSON; the SDP bodies are
not, so the OpenAPI document leaves these routes out (:data:`trioflix.api.contract.NOT_JSON`).
"""

from __future__ import annotations

import math

from quart import Blueprint, Response, request

from trioflix.api.whep import (
    EXPOSED,
    SDP_TYPE,
    check_if_match,
    ice_server_links,
    preflight,
    read_fragment,
    read_offer,
    session_etag,
)
from trioflix.errors import APIError
from trioflix.live.channel.authorize import PublishDenied, authorize_publish
from trioflix.live.webrtc.sessions import SessionRefused
from trioflix.state import state

__all__ = ["blueprint"]

blueprint = Blueprint("whip", __name__)

ENDPOINT_METHODS = "POST, OPTIONS"
SESSION_METHODS = "DELETE, PATCH, OPTIONS"
# RFC 6750 3: a request without a token, or with a bad one, is told how to authenticate.
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="trioflix WHIP"'}


def _stream_key() -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise APIError(
            401,
            "no_stream_key",
            "send the stream key as the bearer token (Authorization: Bearer <stream key>)",
            headers=_CHALLENGE,
        )
    return token.strip()


@blueprint.route("/api/whip", methods=["OPTIONS"])
async def endpoint_preflight() -> Response:
    """The pre-flight; it also carries the ICE servers, for an encoder to gather
    through them before it makes its offer."""
    response = preflight(ENDPOINT_METHODS)
    for link in ice_server_links(state().settings):
        response.headers.add("Link", link)
    response.headers["Access-Control-Expose-Headers"] = EXPOSED
    return response


@blueprint.post("/api/whip")
async def offer() -> Response:
    """An encoder's offer: a new session publishing the stream key's channel."""
    app_state = state()
    if not app_state.settings.webrtc:
        raise APIError(404, "webrtc_off", "WebRTC is turned off on this server")
    secret = _stream_key()
    sdp = await read_offer()
    remote = request.remote_addr or ""
    try:
        publisher = await authorize_publish(
            app_state.db,
            app_state.registry,
            app_state.webhooks,
            secret,
            remote=remote,
            address=remote,
            key_guesses=app_state.publish_key_guesses,
        )
    except PublishDenied as denied:
        if denied.reason == "throttled":
            raise APIError(
                429,
                "too_many_wrong_keys",
                denied.description,
                headers={"Retry-After": str(math.ceil(denied.retry_after_s))},
            ) from None
        if denied.reason == "unknown_key":
            raise APIError(401, "bad_stream_key", denied.description, headers=_CHALLENGE) from None
        raise APIError(403, "publish_refused", denied.description) from None
    try:
        answer = await app_state.whip.open(app_state.registry, publisher, sdp, remote)
    except SessionRefused as exc:
        raise APIError(exc.status, exc.code, str(exc)) from None
    response = Response(answer.sdp, 201, content_type=SDP_TYPE)
    response.headers["Location"] = f"/api/whip/{answer.session_id}"
    response.headers["ETag"] = session_etag(answer.session_id)
    for link in ice_server_links(app_state.settings):
        response.headers.add("Link", link)
    response.headers["Access-Control-Expose-Headers"] = EXPOSED
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.route("/api/whip/<session_id>", methods=["OPTIONS"])
async def session_preflight(session_id: str) -> Response:
    return preflight(SESSION_METHODS)


@blueprint.delete("/api/whip/<session_id>")
async def stop(session_id: str) -> Response:
    """The encoder stops: the session ends, and the live session with it."""
    if not state().whip.end(session_id):
        raise APIError(404, "no_session", "no such WHIP session")
    return Response("", 200)


@blueprint.patch("/api/whip/<session_id>")
async def trickle(session_id: str) -> Response:
    """The encoder's trickled candidates: ``204`` once they are in the ICE checks."""
    if not state().whip.has(session_id):
        raise APIError(404, "no_session", "no such WHIP session")
    check_if_match(session_id)
    fragment = await read_fragment()
    try:
        await state().whip.trickle(session_id, fragment)
    except SessionRefused as exc:
        raise APIError(exc.status, exc.code, str(exc)) from None
    return Response("", 204)
