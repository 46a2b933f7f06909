"""The layers: protocols/ is sans-IO, trioflix's layers and trioflix/live's groups import
one way, and the app's wiring imports at module level."""

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
LIVE_GROUPS = {
    "channel": set(),
    "rtmp": {"channel"},
    "hls": {"channel"},
    "recording": {"channel"},
    "edge": {"channel"},
    "webrtc": {"channel"},
}


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


# trioflix's layers, top to bottom (docs/architecture.md, "Layers"). A module may
# import its own unit and the layers below it, counting imports under
# TYPE_CHECKING too: a cycle that only the type checker sees is still a cycle.
# Units in one layer do not import each other, except in the bottom layer: the
# domain packages and the modules they share build on each other.
TRIOFLIX = ROOT / "trioflix"
DOMAIN = ("auth", "chat", "cluster", "jobs", "live", "media", "storage", "store", "uploads")
SHARED = (
    "allocator",
    "asyncio_loop",
    "config",
    "errors",
    "forwarded",
    "logs",
    "metrics",
    "web",
    "asgi_internals",
    "slim_imports",
    "version",
)
LAYERS = (
    ("__main__",),  # python -m trioflix
    ("cli", "asgi"),  # the entry points
    ("server",),  # `trioflix serve`
    ("direct",),  # its front door
    ("app",),  # the app factory
    ("api", "services"),  # the routes; the services they read
    # What routes read at run time; request accounting; the `trioflix upload` client
    # (which needs nothing of the server).
    ("state", "access", "client"),
    DOMAIN + SHARED,
)
RANK = {unit: rank for rank, layer in enumerate(LAYERS) for unit in layer}


def _unit(path: Path) -> str:
    """The unit a module of trioflix/ belongs to: its package or its own name."""
    first = path.relative_to(TRIOFLIX).parts[0]
    return first.removesuffix(".py")


def _trioflix_imports(path: Path) -> list[str]:
    """Every ``trioflix.…`` name ``path`` imports, relative imports resolved."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(filter(None, [base, node.module or ""]))
            if module == "trioflix":  # ``from trioflix import services``
                names += [f"{module}.{alias.name}" for alias in node.names]
            else:
                names.append(module)
    return [name for name in names if name.startswith("trioflix.")]


def _may_import(unit: str, target: str) -> bool:
    if target == unit or target not in RANK:
        return True
    if RANK[target] == RANK[unit]:
        return RANK[unit] == len(LAYERS) - 1
    return RANK[target] > RANK[unit]


@pytest.mark.parametrize("unit", sorted(RANK))
def test_layers_import_downwards(unit: str) -> None:
    paths = [TRIOFLIX / f"{unit}.py"] if (TRIOFLIX / f"{unit}.py").exists() else []
    paths += sorted((TRIOFLIX / unit).rglob("*.py"))
    assert paths, f"trioflix has no {unit}"
    bad = sorted(
        {
            f"{path.relative_to(ROOT)} imports {name}"
            for path in paths
            for name in _trioflix_imports(path)
            if not _may_import(unit, name.split(".")[1])
        }
    )
    assert not bad, "\n".join(bad)


def test_every_unit_has_a_layer() -> None:
    units = {_unit(p) for p in TRIOFLIX.iterdir() if p.name != "__pycache__"}
    assert units - {"__init__", "py.typed"} == set(RANK)


# The app's wiring imports at module level: an import inside a function is how a
# cycle between the app, its routes and its services hides.
WIRING = [TRIOFLIX / "app.py", TRIOFLIX / "services.py", *sorted((TRIOFLIX / "api").glob("*.py"))]


@pytest.mark.parametrize("path", WIRING, ids=lambda p: str(p.relative_to(ROOT)))
def test_wiring_imports_at_module_level(path: Path) -> None:
    bad = [
        f"{path.relative_to(ROOT)}:{inner.lineno} imports inside {node.name}()"
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for inner in ast.walk(node)
        if isinstance(inner, ast.Import | ast.ImportFrom)
    ]
    assert not bad, "\n".join(bad)
