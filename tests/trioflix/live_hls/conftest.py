"""Live HLS tests: SQLite only (HLS does not touch the database beyond the registry's
sessions, which are tested against both backends elsewhere)."""

from __future__ import annotations

import pytest


@pytest.fixture
def backend() -> str:
    return "sqlite"
