"""protocols/ is sans-IO: it never imports I/O, concurrency, clocks or the application."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {
    "trio",
    "anyio",
    "asyncio",
    "socket",
    "ssl",
    "threading",
    "time",
    "selectors",
    "subprocess",
    "logging",
    "trioflix",
    "quart",
    "hypercorn",
    "httpx",
    "asyncpg",
}
FILES = sorted((ROOT / "protocols").rglob("*.py"))


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _calls_open(path: Path) -> bool:
    return any(
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "open"
        for node in ast.walk(ast.parse(path.read_text()))
    )


def test_protocols_exist() -> None:
    assert FILES, "protocols/ has no modules"


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_io_imports(path: Path) -> None:
    bad = [name for name in _imports(path) if name.split(".")[0] in FORBIDDEN]
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}"
    assert not _calls_open(path), f"{path.relative_to(ROOT)} opens files"
