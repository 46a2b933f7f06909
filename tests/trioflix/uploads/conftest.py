"""``@pytest.mark.settings(field=value)`` changes the served instance's settings for one test."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from trioflix.config import Settings


@pytest.fixture
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    marker = request.node.get_closest_marker("settings")
    return settings.replace(**marker.kwargs) if marker is not None else settings
