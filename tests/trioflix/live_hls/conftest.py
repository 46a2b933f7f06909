"""Live HLS tests: SQLite only (HLS does not touch the database beyond the registry's
sessions, which are tested against both backends elsewhere); ``@pytest.mark.settings``
changes the served instance's settings for one test."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from trioflix.config import Settings


@pytest.fixture
def backend() -> str:
    return "sqlite"


@pytest.fixture
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    # Tests publish small sources: a cheap ladder keeps them well inside real time.
    settings = settings.replace(hls_ladder="off", hls_preset="ultrafast", reconnect_grace=10.0)
    marker = request.node.get_closest_marker("settings")
    return settings.replace(**marker.kwargs) if marker is not None else settings
