"""Fixtures of the upload tests."""

from __future__ import annotations

import shutil

import pytest

from .helpers import JS_DIR


@pytest.fixture
def node() -> str:
    """The ``node`` binary, with tus-js-client installed for ``tests/js/tus_upload.mjs``."""
    found = shutil.which("node")
    if found is None:
        pytest.skip("node not found (Node.js 18 or newer)")
    if not (JS_DIR / "node_modules" / "tus-js-client" / "package.json").exists():
        pytest.skip("tus-js-client is not installed: npm ci --prefix tests/js (./dev test does)")
    return found
