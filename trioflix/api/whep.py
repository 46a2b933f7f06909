"""WHEP: WebRTC playback of a live channel (RFC 9725's WHIP, the other way round).

``POST /live/{channel}/whep`` takes the player's SDP offer and answers ``201``
with the SDP answer, the session's URL in ``Location`` and the ICE servers in
``Link: <url>; rel="ice-server"`` headers (the endpoint's ``OPTIONS`` carries them
too, for a player to gather through them before it offers). The session's URL takes ``DELETE``
(the viewer leaves) and answers ``PATCH`` with 405: the answer already carries
every server candidate (aiortc gathers before it answers), and the player's own
arrive in its offer, so there is nothing to trickle. Both answer CORS
pre-flights: the media is public, so any origin may play it. ``?rendition=NAME``
picks what is played (the source by default, a ladder rung such as ``360p``, a
multitrack publisher's ``track1``): the endpoint URL is opaque to a WHEP client, so
any client plays a rung given its URL. Errors are JSON,
like every other route's. The SDP bodies are not JSON, so the OpenAPI document
leaves these routes out (:data:`trioflix.api.contract.NOT_JSON`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from quart import Blueprint, Response, request

from trioflix.errors import APIError
from trioflix.live.webrtc.sessions import SessionRefused
from trioflix.state import state

if TYPE_CHECKING:
    from trioflix.config import Settings

__all__ = ["blueprint", "ice_server_links", "preflight", "read_offer"]

blueprint = Blueprint("whep", __name__)

SDP_TYPE = "application/sdp"
MAX_OFFER_BYTES = 64 * 1024  # a browser's offer is 3-10 KiB; more is not an offer
ENDPOINT_METHODS = "POST, OPTIONS"
SESSION_METHODS = "DELETE, OPTIONS"


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def ice_server_links(settings: Settings) -> list[str]:
    """``Link`` headers for the ICE servers (WHIP 4.6; TURN credentials as RFC 8829 names)."""
    links = []
    for url in settings.ice_servers:
        link = f'<{url}>; rel="ice-server"'
        if url.startswith("turn") and settings.turn_username is not None:
            link += f"; username={_quote(settings.turn_username)}"
            link += f"; credential={_quote(settings.turn_credential or '')}"
            link += '; credential-type="password"'
        links.append(link)
    return links


def preflight(methods: str) -> Response:
    """The ``204`` answer to a CORS pre-flight of a WHEP or WHIP URL taking ``methods``."""
    response = Response("", 204)
    response.headers["Allow"] = methods
    response.headers["Access-Control-Allow-Methods"] = methods
    response.headers["Access-Control-Allow-Headers"] = "Content-Type, Authorization, If-Match"
    response.headers["Access-Control-Max-Age"] = "600"
    return response


def _service_on() -> None:
    if not state().settings.webrtc:
        raise APIError(404, "webrtc_off", "WebRTC playback is turned off on this server")


async def read_offer() -> str:
    """The request's SDP offer (WHEP's or WHIP's), checked to be one before anything
    else looks at it.

    Raises:
        APIError: 415 not sent as ``application/sdp``, 413 over 64 KiB, 400 not SDP.
    """
    content_type = (request.mimetype or "").lower()
    if content_type != SDP_TYPE:
        raise APIError(415, "unsupported_media_type", f"the offer must be sent as {SDP_TYPE}")
    if (request.content_length or 0) > MAX_OFFER_BYTES:
        raise APIError(413, "payload_too_large", "an SDP offer is at most 64 KiB")
    body = await request.get_data(cache=False, as_text=False, parse_form_data=False)
    assert isinstance(body, bytes)
    if len(body) > MAX_OFFER_BYTES:
        raise APIError(413, "payload_too_large", "an SDP offer is at most 64 KiB")
    try:
        sdp = body.decode("utf-8")
    except UnicodeDecodeError:
        raise APIError(400, "bad_sdp", "the SDP offer is not UTF-8 text") from None
    if not sdp.startswith("v=0"):
        raise APIError(400, "bad_sdp", "the body is not an SDP offer (it must start with v=0)")
    return sdp


@blueprint.route("/live/<channel>/whep", methods=["OPTIONS"])
async def endpointpreflight(channel: str) -> Response:
    """The pre-flight; it also carries the ICE servers, so that a player can gather
    through them before it makes its offer (the answer's are too late without trickle)."""
    response = preflight(ENDPOINT_METHODS)
    for link in ice_server_links(state().settings):
        response.headers.add("Link", link)
    response.headers["Access-Control-Expose-Headers"] = "Location, Link"
    return response


@blueprint.post("/live/<channel>/whep")
async def offer(channel: str) -> Response:
    """A player's offer: a new session watching ``channel``."""
    _service_on()
    sdp = await read_offer()
    live = await state().channels.find(channel)
    if live is None:
        raise APIError(404, "not_live", f"{channel} is not live")
    try:
        answer = await state().whep.open(
            live, sdp, request.remote_addr, request.args.get("rendition")
        )
    except SessionRefused as exc:
        headers = {"Retry-After": "2"} if exc.code == "rendition_starting" else None
        raise APIError(exc.status, exc.code, str(exc), headers=headers) from None
    response = Response(answer.sdp, 201, content_type=SDP_TYPE)
    response.headers["Location"] = f"/live/{channel}/whep/{answer.session_id}"
    for link in ice_server_links(state().settings):
        response.headers.add("Link", link)
    response.headers["Access-Control-Expose-Headers"] = "Location, Link"
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.route("/live/<channel>/whep/<session_id>", methods=["OPTIONS"])
async def sessionpreflight(channel: str, session_id: str) -> Response:
    return preflight(SESSION_METHODS)


@blueprint.delete("/live/<channel>/whep/<session_id>")
async def leave(channel: str, session_id: str) -> Response:
    """The viewer leaves: the session ends and frees what it held."""
    if not state().whep.end(channel, session_id):
        raise APIError(404, "no_session", "no such WebRTC session")
    return Response("", 200)


@blueprint.route("/live/<channel>/whep/<session_id>", methods=["PATCH"])
async def trickle(channel: str, session_id: str) -> Response:
    """Trickle ICE and ICE restarts are not supported: 405 (WHIP 4.4)."""
    if not state().whep.has(channel, session_id):
        raise APIError(404, "no_session", "no such WebRTC session")
    raise APIError(
        405,
        "method_not_allowed",
        "this server takes no trickled candidates: its answer carries all of its own",
        headers={"Allow": SESSION_METHODS},
    )
