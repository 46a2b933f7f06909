"""WHEP: WebRTC playback of a live channel (RFC 9725's WHIP, the other way round).

``POST /live/{channel}/whep`` takes the player's SDP offer and answers ``201``
with the SDP answer, the session's URL in ``Location`` and the ICE servers in
``Link: <url>; rel="ice-server"`` headers (the endpoint's ``OPTIONS`` carries them
too, for a player to gather through them before it offers). The session's URL takes ``DELETE``
(the viewer leaves) and ``PATCH`` with the player's trickled candidates
(``application/trickle-ice-sdpfrag``, RFC 9725 4.3.1: ``204``; ``If-Match``
with another entity-tag than the ``ETag`` of the ``201``: ``412``; an ICE
restart: ``422``; :mod:`protocols.sdpfrag` reads it,
:mod:`trioflix.live.webrtc.trickle` adds its candidates). The server trickles
nothing itself: its answer carries every candidate (aiortc gathers before it
answers). Both answer CORS
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

from protocols import sdpfrag
from trioflix.errors import APIError
from trioflix.live.webrtc.sessions import SessionRefused
from trioflix.state import state

if TYPE_CHECKING:
    from trioflix.config import Settings

__all__ = [
    "blueprint",
    "check_if_match",
    "ice_server_links",
    "preflight",
    "read_fragment",
    "read_offer",
    "session_etag",
]

blueprint = Blueprint("whep", __name__)

SDP_TYPE = "application/sdp"
TRICKLE_TYPE = "application/trickle-ice-sdpfrag"
MAX_OFFER_BYTES = 64 * 1024  # a browser's offer is 3-10 KiB; more is not an offer
MAX_FRAGMENT_BYTES = 16 * 1024  # a candidate line is about 100 bytes
ENDPOINT_METHODS = "POST, OPTIONS"
SESSION_METHODS = "DELETE, PATCH, OPTIONS"
EXPOSED = "Location, Link, ETag"


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
    sdp = await _body(SDP_TYPE, MAX_OFFER_BYTES, "the offer")
    if not sdp.startswith("v=0"):
        raise APIError(400, "bad_sdp", "the body is not an SDP offer (it must start with v=0)")
    return sdp


async def _body(content_type: str, limit: int, what: str) -> str:
    if (request.mimetype or "").lower() != content_type:
        raise APIError(415, "unsupported_media_type", f"{what} must be sent as {content_type}")
    if (request.content_length or 0) > limit:
        raise APIError(413, "payload_too_large", f"{what} is at most {limit // 1024} KiB")
    body = await request.get_data(cache=False, as_text=False, parse_form_data=False)
    assert isinstance(body, bytes)
    if len(body) > limit:
        raise APIError(413, "payload_too_large", f"{what} is at most {limit // 1024} KiB")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise APIError(400, "bad_sdp", f"{what} is not UTF-8 text") from None


async def read_fragment() -> sdpfrag.Fragment:
    """The request's trickle-ice-sdpfrag (a WHEP or WHIP ``PATCH``).

    Raises:
        APIError: 415 not sent as ``application/trickle-ice-sdpfrag``, 413 over
            16 KiB, 400 not an SDP fragment.
    """
    text = await _body(TRICKLE_TYPE, MAX_FRAGMENT_BYTES, "the fragment")
    try:
        return sdpfrag.parse_fragment(text)
    except sdpfrag.SdpFragError as exc:
        raise APIError(400, "bad_sdpfrag", str(exc)) from None


def session_etag(session_id: str) -> str:
    """The entity-tag of a session's ICE session (RFC 9725 4.3.1); without ICE
    restarts it never changes."""
    return f'"{session_id}"'


def check_if_match(session_id: str) -> None:
    """Refuse a ``PATCH`` whose ``If-Match`` names another ICE session.

    Raises:
        APIError: 412 ``If-Match`` matches neither ``*`` nor the session's entity-tag.
    """
    wanted = request.headers.get("If-Match")
    if wanted is None:
        return  # no precondition (RFC 9110 13.1.1)
    tags = {tag.strip() for tag in wanted.split(",")}
    if "*" not in tags and session_etag(session_id) not in tags:
        raise APIError(
            412, "precondition_failed", "If-Match names another ICE session than this one"
        )


@blueprint.route("/live/<channel>/whep", methods=["OPTIONS"])
async def endpointpreflight(channel: str) -> Response:
    """The pre-flight; it also carries the ICE servers, so that a player can gather
    through them before it makes its offer (the answer's are too late without trickle)."""
    response = preflight(ENDPOINT_METHODS)
    for link in ice_server_links(state().settings):
        response.headers.add("Link", link)
    response.headers["Access-Control-Expose-Headers"] = EXPOSED
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
    response.headers["ETag"] = session_etag(answer.session_id)
    for link in ice_server_links(state().settings):
        response.headers.add("Link", link)
    response.headers["Access-Control-Expose-Headers"] = EXPOSED
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


@blueprint.patch("/live/<channel>/whep/<session_id>")
async def trickle(channel: str, session_id: str) -> Response:
    """The player's trickled candidates: ``204`` once they are in the ICE checks."""
    if not state().whep.has(channel, session_id):
        raise APIError(404, "no_session", "no such WebRTC session")
    check_if_match(session_id)
    fragment = await read_fragment()
    try:
        await state().whep.trickle(channel, session_id, fragment)
    except SessionRefused as exc:
        raise APIError(exc.status, exc.code, str(exc)) from None
    return Response("", 204)
