"""The live ladder and the HLS session meet only through narrow interfaces.

``transcoder.py`` (the ladder) and ``writer.py`` (the session) share the rendition
type of ``rendition.py`` and neither imports the other, not even for type checking.
The ladder reaches its session only through the host it is given, never through a
``.session`` attribute. The hub, which wires the two, imports at module level.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = "trioflix.live.hls"
HLS = ROOT.joinpath(*PACKAGE.split("."))


def _tree(module: str) -> ast.Module:
    path = HLS / f"{module}.py"
    return ast.parse(path.read_text(), str(path))


def _imported(tree: ast.AST) -> set[str]:
    """Every dotted name an import in ``tree`` binds, relative imports resolved: both
    ``from a import b`` and ``import a.b`` give ``a.b``, so a module imported from its
    package counts as imported."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = PACKAGE.rsplit(".", node.level - 1)[0]
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            names.add(module)
            names |= {f"{module}.{alias.name}" for alias in node.names}
    return names


@pytest.mark.parametrize(
    ("importer", "imported"), [("transcoder", "writer"), ("writer", "transcoder")]
)
def test_ladder_and_session_do_not_import_each_other(importer: str, imported: str) -> None:
    target = f"{PACKAGE}.{imported}"
    found = {n for n in _imported(_tree(importer)) if n == target or n.startswith(f"{target}.")}
    assert not found, f"{importer}.py imports {sorted(found)}"


def test_the_rendition_type_is_shared_from_its_own_module() -> None:
    rendition = f"{PACKAGE}.rendition.Rendition"
    for module in ("transcoder", "writer"):
        tree = _tree(module)
        assert rendition in _imported(tree), f"{module}.py does not use {rendition}"
        classes = {node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)}
        assert "Rendition" not in classes, f"{module}.py defines its own Rendition"


def test_the_ladder_never_reaches_for_a_session_attribute() -> None:
    lines = [
        node.lineno
        for node in ast.walk(_tree("transcoder"))
        if isinstance(node, ast.Attribute) and node.attr == "session"
    ]
    assert not lines, f"transcoder.py uses .session on lines {lines}"


@pytest.mark.parametrize("module", ["hub", "transcoder", "writer"])
def test_imports_are_at_module_level(module: str) -> None:
    late = [
        f"{function.name} (line {node.lineno})"
        for function in ast.walk(_tree(module))
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
        for node in ast.walk(function)
        if isinstance(node, ast.Import | ast.ImportFrom)
    ]
    assert not late, f"{module}.py imports inside {late}"
