"""Box framing: sizes, nesting and full-box headers, read back by the tests' own reader."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols import fmp4

from .helpers import CONTAINERS, Box, full, parse_boxes

box_types = st.binary(min_size=4, max_size=4)
# The reader descends into container types; leaves get any four-byte type but those.
leaf_types = box_types.filter(lambda t: t not in CONTAINERS)
leaves = st.builds(Box, leaf_types, st.binary(max_size=64))


def _nest(children: st.SearchStrategy[list[Box]]) -> st.SearchStrategy[Box]:
    return st.builds(lambda t, c: Box(t, b"", c), st.sampled_from(sorted(CONTAINERS)), children)


trees = st.recursive(leaves, lambda inner: _nest(st.lists(inner, max_size=4)), max_leaves=8)


def _encode(box: Box) -> bytes:
    if box.children:
        return fmp4.encode_box(box.type, *(_encode(c) for c in box.children))
    return fmp4.encode_box(box.type, box.payload)


def _shape(box: Box) -> Box:
    # The reader keeps a container's raw payload beside its children: compare the tree.
    return Box(box.type, b"" if box.children else box.payload, [_shape(c) for c in box.children])


@given(leaf_types, st.lists(st.binary(max_size=40), max_size=5))
def test_size_field_counts_header_and_every_payload_part(
    box_type: bytes, parts: list[bytes]
) -> None:
    data = fmp4.encode_box(box_type, *parts)
    assert int.from_bytes(data[:4], "big") == len(data) == 8 + sum(map(len, parts))
    assert data[4:8] == box_type
    assert data[8:] == b"".join(parts)


@given(st.lists(trees, min_size=1, max_size=4))
def test_nested_boxes_read_back_as_written(boxes: list[Box]) -> None:
    data = b"".join(_encode(b) for b in boxes)
    assert [_shape(b) for b in parse_boxes(data)] == [_shape(b) for b in boxes]


@given(leaf_types, st.integers(0, 255), st.integers(0, 0xFFFFFF), st.binary(max_size=40))
def test_full_box_header_round_trips(
    box_type: bytes, version: int, flags: int, body: bytes
) -> None:
    (box,) = parse_boxes(fmp4.encode_full_box(box_type, version, flags, body))
    assert box.type == box_type
    assert full(box) == (version, flags, body)


@pytest.mark.parametrize("box_type", [b"", b"moo", b"mooov"])
def test_box_type_must_be_four_bytes(box_type: bytes) -> None:
    with pytest.raises(fmp4.FMP4Error, match="is not four bytes"):
        fmp4.encode_box(box_type)


@pytest.mark.parametrize(("version", "flags"), [(-1, 0), (256, 0), (0, -1), (0, 1 << 24)])
def test_full_box_version_and_flags_are_bounded(version: int, flags: int) -> None:
    with pytest.raises(fmp4.FMP4Error, match="out of range"):
        fmp4.encode_full_box(b"tfhd", version, flags)
