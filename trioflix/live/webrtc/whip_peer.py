"""The peer connection of one WHIP publisher: aiortc receives, but does not decode.

aiortc's receiver joins RTP packets into encoded frames (its jitter buffer and
depacketiser: an H.264 access unit in Annex B, an Opus packet) and hands them to
a decoder thread, which puts decoded frames on the track. A publisher's media
must not be decoded (the H.264 is passed through; the Opus is transcoded once
by :class:`trioflix.live.webrtc.ingest_media.OpusToAAC`), so the decoder thread
of this module's tracks passes the encoded frames on instead: each track's
``recv`` returns aiortc's encoded frame (``data``, ``timestamp`` on the RTP
clock from the stream's first packet). aiortc has no setting for this; its
decoder thread function is wrapped once, and acts as before for every other
receiver (a WHEP test client in the same process, say).

Runs on the trio-asyncio loop (the callers use ``aio_as_trio``). Imported with
the first publisher: it loads aiortc.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import TYPE_CHECKING, Any

from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCSessionDescription,
    rtcrtpreceiver,
    sdp,
)

from trioflix.live.webrtc.peer import ice_servers

if TYPE_CHECKING:
    import queue
    import threading
    from collections.abc import Callable

__all__ = ["accept", "request_keyframe"]

#: The track queues whose receivers pass encoded frames through.
_PASSTHROUGH: weakref.WeakSet[asyncio.Queue[Any]] = weakref.WeakSet()
_decode = rtcrtpreceiver.decoder_worker


def _decoder_worker(
    loop: asyncio.AbstractEventLoop,
    input_q: queue.Queue[Any],
    output_q: asyncio.Queue[Any],
    decode_error: threading.Event,
) -> None:
    if output_q not in _PASSTHROUGH:
        _decode(loop, input_q, output_q, decode_error)
        return
    while (task := input_q.get()) is not None:
        asyncio.run_coroutine_threadsafe(output_q.put(task[1]), loop)
    asyncio.run_coroutine_threadsafe(output_q.put(None), loop)  # the track ends


rtcrtpreceiver.decoder_worker = _decoder_worker


def _codecs(kind: str, mime_type: str) -> list[Any]:
    capabilities = RTCRtpReceiver.getCapabilities(kind)
    assert capabilities is not None  # "audio" and "video" have some
    return [
        codec
        for codec in capabilities.codecs
        if codec.mimeType == mime_type
        and (kind == "audio" or codec.parameters.get("packetization-mode") == "1")
    ]


async def _set_answer(pc: RTCPeerConnection, offer: str) -> None:
    """Answer ``offer`` (already applied to ``pc``) as the DTLS server when the offer
    leaves the role to us (``a=setup:actpass``, as OBS and GStreamer offer).

    aiortc would answer as the DTLS client (``a=setup:active``), and its client offers
    ECDSA-authenticated cipher suites only, so a peer whose certificate is RSA finds no
    shared cipher and the handshake fails: GStreamer's ``webrtcbin`` generates an RSA
    certificate, and RFC 8827 (6.5) has every WebRTC endpoint take both
    ``TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`` and its ECDSA twin. As the server, aiortc
    presents its own ECDSA certificate, which every WebRTC client takes. RFC 5763 (5)
    lets the answerer choose either role; ``passive`` costs the answer's trip to the
    offerer before the handshake starts, which here is the HTTP response that carries
    the answer anyway. (WHEP answers as the client still: there a viewer waits for its
    picture, and 100 connect-drop cycles of the aiortc test viewer took 36 s answered
    active against more than 64 s passive; browsers' certificates are ECDSA.)
    """
    local = await pc.createAnswer()
    text = local.sdp
    if "a=setup:actpass" in offer:
        text = text.replace("a=setup:active", "a=setup:passive")
    await pc.setLocalDescription(RTCSessionDescription(sdp=text, type="answer"))


async def accept(
    offer: str,
    on_state: Callable[[str], None],
    ice_urls: tuple[str, ...],
    turn_username: str | None,
    turn_credential: str | None,
) -> tuple[RTCPeerConnection, dict[str, Any]]:
    """A peer connection receiving what the publisher who made ``offer`` sends.

    Video must be H.264 (packetization-mode 1), audio Opus; the answer takes
    nothing else. Returns the connection and its tracks by kind (``"video"``, and
    ``"audio"`` if the offer sends audio), whose ``recv`` gives encoded frames.

    Raises:
        ValueError: ``offer`` is no SDP offer of H.264 video aiortc can answer (the
            connection is closed before this is raised).
    """
    pc = RTCPeerConnection(
        RTCConfiguration(iceServers=ice_servers(ice_urls, turn_username, turn_credential))
    )
    try:

        @pc.on("connectionstatechange")
        def _changed() -> None:
            on_state(pc.connectionState)

        kinds = [media.kind for media in sdp.SessionDescription.parse(offer).media]
        if kinds.count("video") != 1 or kinds.count("audio") > 1:
            raise ValueError("the offer must send one video and at most one audio track")
        tracks: dict[str, Any] = {}
        for kind, mime_type in (("video", "video/H264"), ("audio", "audio/opus")):
            if kind in kinds:
                transceiver = pc.addTransceiver(kind, direction="recvonly")
                transceiver.setCodecPreferences(_codecs(kind, mime_type))
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        for transceiver in pc.getTransceivers():
            track: Any = transceiver.receiver.track
            # RemoteStreamTrack's queue: what the decoder thread fills.
            _PASSTHROUGH.add(track._queue)
            tracks[track.kind] = track
        await _set_answer(pc, offer)
    except BaseException as exc:
        await pc.close()
        if isinstance(exc, Exception):
            raise ValueError(str(exc) or exc.__class__.__name__) from exc
        raise
    return pc, tracks


async def request_keyframe(pc: RTCPeerConnection) -> None:
    """Ask the publisher for a keyframe: an RTCP PLI (RFC 4585 6.3.1) on the video.

    aiortc sends PLIs itself only on loss; its sender for them is not public API.
    """
    for transceiver in pc.getTransceivers():
        if transceiver.kind != "video":
            continue
        receiver = transceiver.receiver
        for source in receiver.getSynchronizationSources():
            await receiver._send_rtcp_pli(source.source)
