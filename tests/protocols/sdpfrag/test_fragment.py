"""trickle-ice-sdpfrag bodies (RFC 8840 9): read as a WHEP/WHIP server does, written as a
client does, and what is refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.sdpfrag import (
    MAX_CANDIDATES,
    Candidate,
    Fragment,
    SdpFragError,
    format_fragment,
    parse_fragment,
)

HOST = "1 1 UDP 2130706431 198.51.100.1 39132 typ host"
AUDIO = "audio 9 UDP/TLS/RTP/SAVPF 111"
VIDEO = "video 9 UDP/TLS/RTP/SAVPF 96"


def test_candidates_keep_the_section_they_came_in() -> None:
    body = (
        "a=ice-ufrag:EsAw\r\n"
        "a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\n"
        f"a=candidate:{HOST}\r\n"  # before any section
        f"m={AUDIO}\r\n"
        "a=mid:0\r\n"
        f"a=candidate:{HOST}\r\n"
        f"m={VIDEO}\r\n"
        f"a=candidate:{HOST}\r\n"  # its a=mid comes later: none yet
        "a=mid:1\r\n"
        "a=end-of-candidates\r\n"
        "\r\n"
    )
    assert parse_fragment(body) == Fragment(
        ufrag="EsAw",
        pwd="P2uYro0UCOQ4zxjKXaWCBui1",
        candidates=(
            Candidate(value=HOST),
            Candidate(value=HOST, mid="0", media=AUDIO),
            Candidate(value=HOST, media=VIDEO),
        ),
        end=True,
    )


def test_a_fragment_without_ice_lines_says_nothing() -> None:
    assert parse_fragment("c=IN IP4 0.0.0.0\na=sendrecv\n") == Fragment()


def test_a_whole_offer_reads_as_its_ice_lines() -> None:
    offer = (
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"
        f"m={AUDIO}\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=ice-ufrag:u\r\na=ice-pwd:p\r\n"
        f"a=candidate:{HOST}\r\na=rtpmap:111 opus/48000/2\r\n"
    )
    assert parse_fragment(offer) == Fragment(
        ufrag="u", pwd="p", candidates=(Candidate(value=HOST, mid="0", media=AUDIO),)
    )


def test_a_client_s_fragment_is_written_with_its_sections() -> None:
    fragment = Fragment(
        ufrag="EsAw",
        pwd="P2uYro0UCOQ4zxjKXaWCBui1",
        candidates=(
            Candidate(value=HOST, mid="0", media=AUDIO),
            Candidate(value=HOST, mid="0", media=AUDIO),
            Candidate(value=HOST, media=VIDEO),
            Candidate(value=HOST, mid="1", media=VIDEO),
        ),
        end=True,
    )
    assert format_fragment(fragment) == (
        "a=ice-ufrag:EsAw\r\n"
        "a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\n"
        f"m={AUDIO}\r\na=mid:0\r\na=candidate:{HOST}\r\na=candidate:{HOST}\r\n"
        f"m={VIDEO}\r\na=candidate:{HOST}\r\na=mid:1\r\na=candidate:{HOST}\r\n"
        "a=end-of-candidates\r\n"
    )
    assert format_fragment(Fragment()) == ""


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("hello", "not an SDP line: 'hello'"),  # no "="
        ("ab=c", "not an SDP line: 'ab=c'"),  # a type is one character
        ("=" + "x" * 100, "not an SDP line: '=" + "x" * 59 + "'"),  # shown cut
        (
            "\n".join([f"a=candidate:{HOST}"] * (MAX_CANDIDATES + 1)),
            f"more than {MAX_CANDIDATES} candidates in one fragment",
        ),
    ],
)
def test_what_is_no_fragment_is_refused(body: str, error: str) -> None:
    with pytest.raises(SdpFragError) as refused:
        parse_fragment(body)
    assert str(refused.value) == error


@pytest.mark.parametrize(
    "candidates",
    [
        # Once in a section, a candidate cannot be outside one, nor without a mid
        # that the section already has, but for another m= line.
        (Candidate(value=HOST, media=AUDIO), Candidate(value="2 1 UDP 1 192.0.2.1 9 typ host")),
        (Candidate(value=HOST, mid="0"), Candidate(value="2 1 UDP 1 192.0.2.1 9 typ host")),
    ],
)
def test_a_candidate_that_leaves_its_section_cannot_be_written(
    candidates: tuple[Candidate, ...],
) -> None:
    with pytest.raises(SdpFragError, match="has no section after one"):
        format_fragment(Fragment(candidates=candidates))


# --- properties -----------------------------------------------------------------------

# Values as SDP carries them: no line break, no white space at either end (lines are
# read stripped).
_WORD = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=8)
_VALUE = st.lists(_WORD, min_size=1, max_size=3).map(" ".join)


@st.composite
def _sections(draw: st.DrawFn) -> tuple[Candidate, ...]:
    """Candidates as a body can hold them: a session-level run, then sections, each
    a run whose mid may appear after its first candidates but never goes away."""
    candidates: list[Candidate] = []
    medias = [None, *draw(st.lists(_VALUE, max_size=3))]
    for media in medias:
        mid = None
        for _ in range(draw(st.integers(0, 3))):
            mid = draw(
                st.sampled_from([mid, draw(_VALUE)]) if mid is not None else st.none() | _VALUE
            )
            candidates.append(Candidate(value=draw(_VALUE), mid=mid, media=media))
    return tuple(candidates)


_FRAGMENTS = st.builds(
    Fragment,
    ufrag=st.none() | _VALUE,
    pwd=st.none() | _VALUE,
    candidates=_sections(),
    end=st.booleans(),
)


@given(_FRAGMENTS)
def test_a_written_fragment_reads_back_the_same(fragment: Fragment) -> None:
    body = format_fragment(fragment)
    assert parse_fragment(body) == fragment
    assert parse_fragment(body.replace("\r\n", "\n")) == fragment  # bare LF lines too


@given(_FRAGMENTS, st.data())
def test_a_line_that_is_no_sdp_line_is_refused_wherever_it_stands(
    fragment: Fragment, data: st.DataObject
) -> None:
    lines = format_fragment(fragment).splitlines()
    bad = data.draw(_VALUE.filter(lambda line: len(line.partition("=")[0]) != 1 or "=" not in line))
    lines.insert(data.draw(st.integers(0, len(lines))), bad)
    with pytest.raises(SdpFragError) as refused:
        parse_fragment("\r\n".join(lines))
    assert str(refused.value) == f"not an SDP line: {bad[:60]!r}"


@given(st.text())
def test_any_text_is_a_fragment_or_refused(text: str) -> None:
    try:
        fragment = parse_fragment(text)
    except SdpFragError:
        return
    assert len(fragment.candidates) <= MAX_CANDIDATES
