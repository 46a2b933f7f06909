"""FU-A fragments recut to one size: every unit's bytes kept in order, each fragment
as long as the longest was but the last, and what is no complete FU-A unit left as
it is."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from protocols.rtp_h264 import even_fragments

FU_INDICATOR = 0x7C  # NRI 3, type 28 (FU-A)
IDR = 5
STAP_A = b"\x78\x00\x02\x09\xf0\x00\x02\x68\xce"  # an AUD and a PPS


def _fragments(nal_type: int, data: bytes, sizes: list[int]) -> list[bytes]:
    """``data`` in FU-A fragments of ``sizes`` bytes (as a packetiser made them)."""
    fragments, offset = [], 0
    for index, size in enumerate(sizes):
        flags = (0x80 if index == 0 else 0) | (0x40 if index == len(sizes) - 1 else 0)
        fragments.append(bytes((FU_INDICATOR, nal_type | flags)) + data[offset : offset + size])
        offset += size
    return fragments


def _unit(fragments: list[bytes]) -> tuple[int, bytes]:
    """The NAL unit's type and bytes (less its header) that ``fragments`` carry."""
    return fragments[0][1] & 0x1F, b"".join(fragment[2:] for fragment in fragments)


def test_aiortcs_fragments_a_byte_apart_become_one_size_and_a_shorter_last() -> None:
    data = (bytes(range(256)) * 17)[:4350]
    uneven = _fragments(IDR, data, [1088, 1088, 1087, 1087])
    evened = even_fragments([STAP_A, *uneven, b"\x41p-slice"])
    assert [len(p) for p in evened] == [9, 1090, 1090, 1090, 1088, 8]
    assert evened[0] == STAP_A
    assert evened[-1] == b"\x41p-slice"
    assert [p[:2] for p in evened[1:5]] == [b"\x7c\x85", b"\x7c\x05", b"\x7c\x05", b"\x7c\x45"]
    assert _unit(evened[1:5]) == (IDR, data)


def test_fewer_fragments_when_the_longest_size_leaves_the_last_nothing() -> None:
    evened = even_fragments(_fragments(IDR, b"abcdefghi", [3, 2, 2, 2]))
    assert evened == [b"\x7c\x85abc", b"\x7c\x05def", b"\x7c\x45ghi"]


def test_fragments_of_a_unit_without_its_start_or_end_are_left_as_they_are() -> None:
    head = _fragments(IDR, b"abcdefg", [3, 2, 2])
    no_end, no_start = head[:2], head[1:]
    whole = _fragments(IDR, b"xyz", [1, 2])
    for payloads, expected in (
        (no_end, no_end),
        ([*no_end, STAP_A], [*no_end, STAP_A]),
        ([*no_end, *whole], [*no_end, b"\x7c\x85xy", b"\x7c\x45z"]),
        (no_start, no_start),
        ([b"\x7c\x05", b"\x7c"], [b"\x7c\x05", b"\x7c"]),  # too short to be fragments
    ):
        assert even_fragments(payloads) == expected


@given(
    st.lists(
        st.one_of(
            st.binary(min_size=1, max_size=40).map(lambda data: [b"\x01" + data]),
            st.tuples(
                st.integers(1, 23), st.binary(min_size=1, max_size=400), st.integers(1, 12)
            ).map(
                lambda unit: _fragments(
                    unit[0],
                    unit[1],
                    [
                        len(unit[1]) // min(unit[2], len(unit[1]))
                        + (index < len(unit[1]) % min(unit[2], len(unit[1])))
                        for index in range(min(unit[2], len(unit[1])))
                    ],
                )
            ),
        ),
        max_size=8,
    )
)
def test_every_unit_keeps_its_bytes_in_fragments_of_one_size_but_a_shorter_last(
    units: list[list[bytes]],
) -> None:
    evened = even_fragments([payload for unit in units for payload in unit])
    for unit in units:
        if len(unit[0]) > 2 and unit[0][0] & 0x1F == 28:
            size = max(map(len, unit))
            taken = [evened.pop(0)]
            while not taken[-1][1] & 0x40:
                taken.append(evened.pop(0))
            assert _unit(taken) == _unit(unit)
            assert len(taken) <= len(unit)
            assert {len(p) for p in taken[:-1]} <= {size}
            assert 2 < len(taken[-1]) <= size
            assert [bool(p[1] & 0x80) for p in taken] == [True] + [False] * (len(taken) - 1)
        else:
            assert evened.pop(0) == unit[0]
    assert evened == []
