"""The running sha-256 of resumable uploads: stored at any piece's end, continued elsewhere,
always equal to ``hashlib``'s."""

from __future__ import annotations

import hashlib
import mmap
import os

import pytest

from trioflix.uploads.running_digest import MAX_MARKS, RunningSha256


@pytest.mark.parametrize("cut", [0, 1, 63, 64, 65, 1000, 4096])
def test_a_stored_state_continues_to_the_same_digest(cut: int) -> None:
    data = os.urandom(5000)
    first = RunningSha256()
    first.update(data[:cut])
    stored = first.state()
    assert first.offset == cut and first.digest() == hashlib.sha256(data[:cut]).digest()
    second = RunningSha256(stored)  # another request, process or host
    assert second.offset == cut
    second.update(memoryview(data)[cut:])  # a read-only view, as write_all gives
    assert second.digest() == hashlib.sha256(data).digest()


def test_the_state_at_a_piece_end_is_kept_until_a_later_one_is_asked_for() -> None:
    data = os.urandom(3000)
    running = RunningSha256()
    buffer = mmap.mmap(-1, len(data))  # a writable buffer, as a part's is
    buffer[:] = data
    for start in range(0, 3000, 1000):
        running.update(memoryview(buffer)[start : start + 1000])
    assert running.state_at(1500) is None  # not where a piece ended
    at_2000 = running.state_at(2000)
    assert at_2000 is not None
    assert running.state_at(1000) is None  # forgotten: commits only move forward
    resumed = RunningSha256(at_2000)
    resumed.update(data[2000:])
    assert resumed.digest() == hashlib.sha256(data).digest()


def test_the_states_kept_are_bounded() -> None:
    running = RunningSha256()
    for _ in range(MAX_MARKS + 10):
        running.update(b"x")
    assert running.state_at(5) is None
    assert running.state_at(MAX_MARKS + 10) is not None


@pytest.mark.parametrize(
    "state",
    [b"short", RunningSha256().state() + b"x", RunningSha256().state() + bytes(64)],
)
def test_a_state_that_was_not_stored_is_refused(state: bytes) -> None:
    with pytest.raises(ValueError, match="stored sha-256 state"):
        RunningSha256(state)
