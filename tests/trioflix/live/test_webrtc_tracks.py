"""A WHEP viewer's H.264 RTP payloads: the NAL units a WebRTC decoder needs, a frame
of two slices in at most two runs of one size (a system call each per viewer), nothing sent
on its own that only a decoder's bookkeeping would read."""

from __future__ import annotations

import struct

from trioflix.live.webrtc.tracks import h264_payloads
from trioflix.live.webrtc.udp_gso import runs

START = b"\x00\x00\x00\x01"
AUD = b"\x09\xf0"
SEI = b"\x06\x01\x02\x01\x40\x80"  # picture timing, as x264 writes it
SPS = b"\x67\x42\xc0\x1e\xda\x02\x80\xbf\xe5\x84"
PPS = b"\x68\xce\x3c\x80"
STAP_A, FU_A = 24, 28  # RFC 6184 5.7.1, 5.8


def _annex_b(*nal_units: bytes) -> bytes:
    return b"".join(START + unit for unit in nal_units)


def _stap_a_types(payload: bytes) -> list[int]:
    types, at = [], 1
    while at < len(payload):
        (size,) = struct.unpack_from("!H", payload, at)
        types.append(payload[at + 2] & 0x1F)
        at += 2 + size
    return types


def test_a_frame_leaves_out_the_delimiter_and_sei_and_its_slices_go_in_two_runs() -> None:
    slices = [b"\x41" + bytes([n]) * size for n, size in ((1, 4000), (2, 3001))]
    payloads = h264_payloads(_annex_b(AUD, SEI, *slices))
    assert {payload[0] & 0x1F for payload in payloads} == {FU_A}
    # The slices' bytes, in order, and nothing else.
    assert b"".join(p[2:] for p in payloads) == b"".join(s[1:] for s in slices)
    # Runs of one size, no lone datagram: at most a system call per slice.
    assert 1 <= len(list(runs(payloads))) <= 2
    assert all(len(run) > 1 for run in runs(payloads))


def test_a_keyframe_keeps_its_parameter_sets_before_the_picture() -> None:
    idr = b"\x65" + b"i" * 500
    (payload,) = h264_payloads(_annex_b(AUD, SPS, PPS, SEI, idr))
    assert payload[0] & 0x1F == STAP_A
    assert _stap_a_types(payload) == [7, 8, 5]
