"""The layers: protocols/ is sans-IO, and trioflix/live's groups import one way."""

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


# trioflix/live is grouped by what each part does; the groups may import the channel
# core, and the channel core none of them, nor may one output import another.
LIVE = ROOT / "trioflix" / "live"
LIVE_GROUPS = {"channel": set(), "rtmp": {"channel"}, "hls": {"channel"}, "recording": {"channel"}}


@pytest.mark.parametrize("group", sorted(LIVE_GROUPS))
def test_live_groups_import_one_way(group: str) -> None:
    allowed = LIVE_GROUPS[group] | {group}
    bad = []
    for path in sorted((LIVE / group).rglob("*.py")):
        for name in _imports(path):
            parts = name.split(".")
            if parts[:2] == ["trioflix", "live"] and len(parts) > 2 and parts[2] not in allowed:
                bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not bad, "\n".join(bad)


def test_live_has_only_groups() -> None:
    modules = {p.name for p in LIVE.glob("*.py")}
    assert modules == {"__init__.py"}, f"modules outside a group in trioflix/live: {modules}"
    assert {p.name for p in LIVE.iterdir() if p.is_dir() and p.name != "__pycache__"} == set(
        LIVE_GROUPS
    )
