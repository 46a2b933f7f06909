"""Which trioflix this is: the release (pyproject.toml's ``version``) and the commit,
from git when run from a source checkout, else as the package build recorded it."""

from __future__ import annotations

import functools
import subprocess
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _distribution_version
from pathlib import Path
from typing import Final

__all__ = ["VERSION", "describe", "source_commit"]


def _release() -> str:
    try:
        return _distribution_version("trioflix")
    except PackageNotFoundError:  # imported from a checkout that was never installed
        return "0+unknown"


VERSION: Final = _release()
_ROOT: Final = Path(__file__).resolve().parent.parent
# Written by the package build (setup.py) when it runs in a git checkout.
_RECORDED_COMMIT: Final = _ROOT / "trioflix" / "commit.txt"
_GIT_TIMEOUT_S: Final = 5.0  # a local `git describe` takes milliseconds; longer is stuck


@functools.cache
def source_commit() -> str | None:
    """``git describe`` of the checkout this package runs from or was built from.

    ``None`` when neither is known (built without git, or git fails): a version string
    never stops a start. Blocking (runs git once, then cached): call it first in a thread.
    """
    if not (_ROOT / ".git").exists():  # a directory, or a file in a worktree
        try:
            return _RECORDED_COMMIT.read_text().strip() or None
        except FileNotFoundError:
            return None
    try:
        done = subprocess.run(
            ["git", "-C", str(_ROOT), "describe", "--always", "--dirty", "--abbrev=12"],
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT_S,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def describe() -> str:
    """``0.1.0``, or ``0.1.0 (commit 16216ae4c0de)`` from a checkout. Blocking once."""
    commit = source_commit()
    return VERSION if commit is None else f"{VERSION} (commit {commit})"
