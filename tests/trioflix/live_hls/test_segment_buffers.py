"""The buffers of finished LL-HLS segments: one per segment, reused only when no view of
it is left (an answer still being sent keeps its bytes), a bounded number spare."""

from __future__ import annotations

import pytest

from trioflix.live.hls.segment_buffers import SPARE_BUFFERS, SegmentBuffers


def test_chunks_are_copied_into_one_read_only_view() -> None:
    buffers = SegmentBuffers()
    buffer, view = buffers.fill([b"moof", memoryview(b"mdat"), b"", b"xyz"])
    assert view.tobytes() == b"moofmdatxyz" and len(buffer) == 11
    with pytest.raises(TypeError):
        view[0:1] = b"M"  # read-only: what is served cannot change under an answer


def test_a_buffer_is_reused_once_no_view_of_it_is_left_and_grown_if_too_small() -> None:
    buffers = SegmentBuffers()
    buffer, view = buffers.fill([b"a" * 10])
    assert not buffers.give_back(buffer)  # a view is alive: it is not reused
    del view
    assert buffers.give_back(buffer) and buffers.spare == 1
    again, view = buffers.fill([b"b" * 4])
    assert again is buffer and view.tobytes() == b"bbbb" and buffers.spare == 0
    del view
    assert buffers.give_back(again)
    grown, view = buffers.fill([b"c" * 3, b"d" * 30])  # the first fits in place
    assert grown is buffer and view.tobytes() == b"c" * 3 + b"d" * 30


def test_spare_buffers_are_bounded() -> None:
    buffers = SegmentBuffers()
    filled = [buffers.fill([b"x"])[0] for _ in range(SPARE_BUFFERS + 1)]
    assert [buffers.give_back(b) for b in filled] == [True] * SPARE_BUFFERS + [False]
    fresh = SegmentBuffers()
    empty = fresh.fill([])[0]  # nothing to reuse it for
    assert len(empty) == 0 and not fresh.give_back(empty) and fresh.spare == 0
