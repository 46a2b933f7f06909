"""Trickle ICE: a WHEP viewer's or WHIP encoder's candidates that came after its offer.

A client that offers before it has gathered every candidate sends the rest in a
``PATCH`` of its session's URL, as an ``application/trickle-ice-sdpfrag`` body
(RFC 9725 4.3.1, RFC 8840 9), which :func:`protocols.sdpfrag.parse_fragment`
reads. aioice pairs a remote candidate added while its checks run, and waits for
more until end-of-candidates (or the session's connect timeout), so a late
candidate is as good as one in the offer. An ICE restart (a fragment with another
ufrag/pwd than the offer's) is not supported: RFC 9725 4.3.1 says a session
that takes trickle ICE but not restarts answers those 422.

:func:`add_candidates` runs on the trio-asyncio loop and imports aiortc (loaded
with the first session, never at start-up).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trioflix.live.webrtc.sessions import SessionRefused

if TYPE_CHECKING:
    from protocols.sdpfrag import Fragment

__all__ = ["add_candidates"]


def _remote_ice(description: str) -> tuple[str | None, str | None]:
    ufrag = pwd = None
    for line in description.splitlines():
        if line.startswith("a=ice-ufrag:") and ufrag is None:
            ufrag = line.removeprefix("a=ice-ufrag:").strip()
        elif line.startswith("a=ice-pwd:") and pwd is None:
            pwd = line.removeprefix("a=ice-pwd:").strip()
    return ufrag, pwd


async def add_candidates(pc: Any, fragment: Fragment) -> None:
    """Add ``fragment``'s candidates (and its end-of-candidates) to ``pc``'s ICE checks.

    Runs on the trio-asyncio loop. A candidate goes to the transport of its media
    section; with BUNDLE (what every browser and encoder offers) all media share the
    first section's, which is where aiortc takes it.

    Raises:
        SessionRefused: 422 an ICE restart (another ufrag or pwd than the offer's);
            400 a candidate aiortc cannot read.
    """
    from aiortc.sdp import candidate_from_sdp

    ufrag, pwd = _remote_ice(pc.remoteDescription.sdp)
    if (fragment.ufrag is not None and fragment.ufrag != ufrag) or (
        fragment.pwd is not None and fragment.pwd != pwd
    ):
        raise SessionRefused(
            422,
            "ice_restart_unsupported",
            "this server takes trickled candidates but no ICE restart (the ufrag or pwd"
            " differs from the offer's): make a new session instead",
        )
    bundled = "a=group:BUNDLE" in pc.localDescription.sdp
    mids = {transceiver.mid for transceiver in pc.getTransceivers()}
    for trickled in fragment.candidates:
        try:
            candidate = candidate_from_sdp(trickled.value)
        except (ValueError, IndexError):
            raise SessionRefused(
                400, "bad_candidate", f"not an ICE candidate: {trickled.value[:80]!r}"
            ) from None
        if bundled or trickled.mid not in mids:
            candidate.sdpMLineIndex = 0  # the BUNDLE's transport: the first section's
        else:
            candidate.sdpMid = trickled.mid
        # After end-of-candidates aiortc ignores it (the checks have their answer).
        await pc.addIceCandidate(candidate)
    if fragment.end:
        await pc.addIceCandidate(None)
