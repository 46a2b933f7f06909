"""Handshake: plain and Flash-9 digest forms, both roles.

The digest arithmetic here is written independently of protocols/rtmp/_handshake.py
from the published description (see that module's docstring).
"""

from __future__ import annotations

import hashlib
import hmac
import re

import pytest

from protocols import rtmp

from .helpers import ConnectionPair, get_all_events, seeded_random

TAIL = bytes.fromhex("f0eec24a8068bee82e00d0d1029e7e576eec5d2d29806fab93b8e636cfeb31ae")
FP_KEY = b"Genuine Adobe Flash Player 001" + TAIL
FMS_KEY = b"Genuine Adobe Flash Media Server 001" + TAIL


def digest_offset(block: bytes, scheme: int) -> int:
    base = 772 if scheme == 0 else 8
    return (block[base] + block[base + 1] + block[base + 2] + block[base + 3]) % 728 + base + 4


def sign(block: bytes, offset: int, key: bytes) -> bytes:
    return hmac.new(key, block[:offset] + block[offset + 32 :], hashlib.sha256).digest()


def digested_c1(scheme: int) -> tuple[bytes, bytes]:
    c1 = bytearray(b"\x00\x00\x00\x00\x80\x00\x07\x02" + bytes(range(256)) * 6)[:1536]
    offset = digest_offset(bytes(c1), scheme)
    digest = sign(bytes(c1), offset, FP_KEY[:30])
    c1[offset : offset + 32] = digest
    return bytes(c1), digest


def server() -> rtmp.Connection:
    return rtmp.Connection(rtmp.SERVER, random_bytes=seeded_random(7))


@pytest.mark.parametrize("scheme", [0, 1])
def test_server_answers_digest_c1_with_digested_s1_and_signed_s2(scheme: int) -> None:
    c1, client_digest = digested_c1(scheme)
    conn = server()
    conn.receive_data(b"\x03" + c1)
    assert conn.next_event() is rtmp.NEED_DATA
    reply = conn.data_to_send()
    assert len(reply) == 1 + 1536 + 1536
    assert reply[0] == 3
    s1, s2 = reply[1:1537], reply[1537:]
    assert s1[4:8] != bytes(4)  # a server version: the client may verify the digest
    offset = digest_offset(s1, scheme)
    assert s1[offset : offset + 32] == sign(s1, offset, FMS_KEY[:36])
    key = hmac.new(FMS_KEY, client_digest, hashlib.sha256).digest()
    assert s2[1504:] == hmac.new(key, s2[:1504], hashlib.sha256).digest()
    conn.receive_data(bytes(1536))  # C2: not checked, as FMS and nginx-rtmp do
    assert get_all_events(conn) == [rtmp.HandshakeComplete(digest=True)]
    assert conn.state is rtmp.State.AWAITING_CONNECT


@pytest.mark.parametrize("version", [bytes(4), b"\x80\x00\x07\x02"])
def test_server_echoes_c1_when_there_is_no_valid_digest(version: bytes) -> None:
    c1 = bytes(4) + version + bytes(range(256)) * 6
    c1 = c1[:1536]
    conn = server()
    conn.receive_data(b"\x03" + c1[:100])
    assert conn.next_event() is rtmp.NEED_DATA
    assert conn.data_to_send() == b""
    conn.receive_data(c1[100:] + c1)  # C2 in the same segment
    assert get_all_events(conn) == [rtmp.HandshakeComplete(digest=False)]
    reply = conn.data_to_send()
    assert reply[1:9] == bytes(8)  # plain S1: time 0, zero version
    assert reply[1537:] == c1  # S2 echoes C1


@pytest.mark.parametrize(
    ("first_byte", "message"),
    [
        (b"G", "unsupported RTMP version 71 in C0 (looks like HTTP)"),
        (b"\x06", "unsupported RTMP version 6 in C0"),
    ],
)
def test_server_rejects_other_versions_at_once(first_byte: bytes, message: str) -> None:
    conn = server()
    conn.receive_data(first_byte)
    with pytest.raises(rtmp.RemoteProtocolError, match=re.escape(message)) as info:
        conn.next_event()
    assert info.value.status_hint is None
    assert conn.state is rtmp.State.ERROR
    with pytest.raises(rtmp.RemoteProtocolError, match="already violated"):
        conn.next_event()


@pytest.mark.parametrize("digest", [True, False])
def test_pair_handshake(digest: bool) -> None:
    pair = ConnectionPair(digest=digest)
    server_events, client_events = pair.transfer()
    assert server_events == client_events == [rtmp.HandshakeComplete(digest=digest)]
    if not digest:
        s1 = pair.server_to_client[1:1537]
        assert pair.client_to_server[1537 : 1537 + 1536] == s1  # C2 echoes S1


def test_client_c1_digest_is_scheme_1_with_flash_player_key() -> None:
    client = rtmp.Connection(rtmp.CLIENT, random_bytes=seeded_random(3))
    c0c1 = client.data_to_send()
    assert c0c1[0] == 3
    c1 = c0c1[1:]
    assert c1[4:8] == bytes((9, 0, 124, 2))
    offset = digest_offset(c1, 1)
    assert c1[offset : offset + 32] == sign(c1, offset, FP_KEY[:30])


def test_client_rejects_s2_that_does_not_sign_its_digest() -> None:
    client = rtmp.Connection(rtmp.CLIENT, random_bytes=seeded_random(3))
    c1 = client.data_to_send()[1:]
    srv = server()
    srv.receive_data(b"\x03" + c1)
    srv.next_event()
    reply = bytearray(srv.data_to_send())
    reply[-1] ^= 0xFF
    client.receive_data(bytes(reply))
    with pytest.raises(rtmp.RemoteProtocolError, match="S2 does not sign our C1 digest"):
        client.next_event()


def test_client_falls_back_to_echo_for_server_without_digest() -> None:
    client = rtmp.Connection(rtmp.CLIENT, random_bytes=seeded_random(3))
    client.data_to_send()
    s1 = bytes(4) + b"\x01\x02\x03\x04" + bytes(1528)  # a version, but no valid digest
    client.receive_data(b"\x03" + s1 + bytes(1536))
    assert get_all_events(client) == [rtmp.HandshakeComplete(digest=False)]
    assert client.data_to_send() == s1


def test_client_rejects_bad_s0() -> None:
    client = rtmp.Connection(rtmp.CLIENT, random_bytes=seeded_random(3))
    client.receive_data(b"\x05" + bytes(3072))
    with pytest.raises(rtmp.RemoteProtocolError, match="unsupported RTMP version 5 in S0"):
        client.next_event()


def test_eof_mid_handshake_is_an_error() -> None:
    conn = server()
    conn.receive_data(b"\x03" + bytes(10))
    conn.receive_data(b"")
    with pytest.raises(rtmp.RemoteProtocolError, match="11 bytes of an incomplete"):
        conn.next_event()


def test_handshake_is_deterministic_with_injected_randomness() -> None:
    a, b = ConnectionPair(), ConnectionPair()
    a.transfer()
    b.transfer()
    assert a.server_to_client == b.server_to_client
    assert a.client_to_server == b.client_to_server
