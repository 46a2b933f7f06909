"""Reading trickle-ice-sdpfrag bodies (RFC 8840): the WHEP/WHIP PATCH of trickle ICE."""

from __future__ import annotations

import pytest

from trioflix.live.webrtc.sessions import SessionRefused
from trioflix.live.webrtc.trickle import MAX_CANDIDATES, Fragment, parse_fragment

HOST = "candidate:1 1 UDP 2130706431 198.51.100.1 39132 typ host"


def test_candidates_keep_the_mid_of_their_media_section() -> None:
    body = (
        "a=ice-ufrag:EsAw\r\n"
        "a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\n"
        f"a={HOST}\r\n"  # before any section: no mid
        "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
        "a=mid:0\r\n"
        f"a={HOST}\r\n"
        "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
        f"a={HOST}\r\n"  # its a=mid comes later: none yet
        "a=mid:1\r\n"
        "a=end-of-candidates\r\n"
        "\r\n"
    )
    assert parse_fragment(body) == Fragment(
        ufrag="EsAw",
        pwd="P2uYro0UCOQ4zxjKXaWCBui1",
        candidates=((None, HOST), ("0", HOST), (None, HOST)),
        end=True,
    )


def test_a_fragment_without_ice_lines_says_nothing() -> None:
    assert parse_fragment("c=IN IP4 0.0.0.0\na=sendrecv\n") == Fragment(None, None, (), False)


@pytest.mark.parametrize(
    "body",
    [
        "hello",  # no "="
        "ab=c",  # a type is one letter
        "\n".join([f"a={HOST}"] * (MAX_CANDIDATES + 1)),
    ],
)
def test_what_is_no_fragment_is_refused_with_400(body: str) -> None:
    with pytest.raises(SessionRefused) as refused:
        parse_fragment(body)
    assert (refused.value.status, refused.value.code) == (400, "bad_sdpfrag")
