"""Which stored chunks make a recording: key order, and a superseded origin's stale tail."""

from __future__ import annotations

from trioflix.live.recording.chunks import (
    Chunk,
    chunk_key,
    parse_chunks,
    recording_prefix,
    recording_source,
)
from trioflix.storage import ObjectInfo


def _info(key: str, size: int = 100) -> ObjectInfo:
    return ObjectInfo(key=key, size=size, etag="e")


def _chunk(writer: int, n: int, first_ms: int, last_ms: int) -> Chunk:
    return Chunk(
        key=chunk_key(7, writer, n, first_ms, last_ms),
        writer=writer,
        n=n,
        first_ms=first_ms,
        last_ms=last_ms,
        size=100,
    )


def test_keys_sort_by_writer_then_number() -> None:
    assert chunk_key(7, 1, 2, 3, 40) == "recordings/7/000001-000002-000000000003-000000000040.flv"
    keys = [
        chunk_key(7, 1, 0, 9000, 9500),
        chunk_key(7, 0, 10, 4000, 8000),
        chunk_key(7, 0, 9, 0, 3999),
    ]
    chunks = parse_chunks(7, [_info(key) for key in keys])
    assert [(c.writer, c.n, c.first_ms, c.last_ms) for c in chunks] == [
        (0, 9, 0, 3999),
        (0, 10, 4000, 8000),
        (1, 0, 9000, 9500),
    ]


def test_other_objects_under_the_prefix_are_not_chunks() -> None:
    objects = [
        _info(recording_prefix(7) + "notes.txt"),
        _info(recording_prefix(7) + "1-2-3-4.flv"),
        _info(chunk_key(70, 0, 0, 0, 10)),  # another session that shares the digits
        _info(chunk_key(7, 0, 0, 0, 10), size=123),
    ]
    assert parse_chunks(7, objects) == [
        Chunk(key=chunk_key(7, 0, 0, 0, 10), writer=0, n=0, first_ms=0, last_ms=10, size=123)
    ]


def test_a_continued_session_is_all_its_chunks_in_order() -> None:
    chunks = [_chunk(0, 0, 0, 3990), _chunk(0, 1, 4000, 7990), _chunk(1, 0, 8023, 12000)]
    assert recording_source(chunks) == (chunks, [])


def test_a_superseded_origins_late_chunks_are_left_out() -> None:
    """Writer 0 stored a chunk after writer 1 had started from the end of chunk 0."""
    early, late = _chunk(0, 0, 0, 3990), _chunk(0, 1, 4000, 7990)
    successor = [_chunk(1, 0, 4023, 8000), _chunk(1, 1, 8010, 12000)]
    assert recording_source([early, late, *successor]) == ([early, *successor], [late])


def test_two_writers_that_both_started_the_recording_keep_the_later() -> None:
    """Writer 1 found nothing stored (writer 0's first chunk came late): both begin at 0."""
    first = [_chunk(0, 0, 0, 3990), _chunk(0, 1, 4000, 7990)]
    second = [_chunk(1, 0, 0, 4000)]
    assert recording_source([*first, *second]) == (second, list(reversed(first)))
