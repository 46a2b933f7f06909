"""The repository stands on its own: every file it cites is in it.

Comments, docstrings and docs name modules and pages by path so that a reader can
open them. A path that no longer exists (a module moved, a design note that lives
elsewhere) sends the reader nowhere, so each one is checked here.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOP = ("trioflix", "protocols", "tests", "docs", "bench", "web", ".ci")
# A path inside the repository: a top-level folder, then folders and a file with an extension.
_TOPS = "|".join(re.escape(top) for top in TOP)
CITED_PATH = re.compile(
    rf"(?<![\w./-])((?:{_TOPS})/[\w./-]*\w\.(?:py|md|js|mjs|html|css|json|toml|sh|txt|bin))\b"
)
# ``bench/NAME.py`` in a usage line names no file.
PLACEHOLDER = re.compile(r"[A-Z]{3,}")
# Words that point at text a reader of the repository cannot open.
OUTSIDE = re.compile(
    r"DESIGN\.md|STYLE\.md|\bSTYLE §|\.\./shared/|\bthe issue\b|\bissue #?\d+", re.IGNORECASE
)


def _sources() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "noxfile.py", ROOT / "pyproject.toml", ROOT / "dev"]
    for top in TOP:
        for path in sorted((ROOT / top).rglob("*")):
            if (
                path.is_file()
                and path.suffix in {".py", ".md", ".js", ".mjs", ".html", ".css", ".toml"}
                and "node_modules" not in path.parts
            ):
                files.append(path)
    return files


SOURCES = _sources()


def test_sources_found() -> None:
    assert len(SOURCES) > 100


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_cited_paths_exist(path: Path) -> None:
    text = path.read_text(errors="replace")
    missing = sorted(
        {
            cited
            for cited in CITED_PATH.findall(text)
            if not (ROOT / cited).exists()
            and not (path.parent / cited).exists()
            and not PLACEHOLDER.search(Path(cited).stem)
        }
    )
    assert not missing, f"{path.relative_to(ROOT)} cites files not in the repository: {missing}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_cites_nothing_outside(path: Path) -> None:
    if path == Path(__file__):
        return
    hits = [
        f"{n}: {line.strip()}"
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert not hits, "\n".join(hits)


# A name in backquotes (a reST role or Markdown code) such as
# :class:`~trioflix.live.channel.stream.LiveStream` or ``protocols.rtmp.Connection``:
# a module, then perhaps attributes of it. (Logger names, file names and JavaScript
# objects that also start with "trioflix." are not written this way.)
DOTTED = re.compile(r"`~?((?:trioflix|protocols)(?:\.[A-Za-z_]\w*)+)`")


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            if not hasattr(target, attribute):
                return False
            target = getattr(target, attribute)
        return True
    return False


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_cited_names_exist(path: Path) -> None:
    text = path.read_text(errors="replace")
    missing = sorted({name for name in DOTTED.findall(text) if not _resolves(name)})
    assert not missing, f"{path.relative_to(ROOT)} names what does not exist: {missing}"
