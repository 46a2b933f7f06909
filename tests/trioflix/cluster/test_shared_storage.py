"""Hosts that see the same data directory agree on its id; other directories have their own."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from trioflix.cluster.shared_storage import STORAGE_ID_FILE, storage_id

if TYPE_CHECKING:
    from pathlib import Path


def test_the_same_directory_gives_the_same_id_and_another_its_own(tmp_path: Path) -> None:
    shared = storage_id(tmp_path / "shared")
    assert shared.startswith("data-dir:")
    assert storage_id(tmp_path / "shared") == shared  # a second host, or a restart
    assert storage_id(tmp_path / "local") != shared
    assert sorted(p.name for p in (tmp_path / "shared").iterdir()) == [STORAGE_ID_FILE]


def test_hosts_starting_together_agree(tmp_path: Path) -> None:
    with ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(lambda _: storage_id(tmp_path / "shared"), range(32)))
    assert len(ids) == 1
    assert sorted(p.name for p in (tmp_path / "shared").iterdir()) == [STORAGE_ID_FILE]
