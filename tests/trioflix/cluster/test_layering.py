"""trioflix.cluster is a domain package: the application wires it in, it never reaches up."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.test_architecture import ROOT, _imports

if TYPE_CHECKING:
    from pathlib import Path

CLUSTER = ROOT / "trioflix" / "cluster"
# What a domain package may build on: itself, storage and authentication.
ALLOWED = {"cluster", "store", "auth"}
FILES = sorted(CLUSTER.rglob("*.py"))


def test_modules_found() -> None:
    assert len(FILES) >= 8


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_imports_nothing_above_the_domain_packages(path: Path) -> None:
    bad = []
    for name in _imports(path):
        parts = name.split(".")
        if parts[0] == "trioflix" and (len(parts) < 2 or parts[1] not in ALLOWED):
            bad.append(name)
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}"
