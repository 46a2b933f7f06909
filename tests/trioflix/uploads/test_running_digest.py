"""The running sha-256 of resumable uploads: stored at any piece's end, continued elsewhere,
always equal to ``hashlib``'s."""

from __future__ import annotations

import hashlib
import mmap
import os
import subprocess
import sys
from pathlib import Path

import pytest

import trioflix
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


def _in_a_fresh_interpreter(code: str) -> str:
    """Run ``code`` with this tree importable; its stdout."""
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(Path(trioflix.__file__).parent.parent)},
    )
    return done.stdout


def test_libcrypto_is_the_one_hashlib_links_where_find_library_finds_none() -> None:
    # As in a container without an ldconfig cache, or on musl.
    out = _in_a_fresh_interpreter(
        "import ctypes.util, hashlib\n"
        "ctypes.util.find_library = lambda name: None\n"
        "from trioflix.uploads.running_digest import RunningSha256, available\n"
        "running = RunningSha256()\n"
        "running.update(b'abc')\n"
        "print(available(), running.digest() == hashlib.sha256(b'abc').digest())\n"
    )
    assert out.split() == ["True", "True"]


def test_without_any_libcrypto_the_module_imports_and_says_why_when_used() -> None:
    out = _in_a_fresh_interpreter(
        "import ctypes.util, sys\n"
        "ctypes.util.find_library = lambda name: None\n"
        "sys.modules['_hashlib'] = None  # a Python built without OpenSSL\n"
        "import trioflix.uploads.resumable_handler\n"
        "from trioflix.uploads.running_digest import DigestUnavailable, RunningSha256, available\n"
        "print(available())\n"
        "try:\n"
        "    RunningSha256()\n"
        "except DigestUnavailable as exc:\n"
        "    print(exc)\n"
    )
    verdict, reason = out.split("\n", 1)
    assert verdict == "False"
    assert "libcrypto" in reason and "SHA256_Init" in reason
