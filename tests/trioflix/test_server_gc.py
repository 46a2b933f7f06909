"""``trioflix serve``'s garbage-collector policy (docs/benchmarks.md, "Chat")."""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING

import pytest

from trioflix.server import GC_YOUNG_THRESHOLD, tune_gc

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def restore_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restore_gc")
def test_tune_gc_freezes_the_start_up_heap_and_raises_the_young_threshold() -> None:
    _, older, oldest = gc.get_threshold()
    tune_gc()
    assert gc.get_freeze_count() > 1000  # the imported modules, at least
    assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, older, oldest)
