"""The WHEP benchmark's counted viewers: what they count of real SRTP packets (made by
libsrtp with the profile aiortc chooses), and what they pass on to aioice (STUN, DTLS)."""

from __future__ import annotations

import asyncio
import math
import struct
import time
from typing import Any

import pylibsrtp
import pytest
from aioice import stun
from aiortc import RTCConfiguration, RTCPeerConnection

from bench._whep_viewers import (
    SRTP_TAG_BYTES,
    WHEPResult,
    _counting_datagrams,
    _payload_types,
)

VIDEO_TYPE, AUDIO_TYPE = 102, 111
# One header extension (RFC 8285 one-byte form: 0xBEDE, one word), as aiortc sends.
EXTENSION = struct.pack("!HH", 0xBEDE, 1) + bytes([0x10, 0x31, 0, 0])


def _rtp(payload_type: int, sequence_number: int, payload: bytes, *, marker: bool) -> bytes:
    return (
        struct.pack("!BBHII", 0x90, marker << 7 | payload_type, sequence_number, 90_000, 0x1234)
        + EXTENSION
        + payload
    )


def _counted(window: list[float]) -> tuple[WHEPResult, list[bytes], Any]:
    result, passed = WHEPResult(), []
    received = _counting_datagrams(
        result,
        window,
        ({VIDEO_TYPE}, {AUDIO_TYPE}),
        [SRTP_TAG_BYTES[b"SRTP_AEAD_AES_256_GCM"]],
        lambda data, addr: passed.append(data),
    )
    return result, passed, received


def test_counts_srtp_payloads_and_frames_without_decrypting() -> None:
    session = pylibsrtp.Session(
        pylibsrtp.Policy(
            key=bytes(range(44)),
            ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND,
            srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_256_GCM,
        )
    )
    result, passed, received = _counted([time.monotonic() - 1, math.inf])
    frame = [bytes([n]) * size for n, size in enumerate((1200, 1200, 317))]
    for number, payload in enumerate(frame):
        received(session.protect(_rtp(VIDEO_TYPE, number, payload, marker=number == 2)), ("h", 1))
    received(session.protect(_rtp(AUDIO_TYPE, 7, bytes(95), marker=True)), ("h", 1))
    received(session.protect(_rtp(96, 8, bytes(500), marker=True)), ("h", 1))  # not counted
    # A sender report (SRTCP): neither video nor audio.
    received(session.protect_rtcp(struct.pack("!BBHI", 0x80, 200, 1, 0x1234) + bytes(20)), 0)
    assert (result.window_video_bytes, result.window_frames, result.video_packets) == (
        2717,
        1,
        3,
    )
    assert result.window_audio_bytes == 95
    assert passed == []


def test_counts_packets_outside_the_window_but_not_their_bytes() -> None:
    result, _, received = _counted([math.inf, math.inf])
    received(_rtp(VIDEO_TYPE, 1, bytes(100), marker=True) + bytes(16), ("h", 1))
    assert (result.video_packets, result.window_video_bytes, result.window_frames) == (1, 0, 0)


def test_stun_and_dtls_go_on_to_aioice() -> None:
    result, passed, received = _counted([time.monotonic() - 1, math.inf])
    binding = bytes(stun.Message(stun.Method.BINDING, stun.Class.REQUEST))
    dtls = bytes([22, 0xFE, 0xFD]) + bytes(10)
    received(binding, ("h", 1))
    received(dtls, ("h", 1))
    assert passed == [binding, dtls]
    assert result == WHEPResult()


@pytest.mark.slow
def test_payload_types_are_h264_and_opus_alone() -> None:
    async def offer() -> str:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.addTransceiver("video", direction="recvonly")
        pc.addTransceiver("audio", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        await pc.close()
        return pc.localDescription.sdp

    sdp = asyncio.run(offer())
    video, audio = _payload_types(sdp)
    h264 = {
        int(line.split()[0].split(":")[1])
        for line in sdp.splitlines()
        if line.startswith("a=rtpmap:") and "H264/90000" in line
    }
    assert video == h264 and len(h264) >= 2
    assert audio == {
        int(line.split()[0].split(":")[1])
        for line in sdp.splitlines()
        if line.startswith("a=rtpmap:") and "opus/48000" in line
    }
