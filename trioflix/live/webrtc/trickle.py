"""Trickle ICE: a WHEP viewer's or WHIP encoder's candidates that came after its offer.

A client that offers before it has gathered every candidate sends the rest in a
``PATCH`` of its session's URL, as an ``application/trickle-ice-sdpfrag`` body
(RFC 9725 4.3.1, RFC 8840 9)::

    a=ice-ufrag:EsAw
    a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1
    m=audio 9 UDP/TLS/RTP/SAVPF 111
    a=mid:0
    a=candidate:1 1 UDP 2130706431 198.51.100.1 39132 typ host
    a=end-of-candidates

aioice pairs a remote candidate added while its checks run, and waits for more
until end-of-candidates (or the session's connect timeout), so a late candidate
is as good as one in the offer. An ICE restart (a fragment with another
ufrag/pwd than the offer's) is not supported: RFC 9725 4.3.1 says a session
that takes trickle ICE but not restarts answers those 422.

:func:`parse_fragment` is pure; :func:`add_candidates` runs on the trio-asyncio
loop and imports aiortc (loaded with the first session, never at start-up).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trioflix.live.webrtc.sessions import SessionRefused

__all__ = ["MAX_CANDIDATES", "Fragment", "add_candidates", "parse_fragment"]

# A host has a candidate per address, transport and (with TURN) relay: a few dozen
# at most. More in one request is not a trickle.
MAX_CANDIDATES = 64


@dataclass(frozen=True, slots=True)
class Fragment:
    """What a trickle-ice-sdpfrag body says.

    Attributes:
        ufrag: Its ``a=ice-ufrag`` (``None``: not given).
        pwd: Its ``a=ice-pwd`` (``None``: not given).
        candidates: ``(mid, value)``: the ``a=mid`` of the media section it came in
            (``None`` before any), the attribute's value from ``candidate:`` on.
        end: It says ``a=end-of-candidates``: the client has no more.
    """

    ufrag: str | None
    pwd: str | None
    candidates: tuple[tuple[str | None, str], ...]
    end: bool


def parse_fragment(text: str) -> Fragment:
    """The ICE lines of a trickle-ice-sdpfrag body; other lines are skipped.

    Raises:
        SessionRefused: 400 a line that is no SDP line, or more than
            :data:`MAX_CANDIDATES` candidates.
    """
    ufrag = pwd = mid = None
    candidates: list[tuple[str | None, str]] = []
    end = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        kind, equals, value = line.partition("=")
        if not equals or len(kind) != 1:
            raise SessionRefused(400, "bad_sdpfrag", f"not an SDP line: {line[:60]!r}")
        if kind == "m":
            mid = None  # a new media section: its a=mid follows
        if kind != "a":
            continue
        name, _, argument = value.partition(":")
        if name == "ice-ufrag":
            ufrag = argument
        elif name == "ice-pwd":
            pwd = argument
        elif name == "mid":
            mid = argument
        elif name == "candidate":
            if len(candidates) == MAX_CANDIDATES:
                raise SessionRefused(
                    400, "bad_sdpfrag", f"more than {MAX_CANDIDATES} candidates in one fragment"
                )
            candidates.append((mid, value))
        elif name == "end-of-candidates":
            end = True
    return Fragment(ufrag, pwd, tuple(candidates), end)


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
    for mid, value in fragment.candidates:
        try:
            candidate = candidate_from_sdp(value.removeprefix("candidate:"))
        except (ValueError, IndexError):
            raise SessionRefused(
                400, "bad_candidate", f"not an ICE candidate: {value[:80]!r}"
            ) from None
        if bundled or mid not in mids:
            candidate.sdpMLineIndex = 0  # the BUNDLE's transport: the first section's
        else:
            candidate.sdpMid = mid
        # After end-of-candidates aiortc ignores it (the checks have their answer).
        await pc.addIceCandidate(candidate)
    if fragment.end:
        await pc.addIceCandidate(None)
