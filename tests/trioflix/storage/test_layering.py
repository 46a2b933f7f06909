"""``trioflix/storage`` is a domain package: it imports no other part of trioflix.

Uploads, media processing and serving will all build on it, so it must not
depend on any of them (nor on the app, the config or the API).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

STORAGE = Path(__file__).resolve().parents[3] / "trioflix" / "storage"
MODULES = sorted(STORAGE.glob("*.py"))


def test_modules_found() -> None:
    assert len(MODULES) >= 5


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_imports_only_itself_from_trioflix(path: Path) -> None:
    imported = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            imported += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.append(node.module)
    outside = [
        name
        for name in imported
        if name.split(".")[0] == "trioflix" and not name.startswith("trioflix.storage")
    ]
    assert not outside, f"trioflix/storage/{path.name} imports {outside}"
